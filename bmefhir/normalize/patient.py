"""Patient → PatientInfo."""

from __future__ import annotations

from typing import cast

from bmefhir.normalize.context import Context
from bmefhir.normalize.fhirjson import JSON, objs, string
from bmefhir.record import PatientInfo, Sex

SEXES = frozenset({"male", "female", "other", "unknown"})


def _display_name(res: JSON) -> str | None:
    names = objs(res, "name")
    official = [n for n in names if n.get("use") == "official"] or names
    for name in official:
        if (text := string(name, "text")) is not None:
            return text
        given = [g for g in name.get("given", []) if isinstance(g, str)] if isinstance(name.get("given"), list) else []
        parts = [*given, *([f] if (f := string(name, "family")) else [])]
        if parts:
            return " ".join(parts)
    return None


def read_patient(ctx: Context, ref: str, res: JSON) -> PatientInfo:
    birth = ctx.date(ref, "Patient.birthDate", res.get("birthDate"))
    if "birthDate" not in res:
        ctx.note("warning", "incomplete", ref, "Patient.birthDate", "no birth date; age unknown")
    gender = string(res, "gender")
    sex: Sex | None = cast(Sex, gender) if gender in SEXES else None
    if gender is not None and sex is None:
        ctx.note("warning", "code-invalid", ref, "Patient.gender", "administrative gender not recognised; sex unknown")
    return PatientInfo(ref, birth, sex, _display_name(res))
