"""Pregnancy, postpartum and breastfeeding from every documented encoding, and contradictions.

The first tests go from raw FHIR JSON (as an EHR sends it) through the pipeline, so that the
terminology tables, normalisation and derive are all exercised; the rest use the derive builders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bmefhir.differential.knowledge_base import load_knowledge
from bmefhir.differential.safety import contraindications_for
from bmefhir.normalize import build_record
from bmefhir.pipeline import analyse
from tests.normalize.resources import LOINC, SCT, UCUM, cc, finding

from .builders import bme, cond, obs, run

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
WOMAN = {"resourceType": "Patient", "id": "p1", "birthDate": "1990-04-02", "gender": "female"}


def observation(rid: str, code: dict[str, Any], when: str = "2024-05-20", **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": rid, "status": "final", "code": code,
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": when,
    } | value  # fmt: skip


def condition(rid: str, code: dict[str, Any], onset: str = "2024-04-01") -> dict[str, Any]:
    return {
        "resourceType": "Condition", "id": rid, "code": code, "subject": {"reference": "Patient/p1"},
        "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "onsetDateTime": onset,
    }  # fmt: skip


def facts_of(*resources: dict[str, Any], patient: dict[str, Any] = WOMAN) -> dict[str, Any]:
    record = build_record([patient, finding("bme1", "bone_marrow_edema", when="2024-05-25"), *resources])
    analysis = analyse(record, NOW)
    return {name: f.value for name, f in analysis.derived.facts.items()} | {"_issues": analysis.record.issues}


STATUS = cc(LOINC, "82810-3")
ENCODINGS = {
    "LOINC 82810-3 = LOINC answer Pregnant": observation("o1", STATUS, valueCodeableConcept=cc(LOINC, "LA15173-0")),
    "LOINC 82810-3 = SNOMED CT Pregnant": observation("o1", STATUS, valueCodeableConcept=cc(SCT, "77386006")),
    "LOINC 82810-3 = SNOMED CT third trimester": observation("o1", STATUS, valueCodeableConcept=cc(SCT, "41587001")),
    "LOINC 82810-3 = SNOMED CT second trimester": observation("o1", STATUS, valueCodeableConcept=cc(SCT, "59466002")),
    "Observation.code SNOMED CT first trimester": observation("o1", cc(SCT, "57630001")),
    "Observation.code SNOMED CT Pregnant": observation("o1", cc(SCT, "77386006")),
    "gestational age 11884-4": observation(
        "o1", cc(LOINC, "11884-4"), valueQuantity={"value": 16, "unit": "wk", "system": UCUM, "code": "wk"}
    ),
    "Condition SNOMED CT third trimester": condition("c1", cc(SCT, "41587001")),
    "Condition ICD-10-CM Z34 supervision of pregnancy": condition(
        "c1", cc("http://hl7.org/fhir/sid/icd-10-cm", "Z34.80")
    ),
}


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_every_encoding_reads_as_pregnant(name: str) -> None:
    facts = facts_of(ENCODINGS[name])
    assert facts["pregnant"] is True, name
    assert "pregnancy_unverified" not in facts


def test_the_third_trimester_is_late_pregnancy() -> None:
    assert facts_of(ENCODINGS["LOINC 82810-3 = SNOMED CT third trimester"])["pregnancy_late_or_postpartum"] is True
    assert facts_of(ENCODINGS["Condition SNOMED CT third trimester"])["pregnancy_late_or_postpartum"] is True
    second = facts_of(ENCODINGS["LOINC 82810-3 = SNOMED CT second trimester"])
    assert second.get("pregnancy_late_or_postpartum") is not True


def test_not_pregnant_answer_and_gestational_age_projection() -> None:
    assert facts_of(observation("o1", STATUS, valueCodeableConcept=cc(SCT, "60001007")))["pregnant"] is False
    ga = facts_of(ENCODINGS["gestational age 11884-4"])
    assert ga["pregnancy_weeks"] == pytest.approx(16 + 12 / 7, abs=0.1)  # projected to the analysis date


def test_postpartum_and_breastfeeding_codes() -> None:
    pp = facts_of(condition("c1", cc(SCT, "86569001"), onset="2024-03-01"))
    assert pp["postpartum_recent"] is True
    assert pp["pregnancy_late_or_postpartum"] is True
    bf = facts_of(observation("o1", cc(SCT, "169750002")))
    assert bf["breastfeeding"] is True


def test_a_man_recorded_pregnant_is_a_data_quality_issue_and_pregnancy_is_not_used() -> None:
    man = WOMAN | {"gender": "male"}
    facts = facts_of(ENCODINGS["LOINC 82810-3 = SNOMED CT Pregnant"], patient=man)
    issues = [i for i in facts["_issues"] if i.resource == "Observation/o1" and i.code == "business-rule"]
    assert issues
    assert "Patient/p1" in issues[0].message
    assert facts["pregnant"] is False
    assert facts["pregnancy_late_or_postpartum"] is False
    assert facts["pregnancy_unverified"] is True  # still a reason to withhold treatments


def test_a_man_recorded_postpartum_is_a_data_quality_issue() -> None:
    facts = facts_of(condition("c1", cc(SCT, "86569001")), patient=WOMAN | {"gender": "male"})
    assert any(i.resource == "Condition/c1" for i in facts["_issues"])


def test_pregnant_at_80_is_a_data_quality_issue() -> None:
    old = WOMAN | {"birthDate": "1944-01-01"}
    facts = facts_of(ENCODINGS["LOINC 82810-3 = SNOMED CT third trimester"], patient=old)
    assert any(i.resource == "Observation/o1" and "age" in i.message for i in facts["_issues"])
    assert "pregnant" not in facts
    assert "pregnancy_late_or_postpartum" not in facts
    assert facts["pregnancy_unverified"] is True


def test_a_birth_date_after_the_study_is_a_data_quality_issue_and_age_is_not_used() -> None:
    facts = facts_of(patient=WOMAN | {"birthDate": "2024-05-30"})  # born after the MRI of 2024-05-25
    issues = [i for i in facts["_issues"] if i.resource == "Patient/p1" and i.element == "Patient.birthDate"]
    assert issues
    assert "Observation/bme1" in issues[0].message
    assert "age_years" not in facts
    assert "paediatric" not in facts


def test_the_tester_case_third_trimester_gets_no_bisphosphonate() -> None:
    record = build_record(
        [
            WOMAN,
            finding("bme1", "bone_marrow_edema", when="2024-05-25"),
            ENCODINGS["LOINC 82810-3 = SNOMED CT third trimester"],
        ]
    )
    analysis = analyse(record, NOW)
    assert "NS-BISPHOSPHONATE" not in {n.id for n in analysis.differential.next_steps}
    kb = load_knowledge()
    reasons = contraindications_for(["bisphosphonate"], kb.contraindications, analysis.derived.facts)
    assert "CI-BISPHOSPHONATE-PREGNANCY" in {r.contraindication_id for r in reasons}
    assert reasons[0].evidence == ("Observation/o1",)


# --- derive builders -------------------------------------------------------------------------


def test_a_later_not_pregnant_status_ends_the_pregnancy() -> None:
    facts = run(obs("pregnancy", True, "2024-01-01"), obs("pregnancy", False, "2024-05-01"), sex="female").facts
    assert facts["pregnant"].value is False


def test_a_delivery_ends_the_pregnancy() -> None:
    facts = run(obs("pregnancy", True, "2024-01-01"), obs("postpartum", True, "2024-04-01"), sex="female").facts
    assert "pregnant" not in facts
    assert facts["postpartum_recent"].value is True


def test_a_pregnancy_more_than_42_weeks_ago_is_over() -> None:
    assert "pregnant" not in run(obs("pregnancy", True, "2023-01-01"), sex="female").facts


def test_a_stale_breastfeeding_record_is_not_current() -> None:
    assert "breastfeeding" not in run(obs("breastfeeding", True, "2023-01-01"), sex="female").facts
    assert run(cond("breastfeeding", "2024-03-01"), sex="female").facts["breastfeeding"].value is True


def test_third_trimester_at_the_bme_date() -> None:
    items = (obs("pregnancy_third_trimester", True, "2024-02-20"), bme("2024-03-01", "femoral_head", "left"))
    assert run(*items, sex="female").facts["pregnancy_late_or_postpartum"].value is True


def test_a_negative_pregnancy_test_by_text_is_not_read_as_pregnant() -> None:
    """No text fallback for pregnancy Observations: a text-only code with a negative answer must not count."""
    test = observation("o1", {"text": "Pregnancy test, urine"}, valueCodeableConcept=cc(SCT, "260385009"))
    status = observation("o2", {"text": "Pregnancy status"}, valueCodeableConcept=cc(SCT, "60001007"))
    facts = facts_of(test, status)
    assert facts.get("pregnant") is not True
