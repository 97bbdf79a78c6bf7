"""The example bundles: valid FHIR R4, self-contained, coded as docs/input-conventions.md says,
regenerable byte for byte, and covered by expected.yaml."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import CONDITION_CONCEPTS, FINDING_CONCEPTS, MEDICATION_CONCEPTS, OBSERVATION_CONCEPTS
from bmefhir.testing import ExamplesError, examples_dir, list_examples, load_bundle

CASES = list_examples()
NAMES = [c.name for c in CASES]

BMEFHIR = "http://bmefhir.org/fhir/CodeSystem"
LATERALITY_EXT = "http://bmefhir.org/fhir/StructureDefinition/laterality"
CANDIDATES = {
    "transient_osteoporosis",
    "regional_migratory_osteoporosis",
    "osteonecrosis",
    "subchondral_insufficiency_fracture",
    "bone_marrow_reconversion",
    "inflammatory_arthritis",
    "infection",
    "neoplasm",
    "crps",
    "bone_contusion",
    "degenerative_bml",
}
# Codes the bundles may use, per system: terminology.md (section in the comment) and
# docs/input-conventions.md; bmefhir systems are checked against the concept keys.
ALLOWED: dict[str, set[str]] = {
    "http://loinc.org": {
        # §1 labs
        "1988-5",
        "4537-7",
        "30341-2",
        "62292-8",
        "11572-5",
        "26028-1",
        "3084-1",
        "6768-6",
        "17861-6",
        "2777-1",
        "2731-8",
        "2571-8",
        "718-7",
        "6690-2",
        "2160-0",
        "33959-8",
        # §2 DXA, §3 social history / pregnancy, input-conventions body temperature, §4/§9 reports
        "38267-1",
        "38263-0",
        "72166-2",
        "82810-3",
        "11884-4",
        "8310-5",
        "18748-4",
        "LP29684-5",
    },
    "http://snomed.info/sct": {
        "7771000",
        "24028007",
        "51440002",  # §6 laterality
        "52101004",
        "2667000",
        "10828004",
        "260385009",  # input-conventions present/absent, pos/neg
        "312894000",
        "401201003",
        "77386006",
        "64859006",
        "34713006",  # §5, §3, §7
        "449868002",
        "8517006",
        "266919005",
        "77176002",  # §3 smoking answers
        "26643006",
        "47625008",  # input-conventions routes
        # §6 body-structure candidates
        "24136001",
        "72696002",
        "70258002",
        "67453005",
        "80144004",
        "56459004",
        "39723000",
        "54735007",
        "22356005",
        "12611008",
        "74670003",
    },
    "http://www.nlm.nih.gov/research/umls/rxnorm": {"161", "2418", "46041", "6902", "8640"},  # §8
    "http://www.whocc.no/atc": {"N02BE01", "A11CC05", "M05BA04", "A12AX", "H02AB04", "H02AB07", "M01A"},
    # §7 E55.9; G62.9 (polyneuropathy, seed 004 context only: the adapter has no concept for it)
    "http://hl7.org/fhir/sid/icd-10-cm": {"E55.9", "G62.9"},
    "http://dicom.nema.org/resources/ontology/DCM": {"MR", "CR", "DX", "CT", "NM"},  # §4
    "http://terminology.hl7.org/CodeSystem/observation-category": {
        "laboratory",
        "imaging",
        "social-history",
        "vital-signs",
        "exam",
    },
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation": {"H", "L", "N", "POS", "NEG"},
    "http://terminology.hl7.org/CodeSystem/condition-clinical": {"active", "resolved"},
    "http://terminology.hl7.org/CodeSystem/condition-ver-status": {"confirmed"},
    "http://terminology.hl7.org/CodeSystem/condition-category": {"problem-list-item"},
    f"{BMEFHIR}/imaging-finding": set(FINDING_CONCEPTS),
    f"{BMEFHIR}/clinical-observation": set(OBSERVATION_CONCEPTS),
    f"{BMEFHIR}/body-structure": set(STRUCTURES),
    f"{BMEFHIR}/medication-class": set(MEDICATION_CONCEPTS),
    f"{BMEFHIR}/condition": set(CONDITION_CONCEPTS),
}


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]]


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) pair in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")
    yield path, node


def codings(resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, node in walk(resource):
        if isinstance(node, dict) and "system" in node and "code" in node and "value" not in node:
            yield path, node


@pytest.fixture(params=NAMES)
def bundle(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_bundle(request.param)


def test_there_are_five_seed_and_at_least_six_synthetic_cases():
    assert sum(n.startswith("seed-") for n in NAMES) == 5
    assert sum(n.startswith("synth-") for n in NAMES) >= 6


def test_bundle_and_every_resource_validate_as_r4(bundle):
    Bundle.model_validate(bundle)
    for r in resources(bundle):
        get_fhir_model_class(r["resourceType"]).model_validate(r)


def test_transaction_entries_put_stable_ids_prefixed_by_the_patient(bundle):
    assert bundle["type"] == "transaction"
    patient = resources(bundle)[0]
    assert patient["resourceType"] == "Patient"
    keys = []
    for entry in bundle["entry"]:
        r = entry["resource"]
        key = f"{r['resourceType']}/{r['id']}"
        assert entry["request"] == {"method": "PUT", "url": key}
        assert entry["fullUrl"] == key
        assert r["id"].startswith(patient["id"])
        keys.append(key)
    assert len(keys) == len(set(keys))


def test_every_reference_resolves_inside_the_bundle(bundle):
    keys = {f"{r['resourceType']}/{r['id']}" for r in resources(bundle)}
    refs = [(p, n) for r in resources(bundle) for p, n in walk(r) if p.endswith(".reference")]
    assert refs
    assert [(p, n) for p, n in refs if n not in keys] == []


def test_all_codes_come_from_the_documented_systems(bundle):
    bad = [
        (r["id"], path, c["system"], c["code"])
        for r in resources(bundle)
        for path, c in codings(r)
        if c["code"] not in ALLOWED.get(c["system"], set())
    ]
    assert bad == []


def test_imaging_findings_follow_the_profile(bundle):
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in resources(bundle)}
    findings = [
        r
        for r in resources(bundle)
        if r["resourceType"] == "Observation"
        and r["category"][0]["coding"][0]["code"] == "imaging"
        and r["code"]["coding"][0]["system"] == f"{BMEFHIR}/imaging-finding"
    ]
    for obs in findings:
        assert obs["valueCodeableConcept"]["coding"][0]["code"] in {"52101004", "2667000"}
        study = by_key[obs["derivedFrom"][0]["reference"]]
        assert study["resourceType"] == "ImagingStudy"
        assert obs["effectiveDateTime"] == study["started"]
        structure = obs["bodySite"]["coding"][0]["code"]
        assert structure in {s["bodySite"]["code"] for s in study["series"]}
        lateral = [e for e in obs.get("extension", []) if e["url"] == LATERALITY_EXT]
        if STRUCTURES[structure].joint not in (None, "spine"):
            assert len(lateral) == 1, obs["id"]


def test_seed_patients_have_the_papers_age_and_sex():
    # (sex, age, date of the presenting visit) from each paper; dates are the README anchors
    seeds = {
        "seed-000-transient-osteoporosis-hip": ("male", 44, date(2023, 3, 9)),
        "seed-001-rmo-hip-ankle-knee": ("male", 54, date(2022, 10, 17)),
        "seed-002-to-talus-to-tibia": ("male", 51, date(2021, 6, 7)),
        "seed-003-rmo-sacroiliac": ("male", 49, date(2019, 4, 8)),
        "seed-004-marrow-reconversion": ("female", 39, date(2023, 2, 20)),
    }
    for name, (sex, age, visit) in seeds.items():
        patient = resources(load_bundle(name))[0]
        born = date.fromisoformat(patient["birthDate"])
        years = visit.year - born.year - ((visit.month, visit.day) < (born.month, born.day))
        assert (patient["gender"], years) == (sex, age), name


def test_seed_001_labs_keep_the_papers_values_and_units():
    labs = {
        r["code"]["coding"][0]["code"]: r.get("valueQuantity") or r.get("valueCodeableConcept")
        for r in resources(load_bundle("seed-001-rmo-hip-ankle-knee"))
        if r["resourceType"] == "Observation" and r["category"][0]["coding"][0]["code"] == "laboratory"
    }
    expected = {
        "30341-2": (28, "mm/h"),
        "1988-5": (0.46, "mg/dL"),
        "62292-8": (14.9, "ng/mL"),
        "2571-8": (375, "mg/dL"),
        "6768-6": (56, "U/L"),
        "17861-6": (9.4, "mg/dL"),
        "2777-1": (3.5, "mg/dL"),
        "2731-8": (25.2, "pg/mL"),
    }
    for code, (value, unit) in expected.items():
        assert (labs[code]["value"], labs[code]["code"], labs[code]["system"]) == (
            value,
            unit,
            "http://unitsofmeasure.org",
        )
    assert labs["11572-5"]["coding"][0]["code"] == "260385009"


def test_seed_001_hip_bme_resolved_on_the_control_mri():
    findings = [
        (r["effectiveDateTime"], r["bodySite"]["coding"][0]["code"], r["valueCodeableConcept"]["coding"][0]["code"])
        for r in resources(load_bundle("seed-001-rmo-hip-ankle-knee"))
        if r["resourceType"] == "Observation" and r["code"].get("coding", [{}])[0].get("code") == "bone_marrow_edema"
    ]
    assert ("2022-04-18", "femoral_head", "52101004") in findings
    assert ("2022-12-16", "femoral_head", "2667000") in findings
    assert ("2022-10-19", "talus", "52101004") in findings
    assert ("2022-12-05", "medial_femoral_condyle", "52101004") in findings


def test_some_case_carries_findings_only_as_report_conclusion_codes():
    reports = [r for c in CASES for r in resources(load_bundle(c.name)) if r["resourceType"] == "DiagnosticReport"]
    assert any(r.get("conclusionCode") and r.get("imagingStudy") for r in reports)


def test_expected_json_covers_every_bundle_with_known_candidates():
    for case in CASES:
        e = case.expectation
        assert e.top, case.name
        assert set(e.top) | set(e.red_flags) | set(e.not_top) <= CANDIDATES, case.name
        assert not set(e.top) & set(e.not_top), case.name
        assert resources(load_bundle(case.name))[0]["id"] == e.patient


def test_generator_is_deterministic_and_the_committed_files_are_current(tmp_path: Path):
    script = examples_dir() / "build_examples.py"
    for out in (tmp_path / "a", tmp_path / "b"):
        subprocess.run([sys.executable, str(script), "--out", str(out)], check=True, capture_output=True)
    built = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert built == sorted([*(p.name for p in examples_dir().glob("*.json")), "expected.yaml"])
    for name in built:
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes(), name
        assert first == (examples_dir() / name).read_bytes(), f"{name} is stale: rerun build_examples.py"
        assert first.endswith(b"}\n")


# --- the loader on bad input ---------------------------------------------------------------------


def test_loader_rejects_a_directory_without_expected_json(tmp_path, monkeypatch):
    monkeypatch.setenv("BMEFHIR_EXAMPLES_DIR", str(tmp_path))
    with pytest.raises(ExamplesError, match=r"no expected\.yaml"):
        examples_dir()


def test_loader_names_a_bundle_missing_from_expected_json(tmp_path, monkeypatch):
    (tmp_path / "expected.yaml").write_text("{}")
    (tmp_path / "orphan.json").write_text(json.dumps({"resourceType": "Bundle"}))
    monkeypatch.setenv("BMEFHIR_EXAMPLES_DIR", str(tmp_path))
    with pytest.raises(ExamplesError, match=r"no entry for orphan\.json"):
        list_examples()


def test_loader_rejects_a_malformed_expectation(tmp_path, monkeypatch):
    (tmp_path / "expected.yaml").write_text(json.dumps({"a.json": {"patient": "p", "top": "osteonecrosis"}}))
    (tmp_path / "a.json").write_text(json.dumps({"resourceType": "Bundle"}))
    monkeypatch.setenv("BMEFHIR_EXAMPLES_DIR", str(tmp_path))
    with pytest.raises(ExamplesError, match=r"\.top must be a list"):
        list_examples()


def test_load_bundle_unknown_name_lists_the_known_ones():
    with pytest.raises(ExamplesError, match="seed-000-transient-osteoporosis-hip"):
        load_bundle("no-such-case")
    assert load_bundle("seed-000-transient-osteoporosis-hip.json")["type"] == "transaction"
