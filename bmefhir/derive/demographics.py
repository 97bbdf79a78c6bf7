"""Age, sex and the "typical patient" of transient osteoporosis."""

from __future__ import annotations

from datetime import date

from bmefhir.derive.factset import FactSet
from bmefhir.record import PatientInfo

# TO/RMO mostly affects men in their 4th-6th decade (seed 000 §definition:
# young/middle-aged men; seed 001 §risk factors: 5th-6th decade; seed 003 §discussion).
MIDDLE_AGE_YEARS = (30, 60)


def age_at(birth_date: date, today: date) -> int:
    """Completed years at ``today``."""
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def derive_demographics(patient: PatientInfo, today: date, facts: FactSet) -> None:
    refs = (patient.ref,)
    age: int | None = None
    if patient.birth_date is not None and patient.birth_date <= today:
        age = age_at(patient.birth_date, today)
        facts.put("age_years", age, refs, f"born {patient.birth_date.year}, {age} a at {today.isoformat()}")
    if patient.sex in ("male", "female"):
        facts.put("male", patient.sex == "male", refs, f"sex {patient.sex}")
        facts.put("female", patient.sex == "female", refs, f"sex {patient.sex}")
    if patient.sex == "female":
        facts.put("middle_aged_male", False, refs, "sex female")
    elif patient.sex == "male" and age is not None:
        low, high = MIDDLE_AGE_YEARS
        facts.put("middle_aged_male", low <= age <= high, refs, f"male, {age} a")
