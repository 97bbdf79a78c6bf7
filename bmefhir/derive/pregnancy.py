"""Pregnancy, postpartum and breastfeeding, read from every documented encoding.

Sources of evidence (docs/input-conventions.md §Pregnancy):

* Pregnancy status (LOINC 82810-3) answered Pregnant / Not pregnant (SNOMED CT or LOINC answers),
  or answered with a SNOMED CT trimester finding;
* a SNOMED CT pregnancy or trimester finding as Observation.code, or as a Condition;
* gestational age (LOINC 11884-4), projected to the date of interest;
* a pregnancy Condition (SNOMED CT, ICD-10 chapter O, Z33.1, Z34, Z3A);
* postpartum (Observation or Condition) and breastfeeding (Observation or Condition).

Two questions are answered at two dates. For the differential: late pregnancy or early
postpartum at the first BME (``pregnancy_late_or_postpartum``, seed 000 §definition). For
treatment safety: pregnant (any stage), breastfeeding or recently delivered at the analysis
date (``pregnant``, ``breastfeeding``, ``postpartum_recent``).

A pregnancy record that contradicts the patient's sex or age is a data-quality issue naming
the resources; the analysis goes on without it (no pregnancy fact), but ``pregnancy_unverified``
keeps it as a reason to withhold a treatment until a clinician has checked the record.
Administrative sex is not anatomy (a pregnant transgender man is recorded male), which is
one more reason not to drop the safety signal silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from bmefhir.derive.factset import FactSet, Votes
from bmefhir.derive.recordindex import RecordIndex
from bmefhir.record import ConditionEntry, DataQualityIssue

# Third trimester starts at 28 weeks; pregnancy does not go beyond 42 completed
# weeks (ACOG Committee Opinion 579, 2013: "post-term" >= 42 0/7 weeks).
LATE_PREGNANCY_WEEKS: Final = (28.0, 42.0)
PREGNANCY_MAX_DAYS: Final = 42 * 7
# The third trimester lasts at most 14 weeks (28 to 42): a third-trimester finding is current for that long.
THIRD_TRIMESTER_MAX_DAYS: Final = 14 * 7
# "Early postpartum": within 6 months of delivery (seed 000 §definition).
POSTPARTUM_DAYS: Final = 183
# A breastfeeding record is taken as current for 6 months (a project choice; lactation status changes,
# so an older record is not trusted either way).
BREASTFEEDING_DAYS: Final = 183
# Plausibility bounds for a pregnancy record (a data-quality check, not a clinical criterion):
# pregnancy below 10 or from 60 years of age is taken as a recording error.
PLAUSIBLE_PREGNANCY_AGE: Final = (10, 60)

PREGNANCY_CONCEPTS: Final = ("pregnancy", "pregnancy_third_trimester", "gestational_age_weeks")
MATERNAL_CONCEPTS: Final = (*PREGNANCY_CONCEPTS, "postpartum", "breastfeeding")


@dataclass(frozen=True, slots=True)
class _Item:
    ref: str
    concept: str
    day: date | None
    value: bool | float | None  # True/False/None for flags, weeks for gestational age


def _items(index: RecordIndex) -> list[_Item]:
    out: list[_Item] = []
    for concept in MATERNAL_CONCEPTS:
        for obs in index.observations.get(concept, ()):
            if obs.date is None or obs.date <= index.today:
                out.append(_Item(obs.ref, concept, obs.date, obs.value))
        for cond in index.conditions.get(concept, ()):
            if _condition_current(cond, index.today):
                out.append(_Item(cond.ref, concept, cond.onset, True))
    return sorted(out, key=lambda i: (i.day or date.min, i.ref))


def _condition_current(cond: ConditionEntry, today: date) -> bool:
    return cond.active and (cond.abatement is None or cond.abatement > today)


def _flag(item: _Item) -> bool | None:
    """True/False for a status, None for a number (gestational age)."""
    if isinstance(item.value, bool):
        return item.value
    return True if item.value is None else None


def _when(d: date | None) -> str:
    return d.isoformat() if d else "undated"


def _weeks_at(item: _Item, ref_date: date) -> float | None:
    if item.concept != "gestational_age_weeks" or isinstance(item.value, bool) or item.value is None:
        return None
    if item.day is None:
        return None
    return float(item.value) + (ref_date - item.day).days / 7


def _pregnant_at(items: Iterable[_Item], ref_date: date) -> tuple[Votes, float | None]:
    """Pregnant (any stage) at ``ref_date``, and the projected gestational age when known."""
    votes = Votes()
    weeks: float | None = None
    start = ref_date - timedelta(days=PREGNANCY_MAX_DAYS)
    relevant = [i for i in items if i.day is None or start <= i.day <= ref_date]
    # A delivery (postpartum record) ends every pregnancy record dated before it.
    deliveries = [i.day for i in relevant if i.concept == "postpartum" and _flag(i) is True and i.day is not None]
    delivered = max(deliveries) if deliveries else None
    for item in relevant:
        if item.concept not in PREGNANCY_CONCEPTS:
            continue
        if delivered is not None and item.day is not None and item.day <= delivered:
            continue
        projected = _weeks_at(item, ref_date)
        if item.concept == "gestational_age_weeks":
            if projected is None:
                continue
            if 0 <= projected <= LATE_PREGNANCY_WEEKS[1]:
                weeks = projected
                votes.yes(item.ref, f"gestational age {projected:.0f} wk at {ref_date.isoformat()}")
            continue
        flag = _flag(item)
        if flag is None:
            continue
        votes.vote(flag, item.ref, f"{item.concept.replace('_', ' ')} {'recorded' if flag else 'no'} {_when(item.day)}")
    # The latest dated status wins when statuses disagree (a later "not pregnant" ends the pregnancy).
    dated = [i for i in relevant if i.concept in PREGNANCY_CONCEPTS and i.day is not None and _flag(i) is not None]
    if votes.yes_refs and dated and _flag(dated[-1]) is False:
        latest = dated[-1]
        votes = Votes()
        votes.no(latest.ref, f"not pregnant {_when(latest.day)}")
        weeks = None
    return votes, weeks


def _late_or_postpartum_at(items: Iterable[_Item], ref_date: date) -> Votes:
    votes = Votes()
    low, high = LATE_PREGNANCY_WEEKS
    window = ref_date - timedelta(days=POSTPARTUM_DAYS)
    third = ref_date - timedelta(days=THIRD_TRIMESTER_MAX_DAYS)
    for item in items:
        if item.day is not None and item.day > ref_date:
            continue
        if item.concept == "gestational_age_weeks":
            weeks = _weeks_at(item, ref_date)
            if weeks is not None and low <= weeks <= high:
                votes.yes(item.ref, f"gestational age {weeks:.0f} wk at {ref_date.isoformat()}")
        elif item.concept == "pregnancy_third_trimester" and _flag(item) is True:
            if item.day is None or item.day >= third:
                votes.yes(item.ref, f"third trimester {_when(item.day)}")
        elif item.concept == "postpartum" and item.day is not None and item.day >= window:
            flag = _flag(item)
            if flag is not None:
                votes.vote(flag, item.ref, f"postpartum {item.day.isoformat()}")
    return votes


def _recent(items: Iterable[_Item], concept: str, ref_date: date, days: int) -> Votes:
    """The latest record of ``concept`` within ``days`` before ``ref_date`` (undated ones count)."""
    votes = Votes()
    start = ref_date - timedelta(days=days)
    chosen = [i for i in items if i.concept == concept and _flag(i) is not None and (i.day is None or i.day >= start)]
    dated = [i for i in chosen if i.day is not None]
    if dated and _flag(dated[-1]) is False:
        votes.no(dated[-1].ref, f"{concept} no {_when(dated[-1].day)}")
        return votes
    for item in chosen:
        if _flag(item) is True:
            votes.yes(item.ref, f"{concept} {_when(item.day)}")
    return votes


def _contradiction(index: RecordIndex, age: float | None) -> str | None:
    """Why a pregnancy, postpartum or breastfeeding record cannot be trusted for this patient, if it cannot."""
    patient = index.record.patient
    if patient.sex == "male":
        return f"contradicts the recorded sex of {patient.ref} (male)"
    if age is not None and not PLAUSIBLE_PREGNANCY_AGE[0] <= age < PLAUSIBLE_PREGNANCY_AGE[1]:
        low, high = PLAUSIBLE_PREGNANCY_AGE
        return f"is implausible at the age of {patient.ref} (outside {low}-{high - 1} years)"
    return None


def derive_pregnancy(
    index: RecordIndex, bme_start: date | None, facts: FactSet, issues: list[DataQualityIssue]
) -> None:
    """Set the pregnancy facts; append a data-quality issue per contradicted maternal record."""
    items = _items(index)
    patient_ref = (index.record.patient.ref,)
    positive = [i for i in items if _flag(i) is not False]
    age_value = facts.value("age_years")
    age = float(age_value) if isinstance(age_value, float) else None
    why = _contradiction(index, age) if positive else None
    if why is not None:
        for item in positive:
            issues.append(
                DataQualityIssue(
                    "warning",
                    "business-rule",
                    item.ref,
                    "Condition.code" if item.ref.startswith("Condition/") else "Observation",
                    f"{item.concept.replace('_', ' ')} record {why}; not used for the differential, "
                    "kept as a reason to withhold treatments until the record is checked",
                )
            )
        facts.put("pregnancy_unverified", True, [i.ref for i in positive], f"{len(positive)} contradicted record(s)")
    if index.record.patient.sex == "male":
        facts.put("pregnancy_late_or_postpartum", False, patient_ref, "sex male")
        facts.put("pregnant", False, patient_ref, "sex male")
        return
    if why is not None:
        return
    facts.decide("pregnancy_late_or_postpartum", _late_or_postpartum_at(items, bme_start or index.today))
    now, weeks = _pregnant_at(items, index.today)
    facts.decide("pregnant", now)
    if weeks is not None and facts.is_true("pregnant"):
        facts.put("pregnancy_weeks", round(weeks, 1), now.yes_refs, f"{weeks:.0f} wk at {index.today.isoformat()}")
    facts.decide("breastfeeding", _recent(items, "breastfeeding", index.today, BREASTFEEDING_DAYS))
    delivered = _recent(items, "postpartum", index.today, POSTPARTUM_DAYS)
    facts.decide("postpartum_recent", delivered)
