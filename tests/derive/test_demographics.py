"""Age and sex facts."""

from __future__ import annotations

from datetime import date

from bmefhir.derive.demographics import age_at

from .builders import run


def test_age_counts_completed_years() -> None:
    assert age_at(date(1970, 6, 2), date(2024, 6, 1)) == 53
    assert age_at(date(1970, 6, 1), date(2024, 6, 1)) == 54


def test_middle_aged_male() -> None:
    facts = run(birth=date(1970, 3, 15)).facts
    assert facts["age_years"].value == 54.0
    assert (facts["male"].value, facts["female"].value, facts["middle_aged_male"].value) == (True, False, True)
    assert run(birth=date(2000, 1, 1)).facts["middle_aged_male"].value is False
    assert run(sex="female", birth=None).facts["middle_aged_male"].value is False


def test_unknown_sex_and_birth_date_leave_facts_unknown() -> None:
    facts = run(sex="unknown", birth=None).facts
    assert not {"age_years", "male", "female", "middle_aged_male"} & facts.keys()
    assert "age_years" not in run(birth=date(2030, 1, 1)).facts  # born after the analysis date
