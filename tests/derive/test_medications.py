"""Glucocorticoid exposure and the other drug classes."""

from __future__ import annotations

from datetime import date

from bmefhir.derive.medications import Course, merge_courses

from .builders import bme, med, run


def test_overlapping_courses_are_merged_before_counting_days() -> None:
    facts = run(
        med("glucocorticoid", "prednisone", "oral", "2023-01-01", "2023-01-31"),
        med("glucocorticoid", "prednisone", "oral", "2023-01-20", "2023-02-09"),  # overlaps
        med("glucocorticoid", "dexamethasone", "oral", "2023-06-01", "2023-06-10"),
    ).facts
    assert facts["glucocorticoid_exposure"].value is True
    assert facts["glucocorticoid_duration_days"].value == 40.0 + 10.0
    assert facts["glucocorticoid_long_course"].value is False
    assert facts["glucocorticoid_days_since_last"].value == (date(2024, 6, 1) - date(2023, 6, 10)).days
    assert "glucocorticoid_iv_pulse" not in facts


def test_merge_joins_back_to_back_courses() -> None:
    spans = merge_courses(
        [
            Course(date(2023, 1, 1), date(2023, 1, 10), False, "b"),
            Course(date(2023, 1, 11), date(2023, 1, 20), False, "a"),
            Course(date(2023, 3, 1), date(2023, 3, 2), False, "c"),
        ]
    )
    assert spans == [(date(2023, 1, 1), date(2023, 1, 20), ["b", "a"]), (date(2023, 3, 1), date(2023, 3, 2), ["c"])]


def test_iv_pulse_then_six_months_oral_is_a_long_recent_course() -> None:
    """Seed 004: IV methylprednisolone, then oral prednisone for 6 months, BME a year later."""
    derived = run(
        med("glucocorticoid", "methylprednisolone", "intravenous", "2023-04-01"),
        med("glucocorticoid", "prednisone", "oral", "2023-04-04", "2023-10-04"),
        bme("2024-05-20", "femoral_head", "bilateral"),
        sex="female",
    )
    facts = derived.facts
    assert facts["glucocorticoid_iv_pulse"].value is True
    assert facts["glucocorticoid_iv_pulse"].evidence == (
        "MedicationStatement/methylprednisolone-intravenous-2023-04-01",
    )
    assert facts["glucocorticoid_long_course"].value is True
    assert facts["glucocorticoid_recent"].value is True
    assert facts["glucocorticoid_duration_days"].value == 1.0 + 184.0
    assert "glucocorticoid_exposure" in derived.risk_factors


def test_course_ending_more_than_a_year_before_bme_is_not_recent() -> None:
    facts = run(
        med("glucocorticoid", "prednisone", "oral", "2021-01-01", "2021-03-01"),
        bme("2024-01-10", "femoral_head", "right"),
    ).facts
    assert facts["glucocorticoid_recent"].value is False


def test_active_course_without_end_runs_to_today() -> None:
    facts = run(med("glucocorticoid", "prednisone", "oral", "2024-03-03", status="active")).facts
    assert facts["glucocorticoid_days_since_last"].value == 0.0
    assert facts["glucocorticoid_duration_days"].value == 91.0
    assert facts["glucocorticoid_long_course"].value is True
    assert facts["glucocorticoid_recent"].value is True  # no BME: the year before today


def test_inhaled_and_intra_articular_are_not_systemic() -> None:
    derived = run(
        med("glucocorticoid", "budesonide", "inhaled", "2023-01-01", "2024-01-01"),
        med("glucocorticoid", "triamcinolone", "intra-articular", "2023-05-01"),
    )
    fact = derived.facts["glucocorticoid_exposure"]
    assert fact.value is False
    assert "non-systemic" in fact.note
    assert "glucocorticoid_duration_days" not in derived.facts
    assert [e.route for e in derived.exposures] == ["inhaled", "intra-articular"]


def test_undated_systemic_course_is_exposure_with_unknown_timing() -> None:
    facts = run(med("glucocorticoid", "prednisone", None, None)).facts
    assert facts["glucocorticoid_exposure"].value is True
    assert "glucocorticoid_duration_days" not in facts
    assert "glucocorticoid_recent" not in facts


def test_no_medications_leaves_drug_facts_unknown() -> None:
    facts = run().facts
    for name in ("glucocorticoid_exposure", "bisphosphonate_exposure", "chemotherapy", "gcsf_or_epo"):
        assert name not in facts


def test_other_drug_classes_and_exposure_bands() -> None:
    derived = run(
        med("bisphosphonate", "alendronic acid", "oral", "2023-09-01"),
        med("chemotherapy", "cyclophosphamide", "intravenous", "2022-01-01", "2022-06-01"),
        med("antiretroviral", "tenofovir", "oral", "2020-01-01", status="active"),
        med("erythropoietin", "epoetin alfa", "subcutaneous", "2023-01-01"),
        med("vitamin_d", "colecalciferol", "oral", "2023-08-01"),
        med("nsaid", "naproxen", "oral", "2023-07-01"),
        med("analgesic", "paracetamol", "oral", "2023-07-01"),
    )
    facts = derived.facts
    for name in ("bisphosphonate_exposure", "chemotherapy", "antiretroviral_therapy", "gcsf_or_epo"):
        assert facts[name].value is True, name
    assert facts["reconversion_driver"].value is True
    assert [e.drug for e in derived.exposures] == [
        "cyclophosphamide",
        "naproxen",
        "colecalciferol",
        "alendronic acid",
    ]
