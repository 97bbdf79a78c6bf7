"""Condition → ConditionEntry (US Core problem-list items, encounter diagnoses and health concerns); a
Procedure whose result is a lasting risk factor (splenectomy) → ConditionEntry.

verificationStatus refuted / entered-in-error: not used. unconfirmed, provisional, differential: used as
uncertain — the R4 condition-ver-status definitions say there is not sufficient evidence to treat them
as confirmed, and a differential names one of several candidates — so a fact that rests only on them
counts with the weight of a hedged finding. A health concern (US Core: "outside the provider's problem
list") is uncertain unless confirmed. Resolved / inactive / remission are history, with their dates.
"""

from __future__ import annotations

from datetime import date

from bmefhir import terminology
from bmefhir.normalize.context import Context
from bmefhir.normalize.fhirjson import JSON, codings, obj, objs, string, texts
from bmefhir.normalize.sites import read_site
from bmefhir.normalize.text import negated_text_reason
from bmefhir.record import ConditionEntry, Site

CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ACTIVE = frozenset({"active", "recurrence", "relapse"})
INACTIVE = frozenset({"inactive", "remission", "resolved"})
IGNORED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
UNCERTAIN_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})
VERIFICATION = IGNORED_VERIFICATION | UNCERTAIN_VERIFICATION | {"confirmed"}
# Condition.category: the R4 condition-category codes and US Core's health-concern.
CATEGORY_SYSTEMS = frozenset(
    {
        "http://terminology.hl7.org/CodeSystem/condition-category",
        "http://hl7.org/fhir/us/core/CodeSystem/condition-category",
    }
)


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


def _categories(res: JSON) -> set[str]:
    return {
        c.code for cc in objs(res, "category") for c in codings(cc) if c.code and c.system in (None, *CATEGORY_SYSTEMS)
    }


def _onset(ctx: Context, ref: str, res: JSON) -> date | None:
    """onset[x], else the date it was recorded, else the start of its encounter (an encounter diagnosis)."""
    onset = _when(ctx, ref, res, "onset", "start")
    if onset is not None or any(k.startswith("onset") for k in res):
        return onset
    if (recorded := ctx.date(ref, "Condition.recordedDate", res.get("recordedDate"))) is not None:
        ctx.note("information", "incomplete", ref, "Condition.onset[x]", "no onset; the recorded date is used")
        return recorded
    encounter = ctx.by_ref.get(ctx.resolve(obj(res, "encounter")) or "")
    period = obj(encounter, "period")
    if period is not None and (start := ctx.date(ref, "Condition.encounter", period.get("start"))) is not None:
        ctx.note("information", "incomplete", ref, "Condition.onset[x]", "no onset; the encounter's start is used")
        return start
    return None


def _uncertain(ctx: Context, ref: str, res: JSON, verification: str | None) -> bool:
    if verification in UNCERTAIN_VERIFICATION:
        ctx.note(
            "information",
            "informational",
            ref,
            "Condition.verificationStatus",
            f"verification status {verification}; used as uncertain",
        )
        return True
    if verification is not None and verification not in VERIFICATION:
        ctx.note(
            "warning",
            "code-invalid",
            ref,
            "Condition.verificationStatus",
            "not a condition-ver-status code; used as uncertain",
        )
        return True
    if verification is None and "health-concern" in _categories(res) and not _categories(res) - {"health-concern"}:
        ctx.note(
            "information",
            "informational",
            ref,
            "Condition.category",
            "a health concern with no verification status; used as uncertain",
        )
        return True
    return False


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
    unused = negated_text_reason(code, ("condition",)) or "condition not recognised; not used"
    if (mapping := _concept(ctx, ref, code, "Condition.code", unused)) is None:
        return None

    uncertain = _uncertain(ctx, ref, res, verification)
    onset = _onset(ctx, ref, res)
    abatement = _when(ctx, ref, res, "abatement", "end")
    clinical = _status(obj(res, "clinicalStatus"))
    if clinical in ACTIVE:
        active = True
    elif clinical in INACTIVE:
        active = False
        if abatement is None and not any(k.startswith("abatement") for k in res):
            ctx.note(
                "information",
                "incomplete",
                ref,
                "Condition.abatement[x]",
                f"clinical status {clinical} with no abatement date; read as history, when it ended is unknown",
            )
    elif clinical is not None:
        active = abatement is None and res.get("abatementBoolean") is not True
        ctx.note(
            "warning",
            "code-invalid",
            ref,
            "Condition.clinicalStatus",
            f"not a condition-clinical code; read as {'active' if active else 'inactive'} from abatement",
        )
    else:
        active = abatement is None and res.get("abatementBoolean") is not True
        ctx.note(
            "information",
            "incomplete",
            ref,
            "Condition.clinicalStatus",
            f"clinical status missing; read as {'active' if active else 'inactive'} from abatement",
        )

    site: Site | None = None
    for i, body in enumerate(objs(res, "bodySite")):
        site = read_site(ctx, ref, f"Condition.bodySite[{i}]", body)
        if site is not None:
            break
    if site is None and mapping.site is not None:
        site = Site(mapping.site.structure, mapping.site.side)
    return ConditionEntry(ref, mapping.concept, onset, abatement, active, site, uncertain)


# Procedure.status values that mean it was not (or not yet) done: nothing lasting follows from them.
PROCEDURE_NOT_DONE = frozenset({"preparation", "not-done", "entered-in-error"})


def read_procedure(ctx: Context, ref: str, res: JSON) -> ConditionEntry | None:
    """A performed procedure whose code maps to a condition concept (splenectomy → asplenia).

    The condition starts on the performed date and lasts (a removed spleen does not grow back), so the
    entry is active with no abatement; any other procedure is reported as not used.
    """
    status = string(res, "status")  # a status that is not a string (an object) is reported by validation
    if status in PROCEDURE_NOT_DONE:
        ctx.note("information", "informational", ref, "Procedure.status", f"status {status}; not used")
        return None
    unused = "procedure not a risk factor bmefhir reads; not used"
    if (mapping := _concept(ctx, ref, obj(res, "code"), "Procedure.code", unused)) is None:
        return None
    performed: date | None = None
    if "performedDateTime" in res:
        performed = ctx.date(ref, "Procedure.performedDateTime", res.get("performedDateTime"))
    elif (period := obj(res, "performedPeriod")) is not None:
        performed = ctx.date(ref, "Procedure.performedPeriod.start", period.get("start"))
    else:
        ctx.note("information", "incomplete", ref, "Procedure.performed[x]", "no performed date; date unknown")
    return ConditionEntry(ref, mapping.concept, performed, None, True, None)


def _concept(ctx: Context, ref: str, code: JSON | None, element: str, unused: str) -> terminology.Mapping | None:
    """The condition concept of ``code``: by coding, else by its text (noted), else None (noted as ``unused``)."""
    mapping = next(
        (m for c in codings(code) if (m := terminology.concept_for(c.system, c.code, "condition")) is not None), None
    )
    if mapping is not None:
        return mapping
    mapping = next((m for t in texts(code) if (m := terminology.concept_for_text(t, "condition")) is not None), None)
    if mapping is None:
        ctx.note("information", "code-invalid", ref, element, unused)
    else:
        ctx.note(
            "information", "code-invalid", ref, element, f"code not recognised; matched by text as {mapping.concept}"
        )
    return mapping
