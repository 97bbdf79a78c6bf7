"""Age and sex facts, the "typical patient" of transient osteoporosis, and children.

A birth date after the analysis date, or after the first dated clinical item (an imaging
study, a finding, a lab), cannot be right: it becomes a data-quality issue naming the
Patient and the item, and the analysis goes on without an age.
"""

from __future__ import annotations

from datetime import date

from bmefhir.derive.factset import FactSet
from bmefhir.derive.registry import THRESHOLDS
from bmefhir.record import DataQualityIssue, PatientRecord

# TO/RMO mostly affects men in their 4th-6th decade (seed 000 §definition:
# young/middle-aged men; seed 001 §risk factors: 5th-6th decade; seed 003 §discussion).
MIDDLE_AGE_YEARS = (30, 60)


def age_at(birth_date: date, today: date) -> int:
    """Completed years at ``today``."""
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def _first_dated_item(record: PatientRecord, today: date) -> tuple[date, str] | None:
    dated = [
        (item.date, item.ref)
        for group in (record.studies, record.findings, record.labs, record.observations)
        for item in group
        if item.date is not None and item.date <= today
    ]
    return min(dated) if dated else None


def _birth_issue(record: PatientRecord, today: date) -> DataQualityIssue | None:
    patient = record.patient
    born = patient.birth_date
    if born is None:
        return None
    if born > today:
        return DataQualityIssue(
            "warning", "business-rule", patient.ref, "Patient.birthDate",
            "birth date is after the analysis date; age not used",
        )  # fmt: skip
    first = _first_dated_item(record, today)
    if first is not None and born > first[0]:
        return DataQualityIssue(
            "warning", "business-rule", patient.ref, "Patient.birthDate",
            f"birth date is after {first[1]} (dated {first[0].isoformat()}); age not used",
        )  # fmt: skip
    return None


def derive_demographics(
    record: PatientRecord, today: date, facts: FactSet, issues: list[DataQualityIssue] | None = None
) -> None:
    patient = record.patient
    refs = (patient.ref,)
    age: int | None = None
    problem = _birth_issue(record, today)
    if problem is not None and issues is not None:
        issues.append(problem)
    if patient.birth_date is not None and problem is None:
        age = age_at(patient.birth_date, today)
        facts.put("age_years", age, refs, f"born {patient.birth_date.year}, {age} a at {today.isoformat()}")
        child = age < THRESHOLDS["paediatric_age_years"][0]
        facts.put("paediatric", child, refs, f"{age} a")
        facts.put("adult", not child, refs, f"{age} a")
    if patient.sex in ("male", "female"):
        facts.put("male", patient.sex == "male", refs, f"sex {patient.sex}")
        facts.put("female", patient.sex == "female", refs, f"sex {patient.sex}")
    if patient.sex == "female":
        facts.put("middle_aged_male", False, refs, "sex female")
    elif patient.sex == "male" and age is not None:
        low, high = MIDDLE_AGE_YEARS
        facts.put("middle_aged_male", low <= age <= high, refs, f"male, {age} a")
