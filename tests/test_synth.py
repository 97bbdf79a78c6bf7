"""bmefhir.synth: seeded and deterministic; realistic records are valid US Core-shaped FHIR R4 whose
BME data the record builder finds as it finds the plain patient's."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from bmefhir.derive import derive
from bmefhir.normalize import build_record
from bmefhir.synth import SCENARIOS, synth_cohort, synth_patient

TODAY = datetime(2026, 11, 1, tzinfo=UTC).date()
SCENARIO_INDEX = {s: i for i, s in enumerate(SCENARIOS)}


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


def test_plain_patients_are_unchanged_by_the_realistic_option() -> None:
    assert synth_patient(3, seed=5, resources=40) == synth_patient(3, seed=5, resources=40, realistic=False)
    assert [r["resourceType"] for r in synth_patient(3, seed=5, resources=40)].count("MedicationRequest") == 0


@pytest.mark.parametrize("size", [100, 1000])
def test_realistic_patient_is_deterministic_sized_and_patient_first(size: int) -> None:
    first = synth_patient(4, seed=2, resources=size, realistic=True)
    assert first == synth_patient(4, seed=2, resources=size, realistic=True)
    assert first != synth_patient(4, seed=3, resources=size, realistic=True)
    assert len(first) == size
    assert first[0]["resourceType"] == "Patient"
    kinds = Counter(r["resourceType"] for r in first)
    for kind in ("Encounter", "Observation", "Condition", "MedicationRequest", "DocumentReference"):
        assert kinds[kind] > 0, kinds
    assert "MedicationStatement" not in kinds
    assert kinds["Observation"] > size // 3  # most of a real record is vital signs and labs


def test_every_realistic_resource_is_valid_r4_and_every_reference_resolves() -> None:
    resources = synth_patient(0, resources=600, realistic=True)
    ids = {f"{r['resourceType']}/{r['id']}" for r in resources}
    assert len(ids) == len(resources)
    for r in resources:
        get_fhir_model_class(r["resourceType"]).model_validate(r)
        assert set(_references(r)) <= ids, r["id"]


def test_us_core_shapes_of_the_realistic_record() -> None:
    resources = synth_patient(2, resources=400, realistic=True)
    vitals = [
        r
        for r in resources
        if r["resourceType"] == "Observation" and r["category"][0]["coding"][0]["code"] == "vital-signs"
    ]
    assert {r["code"]["coding"][0]["code"] for r in vitals} >= {"85354-9", "8867-4", "8310-5"}
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    assert {c["category"][0]["coding"][0]["code"] for c in conditions} == {"problem-list-item", "encounter-diagnosis"}
    assert all(c["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm" for c in conditions)
    orders = [r for r in resources if r["resourceType"] == "MedicationRequest"]
    assert all({"dosageInstruction", "dispenseRequest", "authoredOn", "requester"} <= r.keys() for r in orders)
    immunizations = [r for r in resources if r["resourceType"] == "Immunization"]
    assert immunizations
    assert {i["vaccineCode"]["coding"][0]["system"] for i in immunizations} == {"http://hl7.org/fhir/sid/cvx"}


def _record_view(resources: list[dict[str, Any]]) -> tuple[Any, ...]:
    record = build_record(resources)
    facts = derive(record, TODAY).facts
    findings = sorted((f.concept, f.present, repr(f.site), f.date) for f in record.findings)
    steroid = {k: v.value for k, v in facts.items() if k.startswith("glucocorticoid")}
    conditions = sorted({c.concept for c in record.conditions})
    return findings, steroid, conditions


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_buried_bme_data_is_read_as_in_the_plain_patient(scenario: str) -> None:
    i = SCENARIO_INDEX[scenario]
    plain_findings, plain_steroid, plain_conditions = _record_view(synth_patient(i, resources=60))
    findings, steroid, conditions = _record_view(synth_patient(i, resources=800, realistic=True))
    assert findings == plain_findings
    assert steroid == plain_steroid  # refills as dispense requests give the same course; the order in error is not read
    # The unrelated history (hypertension, asthma, reflux, check-ups) maps to no condition concept.
    assert conditions == plain_conditions


def test_withdrawn_orders_and_refuted_diagnoses_are_in_the_record_but_not_used() -> None:
    resources = synth_patient(0, resources=300, realistic=True)  # transient osteoporosis
    in_error = [r for r in resources if r["resourceType"] == "MedicationRequest" and r["status"] == "entered-in-error"]
    refuted = [r for r in resources if r.get("verificationStatus", {}).get("coding", [{}])[0].get("code") == "refuted"]
    assert in_error
    assert refuted
    record = build_record(resources)
    used = {m.ref for m in record.medications} | {c.ref for c in record.conditions}
    assert not used & {f"{r['resourceType']}/{r['id']}" for r in in_error + refuted}


def test_cohort_passes_scenario_and_realistic_through() -> None:
    cohort = list(synth_cohort(3, seed=1, resources=80, scenario="infection", realistic=True))
    assert [pid for pid, _ in cohort] == [f"synth-1-{i:06d}" for i in range(3)]
    for i, (_, res) in enumerate(cohort):
        assert res == synth_patient(i, seed=1, resources=80, scenario="infection", realistic=True)
