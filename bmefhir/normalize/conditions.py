"""Condition → ConditionEntry; a Procedure whose result is a lasting risk factor (splenectomy) → ConditionEntry."""

from __future__ import annotations

from datetime import date

from bmefhir import terminology
from bmefhir.normalize.context import Context
from bmefhir.normalize.fhirjson import JSON, codings, obj, objs, texts
from bmefhir.normalize.sites import read_site
from bmefhir.normalize.text import negated_text_reason
from bmefhir.record import ConditionEntry, Site

CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ACTIVE = frozenset({"active", "recurrence", "relapse"})
INACTIVE = frozenset({"inactive", "remission", "resolved"})
IGNORED_VERIFICATION = frozenset({"refuted", "entered-in-error"})


def _status(cc: JSON | None) -> str | None:
    return next((c.code for c in codings(cc) if c.code), None)


def _when(ctx: Context, ref: str, res: JSON, prefix: str, period_key: str) -> date | None:
    if f"{prefix}DateTime" in res:
        return ctx.date(ref, f"Condition.{prefix}DateTime", res.get(f"{prefix}DateTime"))
    if (period := obj(res, f"{prefix}Period")) is not None:
        return ctx.date(ref, f"Condition.{prefix}Period.{period_key}", period.get(period_key))
    if f"{prefix}String" in res or f"{prefix}Age" in res or f"{prefix}Range" in res:
        ctx.note("information", "value", ref, f"Condition.{prefix}[x]", f"{prefix} given without a date; date unknown")
    return None


def read_condition(ctx: Context, ref: str, res: JSON) -> ConditionEntry | None:
    verification = _status(obj(res, "verificationStatus"))
    if verification in IGNORED_VERIFICATION:
        ctx.note(
            "information",
            "informational",
            ref,
            "Condition.verificationStatus",
            f"verification status {verification}; ignored",
        )
        return None
    code = obj(res, "code")
    mapping = next(
        (m for c in codings(code) if (m := terminology.concept_for(c.system, c.code, "condition")) is not None), None
    )
    if mapping is None:
        mapping = next(
            (m for t in texts(code) if (m := terminology.concept_for_text(t, "condition")) is not None), None
        )
        if mapping is None:
            reason = negated_text_reason(code, ("condition",)) or "condition not recognised; not used"
            ctx.note("information", "code-invalid", ref, "Condition.code", reason)
            return None
        ctx.note(
            "information",
            "code-invalid",
            ref,
            "Condition.code",
            f"code not recognised; matched by text as {mapping.concept}",
        )

    onset = _when(ctx, ref, res, "onset", "start")
    abatement = _when(ctx, ref, res, "abatement", "end")
    clinical = _status(obj(res, "clinicalStatus"))
    if clinical in ACTIVE:
        active = True
    elif clinical in INACTIVE:
        active = False
    else:
        active = abatement is None and res.get("abatementBoolean") is not True
        ctx.note(
            "information",
            "incomplete",
            ref,
            "Condition.clinicalStatus",
            f"clinical status missing or unknown; read as {'active' if active else 'inactive'} from abatement",
        )

    site: Site | None = None
    for i, body in enumerate(objs(res, "bodySite")):
        site = read_site(ctx, ref, f"Condition.bodySite[{i}]", body)
        if site is not None:
            break
    if site is None and mapping.site is not None:
        site = Site(mapping.site.structure, mapping.site.side)
    return ConditionEntry(ref, mapping.concept, onset, abatement, active, site)


# Procedure.status values that mean it was not (or not yet) done: nothing lasting follows from them.
PROCEDURE_NOT_DONE = frozenset({"preparation", "not-done", "entered-in-error"})


def read_procedure(ctx: Context, ref: str, res: JSON) -> ConditionEntry | None:
    """A performed procedure whose code maps to a condition concept (splenectomy → asplenia).

    The condition starts on the performed date and lasts (a removed spleen does not grow back), so the
    entry is active with no abatement; any other procedure is reported as not used.
    """
    status = res.get("status")
    if status in PROCEDURE_NOT_DONE:
        ctx.note("information", "informational", ref, "Procedure.status", f"status {status}; not used")
        return None
    code = obj(res, "code")
    mapping = next(
        (m for c in codings(code) if (m := terminology.concept_for(c.system, c.code, "condition")) is not None), None
    )
    if mapping is None:
        mapping = next(
            (m for t in texts(code) if (m := terminology.concept_for_text(t, "condition")) is not None), None
        )
        if mapping is None:
            ctx.note(
                "information",
                "code-invalid",
                ref,
                "Procedure.code",
                "procedure not a risk factor bmefhir reads; not used",
            )
            return None
        ctx.note(
            "information",
            "code-invalid",
            ref,
            "Procedure.code",
            f"code not recognised; matched by text as {mapping.concept}",
        )
    performed: date | None = None
    if "performedDateTime" in res:
        performed = ctx.date(ref, "Procedure.performedDateTime", res.get("performedDateTime"))
    elif (period := obj(res, "performedPeriod")) is not None:
        performed = ctx.date(ref, "Procedure.performedPeriod.start", period.get("start"))
    else:
        ctx.note("information", "incomplete", ref, "Procedure.performed[x]", "no performed date; date unknown")
    return ConditionEntry(ref, mapping.concept, performed, None, True, None)
