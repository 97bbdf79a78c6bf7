"""derive as a whole: every registered fact is reachable, output is deterministic and fast."""

from __future__ import annotations

from datetime import date

import pytest

import bmefhir.derive
from bmefhir.derive import derive
from bmefhir.derive.factset import FactSet
from bmefhir.derive.imaging import MORPHOLOGY_FACTS
from bmefhir.derive.registry import FACTS
from bmefhir.derive.risk import RISK_FACTOR_FACTS
from bmefhir.record import ConditionEntry, PatientRecord, Site

from .builders import TODAY, bme, cond, finding, lab, med, obs, record


def full_record() -> PatientRecord:
    """A record with data for every fact family (about 100 resources)."""
    imaging = [
        bme("2023-01-10", "femoral_head", "right"),
        bme("2023-01-10", "femoral_neck", "right"),
        bme("2023-07-10", "talus", "right"),
        bme("2023-08-25", "medial_femoral_condyle", "right"),
        bme("2023-09-10", "hip", "right", present=False),
        bme("2023-11-25", "talus", "right", present=False),
        bme("2023-11-25", "medial_femoral_condyle", "right", present=False),
        bme("2024-02-01", "talus", "right"),
        bme("2024-02-01", "ilium", "left"),
        bme("2024-02-01", "sacrum", "left"),
        bme("2024-04-01", "sacrum", "left"),  # persisting on follow-up
    ]
    morphology = [
        finding(concept, "2024-02-01", "talus", "right", present=i % 2 == 0)
        for i, concept in enumerate(sorted(MORPHOLOGY_FACTS))
    ]
    labs = [
        lab("crp", 4.6),
        lab("esr", 28.0),
        lab("wbc", 7.0),
        lab("procalcitonin", 0.1),
        lab("vitamin_d_25oh", 14.9),
        lab("tsh", 2.0),
        lab("rheumatoid_factor", None, coded="negative"),
        lab("anti_ccp", None, coded="negative"),
        lab("hla_b27", None, coded="negative"),
        lab("uric_acid", 5.0),
        lab("triglycerides", 375.0),
        lab("hemoglobin", 14.0),
        lab("calcium", 9.4),
        lab("alkaline_phosphatase", 56.0),
        lab("monoclonal_protein", 0.0),
        lab("egfr", 95.0),
    ]
    observations = [
        obs("pack_years", 20.0),
        obs("alcohol_heavy", False),
        obs("dxa_t_score", -1.1),
        obs("body_temperature", 36.8),
        obs("weight_bearing_pain"),
        obs("rest_pain", False),
        obs("night_pain_nsaid_relief", False),
        obs("sudden_onset_pain", True, "2023-07-08"),
        obs("rom_limitation_mild"),
        obs("rom_limited", False),
        obs("joint_swelling"),
        obs("skin_changes", False),
        obs("allodynia", False),
        obs("inflammatory_back_pain", False),
        obs("weight_loss", False),
        obs("trauma", False),
        obs("overuse", False),
    ]
    conditions = [
        cond(c, "2015-01-01")
        for c in (
            "heart_failure",
            "multiple_myeloma",
            "leukaemia",
            "sickle_cell_disease",
            "gaucher_disease",
            "sle",
            "hiv",
            "decompression_sickness",
            "malignancy",
            "rheumatoid_arthritis",
            "gout",
            "osteoarthritis",
            "diabetes",
            "joint_pain",
            "tuberculosis",
        )
    ] + [
        # an earlier, resolved pain episode at another joint (earlier_episode_other_joint)
        ConditionEntry("Condition/pain-left-knee", "joint_pain", date(2015, 1, 1), date(2015, 6, 1), False,
                       Site("medial_femoral_condyle", "left")),
        # a fracture of the same (right lower) limb 3 months before the first BME (fracture_same_limb_before_bme)
        ConditionEntry("Condition/fracture-right-ankle", "fracture", date(2022, 10, 1), date(2022, 12, 1), False,
                       Site("distal_fibula", "right")),
    ]  # fmt: skip
    meds = [
        med("glucocorticoid", "methylprednisolone", "intravenous", "2022-04-01"),
        med("glucocorticoid", "prednisone", "oral", "2022-04-04", "2022-10-04"),
        med("bisphosphonate", "alendronic acid", "oral", "2023-09-01"),
        med("chemotherapy", "melphalan", "oral", "2016-01-01", "2016-06-01"),
        med("antiretroviral", "tenofovir", "oral", "2015-02-01", status="active"),
        med("gcsf", "filgrastim", "subcutaneous", "2016-02-01", "2016-02-10"),
        med("antituberculous", "isoniazid", "oral", "2023-01-01", "2023-07-01"),
        med("vitamin_d", "colecalciferol", "oral", "2023-08-01", "2023-09-15"),
    ]
    items = imaging + morphology + labs + observations + conditions + meds
    filler = [lab("crp", 3.0 + i / 10, f"2024-0{1 + i % 5}-1{i % 9}") for i in range(100 - len(items))]
    return record(*items, *filler)


# Maternal facts need a woman's record (the full record is a man's): see the test below.
MATERNAL_FACTS = {"pregnancy_weeks", "postpartum_recent", "pregnancy_unverified", "breastfeeding"}


def test_a_full_record_yields_every_registered_fact() -> None:
    derived = derive(full_record(), TODAY)
    assert set(FACTS) - set(derived.facts) == MATERNAL_FACTS
    assert list(derived.facts) == [name for name in FACTS if name in derived.facts]  # registry order


def test_every_fact_has_evidence_and_a_note() -> None:
    derived = derive(full_record(), TODAY)
    for name, fact in derived.facts.items():
        assert fact.evidence, name
        assert list(fact.evidence) == sorted(set(fact.evidence)), name
        assert fact.note, name
        assert isinstance(fact.value, bool) == (FACTS[name].kind == "bool"), name


def test_empty_record_yields_only_demographics() -> None:
    derived = derive(record(), TODAY)
    assert set(derived.facts) == {
        "age_years", "paediatric", "adult", "male", "female", "middle_aged_male", "pregnancy_late_or_postpartum",
        "pregnant",
    }  # fmt: skip
    assert derived.timeline.episodes == ()
    assert derived.risk_factors == ()


def test_output_is_deterministic_and_independent_of_input_order() -> None:
    rec = full_record()
    shuffled = PatientRecord(
        rec.patient,
        rec.labs[::-1],
        rec.observations[::-1],
        rec.findings[::-1],
        rec.studies,
        rec.medications[::-1],
        rec.conditions[::-1],
    )
    assert derive(rec, TODAY) == derive(shuffled, TODAY)


def test_risk_factors_are_the_true_risk_facts_in_list_order() -> None:
    derived = derive(full_record(), TODAY)
    assert derived.risk_factors == tuple(n for n in RISK_FACTOR_FACTS if derived.facts[n].value is True)
    assert "glucocorticoid_exposure" in derived.risk_factors
    assert "trauma" not in derived.risk_factors  # recorded as no trauma
    assert set(RISK_FACTOR_FACTS) <= set(FACTS)


def test_the_analysis_date_is_an_input_not_the_clock() -> None:
    rec = full_record()
    later = derive(rec, date(2025, 6, 1)).facts
    now = derive(rec, TODAY).facts
    assert later["age_years"].value == now["age_years"].value + 1


def test_fact_set_rejects_unregistered_names_and_wrong_kinds() -> None:
    facts = FactSet()
    with pytest.raises(KeyError, match="no_such_fact"):
        facts.put("no_such_fact", True)
    with pytest.raises(TypeError, match="bme_present"):
        facts.put("bme_present", 1.0)
    with pytest.raises(TypeError, match="age_years"):
        facts.put("age_years", True)


def test_public_api() -> None:
    assert bmefhir.derive.__all__ == [
        "Caveat",
        "Derived",
        "Episode",
        "Exposure",
        "Fact",
        "LesionTimeline",
        "Migration",
        "SymptomEvent",
        "derive",
    ]


def test_a_pregnant_woman_and_a_contradicted_record_yield_the_maternal_facts() -> None:
    woman = derive(
        record(obs("gestational_age_weeks", 20.0), obs("breastfeeding", False), obs("postpartum", False), sex="female"),
        TODAY,
    )
    contradicted = derive(record(obs("pregnancy", True)), TODAY)  # a man
    assert set(woman.facts) | set(contradicted.facts) >= MATERNAL_FACTS
