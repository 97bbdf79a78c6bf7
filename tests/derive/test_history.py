"""Social history, bone density, pregnancy and problem-list facts."""

from __future__ import annotations

import pytest

from bmefhir.record import Site

from .builders import bme, cond, med, obs, run


def test_heavy_alcohol_from_condition_observation_audit_c_or_units() -> None:
    assert run(cond("alcohol_abuse")).facts["heavy_alcohol"].value is True
    assert run(obs("alcohol_heavy", False)).facts["heavy_alcohol"].value is False
    assert run(obs("alcohol_units_per_week", 21.0)).facts["heavy_alcohol"].value is True
    assert run(obs("alcohol_units_per_week", 7.0)).facts["heavy_alcohol"].value is False


@pytest.mark.parametrize(
    ("sex", "score", "expected"),
    [("male", 3.0, False), ("male", 4.0, True), ("female", 3.0, True), (None, 3.0, None), (None, 5.0, True)],
)
def test_audit_c_cut_off_depends_on_sex(sex: str | None, score: float, expected: bool | None) -> None:
    fact = run(obs("audit_c", score), sex=sex).facts.get("heavy_alcohol")
    assert (fact.value if fact else None) is expected


def test_smoking_and_pack_years() -> None:
    facts = run(obs("pack_years", 20.0), obs("smoking_current", True)).facts
    assert facts["smoker"].value is True
    assert facts["pack_years"].value == 20.0
    assert run(obs("smoking_ever", False)).facts["smoker"].value is False
    assert "smoker" not in run(obs("smoking_current", False)).facts  # may be a former smoker


def test_dxa_lowest_t_score_classified_by_who() -> None:
    facts = run(obs("dxa_t_score", -1.1), obs("dxa_t_score", 0.3, "2024-02-01")).facts
    assert facts["dxa_t_score_min"].value == -1.1
    assert facts["osteopenia"].value is True
    assert facts["osteoporosis_dxa"].value is False
    porotic = run(obs("dxa_t_score", -2.7)).facts
    assert (porotic["osteoporosis_dxa"].value, porotic["osteopenia"].value) == (True, False)
    assert run(cond("osteoporosis")).facts["osteoporosis_dxa"].value is True


def test_late_pregnancy_projects_gestational_age_to_the_bme() -> None:
    items = (obs("gestational_age_weeks", 20.0, "2024-01-01"), bme("2024-03-15", "femoral_head", "left"))
    facts = run(*items, sex="female").facts
    assert facts["pregnancy_late_or_postpartum"].value is True  # 30 wk at the MRI
    early = run(obs("gestational_age_weeks", 12.0, "2024-01-01"), items[1], sex="female").facts
    assert "pregnancy_late_or_postpartum" not in early


def test_postpartum_within_six_months_before_the_bme() -> None:
    mri = bme("2024-03-15", "femoral_head", "left")
    assert (
        run(obs("postpartum", True, "2024-01-10"), mri, sex="female").facts["pregnancy_late_or_postpartum"].value
        is True
    )
    assert (
        run(obs("postpartum", False, "2024-01-10"), mri, sex="female").facts["pregnancy_late_or_postpartum"].value
        is False
    )
    assert "pregnancy_late_or_postpartum" not in run(obs("postpartum", True, "2023-01-10"), mri, sex="female").facts
    assert run(mri).facts["pregnancy_late_or_postpartum"].value is False  # male


@pytest.mark.parametrize(
    ("concept", "fact"),
    [
        ("heart_failure", "heart_failure"),
        ("myelofibrosis", "myeloma"),
        ("lymphoma", "haematological_malignancy"),
        ("sickle_cell_disease", "sickle_cell"),
        ("gaucher_disease", "gaucher"),
        ("sle", "sle"),
        ("hiv", "hiv"),
        ("decompression_sickness", "decompression_exposure"),
        ("bone_metastasis", "prior_malignancy"),
        ("spondyloarthritis", "known_inflammatory_arthritis"),
        ("gout", "known_gout"),
        ("osteoarthritis", "known_osteoarthritis"),
        ("diabetes", "immunosuppressed"),
    ],
)
def test_condition_on_record_sets_fact_true_absence_leaves_it_unknown(concept: str, fact: str) -> None:
    assert run(cond(concept, "2020-01-01")).facts[fact].value is True
    assert fact not in run().facts


def test_condition_after_the_analysis_date_is_not_known_yet() -> None:
    assert "heart_failure" not in run(cond("heart_failure", "2025-01-01")).facts


def test_trauma_counts_only_at_an_affected_joint() -> None:
    mri = bme("2024-01-10", "talus", "right")
    assert run(mri, obs("trauma", True, site=Site("knee", "left"))).facts.get("trauma") is None
    assert run(mri, obs("trauma", True, site=Site("talus", "right"))).facts["trauma"].value is True
    assert run(mri, obs("trauma", True)).facts["trauma"].value is True
    assert run(mri, obs("trauma", False)).facts["trauma"].value is False


def test_reconversion_driver_summarises_true_drivers() -> None:
    fact = run(cond("heart_failure"), obs("smoking_current", True)).facts["reconversion_driver"]
    assert fact.value is True
    assert fact.note == "heart_failure, smoker"
    assert "reconversion_driver" not in run(obs("smoking_ever", False)).facts


def test_asplenia_isoniazid_and_calcitonin_are_recognised() -> None:
    """Issue 10: valid codes for conditions and drugs that matter were reported as not recognised."""
    from bmefhir.terminology import lookup

    assert run(cond("asplenia")).facts["immunosuppressed"].value is True
    assert run(med("antituberculous", "isoniazid", "oral", "2024-01-01")).facts["antituberculous_therapy"].value
    assert run(cond("tuberculosis")).facts["known_bone_joint_infection"].value is True
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    atc = "http://www.whocc.no/atc"
    for system, code, group, concept in (
        (icd, "Z90.81", "condition", "asplenia"),
        (atc, "J04AC01", "medication", "antituberculous"),
        (atc, "H05BA01", "medication", "calcitonin"),
    ):
        mapping = lookup.concept_for(system, code, group)  # type: ignore[arg-type]
        assert mapping is not None, code
        assert mapping.concept == concept
