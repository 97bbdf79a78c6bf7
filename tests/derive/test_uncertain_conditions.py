"""Unconfirmed diagnoses (verificationStatus unconfirmed / provisional / differential, unverified health
concerns) count like hedged report text: a fact resting only on them is uncertain and weighs less."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bmefhir.differential.model import CriterionHit
from bmefhir.pipeline import process_patient
from bmefhir.synth import synth_patient

from .builders import cond, run

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_a_fact_resting_only_on_an_unconfirmed_diagnosis_is_uncertain() -> None:
    provisional = replace(cond("sickle_cell_disease", "2020-01-01"), uncertain=True)
    fact = run(provisional).facts["sickle_cell"]
    assert (fact.value, fact.uncertain, fact.evidence) == (True, True, (provisional.ref,))
    assert run(cond("sickle_cell_disease", "2020-01-01")).facts["sickle_cell"].uncertain is False


def test_a_confirmed_source_keeps_the_fact_certain() -> None:
    provisional = replace(cond("sickle_cell_disease", "2020-01-01"), ref="Condition/prov", uncertain=True)
    confirmed = replace(cond("sickle_cell_disease", "2021-01-01"), ref="Condition/conf")
    fact = run(provisional, confirmed).facts["sickle_cell"]
    assert fact.uncertain is False
    assert set(fact.evidence) == {"Condition/prov", "Condition/conf"}


def _coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def _sickle_cell(verification: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "scd",
        "category": [_coded("condition-category", "problem-list-item")],
        "clinicalStatus": _coded("condition-clinical", "active"),
        "verificationStatus": _coded("condition-ver-status", verification),
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D57.1"}]},
        "subject": {"reference": "Patient/synth-0-000002"},
        "onsetDateTime": "2010-01-01",
    }


def _hit(verification: str) -> CriterionHit:
    result = process_patient([*synth_patient(2), _sickle_cell(verification)], NOW).analysis.differential
    (hit,) = [h for c in result.ranking if c.code == "osteonecrosis" for h in c.supporting if "sickle_cell" in h.facts]
    return hit


def test_a_provisional_diagnosis_counts_with_the_weight_of_hedged_text() -> None:
    confirmed, provisional = _hit("confirmed"), _hit("provisional")
    assert (confirmed.uncertain, provisional.uncertain) == (False, True)
    assert 0 < provisional.weight < confirmed.weight
