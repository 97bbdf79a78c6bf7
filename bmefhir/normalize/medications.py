"""MedicationStatement / MedicationRequest → MedicationExposure (drug class, dates, route, dose).

A MedicationRequest (US Core's way of sending medications) is an exposure when it is an order or a
plan that was not withdrawn; its period comes from the dosage bounds, else the dispense request
(docs/input-conventions.md §Medication).
"""

from __future__ import annotations

from datetime import date, timedelta

from bmefhir import terminology
from bmefhir.normalize.context import Context
from bmefhir.normalize.dates import LATEST
from bmefhir.normalize.fhirjson import JSON, codings, number, obj, objs, string, texts
from bmefhir.normalize.values import quantity
from bmefhir.record import MedicationExposure
from bmefhir.terminology import Mapping

SKIPPED_STATUS: dict[str, frozenset[str]] = {
    "MedicationStatement": frozenset({"entered-in-error", "not-taken"}),
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
}
# The R4 value sets (required bindings): medication-statement-status, medicationrequest-status.
STATUSES: dict[str, frozenset[str]] = {
    "MedicationStatement": frozenset(
        {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"}
    ),
    "MedicationRequest": frozenset(
        {"active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"}
    ),
}
# MedicationRequest.intent (R4 medicationrequest-intent): orders and plans mean the drug was meant to be
# given; a proposal or an option is a suggestion nobody has acted on, so it is no exposure.
EXPOSURE_INTENTS = frozenset({"order", "original-order", "reflex-order", "filler-order", "instance-order", "plan"})
SUGGESTION_INTENTS = frozenset({"proposal", "option"})
# Timing.repeat.periodUnit (UCUM) in days.
_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}
# Timing.code (HL7 v3 GTSAbbreviation) administrations per day.
_TIMING_CODES = {
    "QD": 1.0,
    "AM": 1.0,
    "PM": 1.0,
    "QAM": 1.0,
    "QPM": 1.0,
    "BID": 2.0,
    "TID": 3.0,
    "QID": 4.0,
    "QOD": 0.5,
}
MAX_COURSE_DAYS = 36525.0  # 100 years: a longer duration is a data error, and date arithmetic would overflow
_MG_PER_UNIT = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001}


def drug_mapping(cc: JSON | None) -> Mapping | None:
    """Drug class of a medication CodeableConcept: RxNorm / ATC / bmefhir class code, then text."""
    for c in codings(cc):
        if (m := terminology.concept_for(c.system, c.code, "medication")) is not None:
            return m
    for text in texts(cc):
        if (m := terminology.concept_for_text(text, "medication")) is not None:
            return m
    return None


def _drug_name(m: Mapping, cc: JSON | None) -> str:
    if m.drug:
        return m.drug
    for text in texts(cc):  # a class-level code (ATC H02AB) with a named drug in text / display
        if (kw := terminology.concept_for_text(text, "medication")) is not None and kw.drug:
            return kw.drug
    return (texts(cc) or [m.concept])[0].lower()


def _medication_concept(ctx: Context, ref: str, res: JSON) -> tuple[Mapping | None, JSON | None, str]:
    """(mapping, the CodeableConcept it came from, element) — resolving medicationReference."""
    rt = str(res.get("resourceType"))
    if (cc := obj(res, "medicationCodeableConcept")) is not None:
        return drug_mapping(cc), cc, f"{rt}.medicationCodeableConcept"
    med_ref = obj(res, "medicationReference")
    element = f"{rt}.medicationReference"
    if med_ref is None:
        ctx.note("error", "required", ref, f"{rt}.medication", "no medication given; not used")
        return None, None, element
    raw = string(med_ref, "reference") or ""
    medication: JSON | None = None
    if raw.startswith("#"):
        medication = next((c for c in objs(res, "contained") if c.get("id") == raw[1:]), None)
    elif (target := ctx.resolve(med_ref)) is not None:
        medication = ctx.by_ref.get(target)
    if medication is None:
        if (text := string(med_ref, "display")) is not None and (m := drug_mapping({"text": text})) is not None:
            ctx.note(
                "information", "not-found", ref, element, "referenced Medication not in the input; its display is used"
            )
            return m, {"text": text}, element
        ctx.note("error", "not-found", ref, element, "referenced Medication not found in the input; not used")
        return None, None, element
    code = obj(medication, "code")
    found = next(
        (
            (m, cc)
            for cc in [code, *(obj(ing, "itemCodeableConcept") for ing in objs(medication, "ingredient"))]
            if (m := drug_mapping(cc)) is not None
        ),
        None,
    )
    if found is None:
        return None, code, element
    if not raw.startswith("#") and (target := ctx.resolve(med_ref)) is not None:
        ctx.used_refs.add(target)  # the bundled Medication contributed through this statement
    return found[0], found[1], element


def _dosages(res: JSON) -> list[JSON]:
    return objs(res, "dosage" if res.get("resourceType") == "MedicationStatement" else "dosageInstruction")


def _dates(ctx: Context, ref: str, res: JSON) -> tuple[date | None, date | None]:
    rt = str(res.get("resourceType"))
    if rt == "MedicationStatement":
        if "effectiveDateTime" in res:
            d = ctx.date(ref, f"{rt}.effectiveDateTime", res.get("effectiveDateTime"))
            return d, d
        if (period := obj(res, "effectivePeriod")) is not None:
            return (
                ctx.date(ref, f"{rt}.effectivePeriod.start", period.get("start")),
                ctx.date(ref, f"{rt}.effectivePeriod.end", period.get("end")),
            )
    starts: list[date] = []
    ends: list[date] = []
    durations: list[float] = []
    key = "dosage" if rt == "MedicationStatement" else "dosageInstruction"
    for i, dosage in enumerate(_dosages(res)):
        repeat = obj(obj(dosage, "timing"), "repeat")
        element = f"{rt}.{key}[{i}].timing.repeat"
        if (bounds := obj(repeat, "boundsPeriod")) is not None:
            if (s := ctx.date(ref, f"{element}.boundsPeriod.start", bounds.get("start"))) is not None:
                starts.append(s)
            if (e := ctx.date(ref, f"{element}.boundsPeriod.end", bounds.get("end"))) is not None:
                ends.append(e)
        elif (n := _duration_days(ctx, ref, f"{element}.boundsDuration", obj(repeat, "boundsDuration"))) is not None:
            durations.append(n)
    if rt == "MedicationRequest":
        return _request_dates(ctx, ref, res, starts, ends, durations)
    if starts or ends:
        return (min(starts) if starts else None), (max(ends) if ends else None)
    if "dateAsserted" in res:
        ctx.note(
            "information",
            "incomplete",
            ref,
            f"{rt}.effective",
            "no effective period; the date asserted is used as start",
        )
        return ctx.date(ref, f"{rt}.dateAsserted", res.get("dateAsserted")), None
    ctx.note("warning", "incomplete", ref, f"{rt}.effective", "no medication dates; exposure period unknown")
    return None, None


def _duration_days(ctx: Context, ref: str, element: str, duration: JSON | None) -> float | None:
    """A Duration (UCUM s, min, h, d, wk, mo, a) in days; another unit is reported and not used."""
    if duration is None:
        return None
    value = number(duration, "value")
    unit_days = _PERIOD_DAYS.get(string(duration, "code") or string(duration, "unit") or "")
    if value is None or value < 0 or unit_days is None:
        ctx.note(
            "information", "value", ref, element, "duration without a value in s, min, h, d, wk, mo or a; not used"
        )
        return None
    if value * unit_days > MAX_COURSE_DAYS:
        ctx.note("warning", "value", ref, element, "duration longer than 100 years; not used")
        return None
    return value * unit_days


def _last_day(start: date, days: float) -> date | None:
    """The last day a supply of ``days`` days started on ``start`` covers (ends are inclusive); None past
    the last plausible date (start is at most 2199 and days at most 100 years, so nothing overflows)."""
    end = start + timedelta(days=max(0, round(days) - 1))
    return end if end <= LATEST else None


def _request_dates(
    ctx: Context, ref: str, res: JSON, starts: list[date], ends: list[date], durations: list[float]
) -> tuple[date | None, date | None]:
    """The exposure period of an order, from the most direct statement of it down to the order date.

    Start: the dosage bounds, else the dispense validity period, else ``authoredOn``. End: the dosage
    bounds, else start + bounds duration, else start + the days' supply of every fill
    (``expectedSupplyDuration`` x (1 + ``numberOfRepeatsAllowed``): the usual estimate of a treatment
    episode from prescriptions, Gardarsdottir et al. J Clin Epidemiol 2010;63:422-7), else the end of
    the validity period (the latest the drug could have been dispensed), else unknown.
    """
    rt = "MedicationRequest"
    dispense = obj(res, "dispenseRequest")
    validity = obj(dispense, "validityPeriod")
    v_start = ctx.date(ref, f"{rt}.dispenseRequest.validityPeriod.start", (validity or {}).get("start"))
    v_end = ctx.date(ref, f"{rt}.dispenseRequest.validityPeriod.end", (validity or {}).get("end"))
    authored = ctx.date(ref, f"{rt}.authoredOn", res.get("authoredOn"))
    start = min(starts) if starts else (v_start or authored)
    if start is None:
        ctx.note(
            "warning",
            "incomplete",
            ref,
            f"{rt}.authoredOn",
            "no dosage bounds, dispense validity period or order date; exposure period unknown",
        )
        return None, max(ends) if ends else v_end
    if ends:
        return start, max(ends)
    if durations:
        return start, _last_day(start, max(durations))
    supply = _duration_days(
        ctx, ref, f"{rt}.dispenseRequest.expectedSupplyDuration", obj(dispense, "expectedSupplyDuration")
    )
    repeats = max(0.0, number(dispense, "numberOfRepeatsAllowed") or 0.0)
    if supply is not None and supply * (1 + repeats) > MAX_COURSE_DAYS:
        ctx.note(
            "warning",
            "value",
            ref,
            f"{rt}.dispenseRequest.numberOfRepeatsAllowed",
            "days' supply x fills longer than 100 years; not used",
        )
    elif supply is not None:
        return start, _last_day(start, supply * (1 + int(repeats)))
    if v_end is not None:
        ctx.note(
            "information",
            "incomplete",
            ref,
            f"{rt}.dispenseRequest",
            "no dosage bounds or days' supply; the end of the validity period is read as the end",
        )
        return start, v_end
    if not starts and v_start is None:
        ctx.note(
            "information",
            "incomplete",
            ref,
            f"{rt}.dosageInstruction",
            "no dosage bounds or dispense period; the order date is read as the start, the end is unknown",
        )
    return start, None


def _route(res: JSON) -> str | None:
    for dosage in _dosages(res):
        route_cc = obj(dosage, "route")
        for c in codings(route_cc):
            if (r := terminology.route(c.system, c.code)) is not None:
                return r
        for text in texts(route_cc) + [t for t in [string(dosage, "text")] if t]:
            if (r := terminology.route(None, None, text)) is not None:
                return r
    return None


def _per_day(ctx: Context, ref: str, element: str, timing: JSON | None) -> float | None:
    repeat = obj(timing, "repeat")
    if repeat is not None and (repeat.get("frequency") is not None or repeat.get("period") is not None):
        frequency = number(repeat, "frequency") or 1.0
        period = number(repeat, "period") or 1.0
        unit_days = _PERIOD_DAYS.get(string(repeat, "periodUnit") or "d")
        if unit_days is None or period <= 0:
            ctx.note(
                "information",
                "value",
                ref,
                f"{element}.timing.repeat",
                "dose frequency not understood; daily dose unknown",
            )
            return None
        return frequency / (period * unit_days)
    for c in codings(obj(timing, "code")):
        if c.code in _TIMING_CODES:
            return _TIMING_CODES[c.code]
    ctx.note("information", "incomplete", ref, f"{element}.timing", "no dose frequency; once daily assumed")
    return 1.0


def _daily_dose(ctx: Context, ref: str, res: JSON, drug: str) -> float | None:
    """Prednisone-equivalent mg/day for a glucocorticoid with a mg dose (factors: medications.yaml)."""
    factor = terminology.prednisone_equivalent(drug)
    rt = str(res.get("resourceType"))
    key = "dosage" if rt == "MedicationStatement" else "dosageInstruction"
    for i, dosage in enumerate(_dosages(res)):
        element = f"{rt}.{key}[{i}]"
        for j, dr in enumerate(objs(dosage, "doseAndRate")):
            q = quantity(obj(dr, "doseQuantity"))
            if q is None or q.value is None:
                continue
            if factor is None:
                ctx.note(
                    "information", "incomplete", ref, element, "no prednisone-equivalent factor for this glucocorticoid"
                )
                return None
            mg = _MG_PER_UNIT.get((q.unit or "").lower())
            if mg is None:
                ctx.note(
                    "information",
                    "value",
                    ref,
                    f"{element}.doseAndRate[{j}].doseQuantity",
                    "dose not in a mass unit; daily dose unknown",
                )
                return None
            per_day = _per_day(ctx, ref, element, obj(dosage, "timing"))
            return None if per_day is None else round(q.value * mg * per_day * factor, 3)
    return None


def _status(ctx: Context, ref: str, res: JSON) -> tuple[bool, str | None]:
    """(use it, the status kept): withdrawn statuses are skipped, a code outside the value set is read as
    unknown. Stopped and on-hold courses were taken, so they count (until their end)."""
    rt = str(res.get("resourceType"))
    status = string(res, "status")
    if status in SKIPPED_STATUS.get(rt, frozenset()):
        ctx.note("information", "informational", ref, f"{rt}.status", f"status {status}; ignored")
        return False, status
    if status is not None and status not in STATUSES.get(rt, frozenset()):
        ctx.note(
            "warning", "code-invalid", ref, f"{rt}.status", "status is not a code of its R4 value set; read as unknown"
        )
        return True, "unknown"  # not None: derive reads a course with no status and no end as ongoing
    return True, status


def _is_exposure(ctx: Context, ref: str, res: JSON) -> bool:
    """A MedicationRequest counts when it is an order or a plan to give the drug (not doNotPerform)."""
    if res.get("doNotPerform") is True:
        ctx.note(
            "information",
            "informational",
            ref,
            "MedicationRequest.doNotPerform",
            "an order not to give the drug; ignored",
        )
        return False
    intent = string(res, "intent")
    if intent in SUGGESTION_INTENTS:
        ctx.note(
            "information",
            "informational",
            ref,
            "MedicationRequest.intent",
            f"intent {intent}: a suggestion, not an order; not read as an exposure",
        )
        return False
    if intent is not None and intent not in EXPOSURE_INTENTS:
        ctx.note(
            "warning",
            "code-invalid",
            ref,
            "MedicationRequest.intent",
            "intent is not a code of its R4 value set; read as an order",
        )
    return True


def read_medication_use(ctx: Context, ref: str, res: JSON) -> MedicationExposure | None:
    rt = str(res.get("resourceType"))
    use, status = _status(ctx, ref, res)
    if not use or (rt == "MedicationRequest" and not _is_exposure(ctx, ref, res)):
        return None
    mapping, cc, element = _medication_concept(ctx, ref, res)
    if mapping is None:
        if not ctx.issues.flagged(ref, element):
            ctx.note(
                "information", "code-invalid", ref, element, "medication not in a drug class bmefhir reads; not used"
            )
        return None
    if mapping.match == "text":
        ctx.note(
            "information",
            "code-invalid",
            ref,
            element,
            f"medication code not recognised; matched by text as {mapping.concept}",
        )
    drug = _drug_name(mapping, cc)
    start, end = _dates(ctx, ref, res)
    dose = _daily_dose(ctx, ref, res, drug) if mapping.concept == "glucocorticoid" else None
    return MedicationExposure(ref, mapping.concept, drug, _route(res), start, end, status, dose)
