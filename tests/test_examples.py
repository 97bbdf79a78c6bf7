"""The example bundles: valid FHIR R4, self-contained, coded as docs/input-conventions.md says,
regenerable byte for byte, and covered by expected.yaml."""

from __future__ import annotations

import base64
import html
import json
import re
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
from bmefhir.differential.knowledge_base import load_knowledge
from bmefhir.testing import ExamplesError, examples_dir, list_examples, list_text_examples, load_bundle

CASES = list_examples()
NAMES = [c.name for c in CASES]
TEXT_CASES = list_text_examples()
# Every bundle, coded and text-only: ("coded", name) / ("text", name).
FORMS = [("coded", n) for n in NAMES] + [("text", c.name) for c in TEXT_CASES]

BMEFHIR = "http://bmefhir.org/fhir/CodeSystem"
LATERALITY_EXT = "http://bmefhir.org/fhir/StructureDefinition/laterality"
FINDING_SYSTEM = f"{BMEFHIR}/imaging-finding"
CANDIDATES = {c.code for c in load_knowledge().candidates}
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
        "24538-1",  # §4b MR Ankle (text-only forms)
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
    "http://terminology.hl7.org/CodeSystem/v2-0074": {"SP"},  # input-conventions: pathology report (histology)
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


@pytest.fixture(params=FORMS, ids=[f"{form}/{name}" for form, name in FORMS])
def bundle(request: pytest.FixtureRequest) -> dict[str, Any]:
    form, name = request.param
    return load_bundle(name, text=form == "text")


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
    refs = [(p, n) for r in resources(bundle) for p, n in walk(r) if p.endswith((".reference", "presentedForm[0].url"))]
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
        structure = obs["bodySite"]["coding"][0]["code"]
        if "derivedFrom" in obs:
            study = by_key[obs["derivedFrom"][0]["reference"]]
            assert study["resourceType"] == "ImagingStudy"
            assert obs["effectiveDateTime"] == study["started"]
            assert structure in {s["bodySite"]["code"] for s in study["series"]}
        else:  # the source does not say how it was imaged (input-conventions: no modality): no study at all
            assert "partOf" not in obs, obs["id"]
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
    built = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*") if p.is_file())
    committed = [p.relative_to(examples_dir()).as_posix() for p in examples_dir().rglob("*.json")]
    assert built == sorted([*committed, "expected.yaml", "text/expected.yaml"])
    assert len(built) == 2 * len(CASES) + 2
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


# --- the text-only forms ---------------------------------------------------------------------------

HEADERS = {  # docs/report-text.md §Sections, in each language the reports are written in
    "en": ("Clinical information", "Technique", "Findings", "Impression"),
    "tr": ("Klinik bilgi", "Teknik", "Bulgular", "Sonuç"),
    "zh": ("临床资料", "检查方法", "影像所见", "诊断意见"),
}
LANGUAGES = {"seed-000": "tr", "seed-001": "tr", "seed-002": "en", "seed-003": "en", "seed-004": "zh"}


def is_pathology(r: dict[str, Any]) -> bool:
    return r["resourceType"] == "DiagnosticReport" and r["category"][0]["coding"][0]["code"] == "SP"


def report_texts(bundle: dict[str, Any]) -> dict[str, tuple[str, str, str | None, str | None]]:
    """Radiology report ref → (shape, decoded text with markup stripped, attachment language, study ref or
    None when the report names no study)."""
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in resources(bundle)}
    out = {}
    for key, r in by_key.items():
        if r["resourceType"] == "DiagnosticReport" and not is_pathology(r):
            att, shape = r["presentedForm"][0], "plain"
            study = r["imagingStudy"][0]["reference"] if "imagingStudy" in r else None
        elif r["resourceType"] == "DocumentReference":
            att, shape = r["content"][0]["attachment"], "docref"
            study = r["context"]["related"][0]["reference"] if "related" in r["context"] else None
        else:
            continue
        data = att.get("data")
        if "url" in att:
            shape, data = "binary", by_key[att["url"]]["data"]
        text = base64.b64decode(data).decode("utf-8")
        if att["contentType"].startswith("text/html"):
            shape, text = "html", html.unescape(re.sub(r"<[^>]+>", "\n", text))
        out[key] = (shape, text, att.get("language"), study)
    return out


def test_text_cases_are_the_coded_cases_with_the_same_conclusions():
    assert [c.name for c in TEXT_CASES] == NAMES
    for coded, text in zip(CASES, TEXT_CASES, strict=True):
        assert text.expectation.patient == coded.expectation.patient + "-text"
        assert (text.expectation.top, text.expectation.red_flags, text.expectation.not_top) == (
            coded.expectation.top,
            coded.expectation.red_flags,
            coded.expectation.not_top,
        )


@pytest.mark.parametrize("name", NAMES)
def test_text_form_keeps_the_data_and_replaces_every_coded_finding_by_one_report_per_study(name):
    coded, text = resources(load_bundle(name)), resources(load_bundle(name, text=True))
    suffix = text[0]["id"].removeprefix(coded[0]["id"])
    assert suffix == "-text"

    def key(r):
        return r["resourceType"], r["id"].removeprefix(coded[0]["id"]).removeprefix(suffix)

    findings = [
        r
        for r in coded
        if (r["resourceType"] == "DiagnosticReport" and not is_pathology(r))
        or (r["resourceType"] == "Observation" and r["code"].get("coding", [{}])[0].get("system") == FINDING_SYSTEM)
    ]
    kept = {key(r) for r in coded} - {key(r) for r in findings}
    assert kept == {
        key(r)
        for r in text
        if r["resourceType"] not in ("DocumentReference", "Binary")
        and not (r["resourceType"] == "DiagnosticReport" and not is_pathology(r))
    }
    assert not [r for r in text if r["resourceType"] == "Observation" and r in findings]
    assert (text[0]["name"], text[0]["birthDate"]) == (coded[0]["name"], coded[0]["birthDate"])
    # A pathology report is not imaging: kept coded, as it is (its text is not read either way).
    assert [r["conclusionCode"] for r in coded if is_pathology(r)] == [
        r["conclusionCode"] for r in text if is_pathology(r)
    ]
    studies_with_findings = sorted(
        {
            refs[0]["reference"].replace(coded[0]["id"], text[0]["id"], 1) if refs else ""
            for r in findings
            for refs in [r.get("derivedFrom", []) + r.get("imagingStudy", [])]
        }
    )
    written = report_texts(load_bundle(name, text=True))
    assert sorted(study or "" for *_, study in written.values()) == studies_with_findings


@pytest.mark.parametrize("case", TEXT_CASES, ids=NAMES)
def test_every_report_is_a_final_radiology_report_with_headers_and_a_clinical_question(case):
    bundle = load_bundle(case.name, text=True)
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in resources(bundle)}
    for ref, (_, text, language, study) in report_texts(bundle).items():
        r = by_key[ref]
        kind = "type" if r["resourceType"] == "DocumentReference" else "code"
        assert r[kind]["coding"][0]["code"] in {"18748-4", "24538-1"}
        assert r["category"][0]["coding"][0]["code"] == "LP29684-5"
        assert r.get("status") == "final" or r.get("docStatus") == "final"
        when = r.get("effectiveDateTime") or r["context"]["period"]["start"]
        if study is not None:
            assert when == by_key[study]["started"]
        lang = (language or "").split("-")[0] or next(code for code, (first, *_) in HEADERS.items() if first in text)
        positions = [text.find(h) for h in HEADERS[lang]]
        assert -1 not in positions, (ref, positions)
        assert positions == sorted(positions), (ref, positions)
        clinical = text[positions[0] : positions[1]]
        assert re.search(r"\?|r/o|Evaluate for|排除", clinical), ref
        if r["resourceType"] == "DiagnosticReport":
            assert r["conclusion"] in text[positions[3] :]
            assert r["conclusion"].strip()


def test_text_forms_vary_language_and_attachment_shape():
    shapes, languages, untagged, docref_cases = set(), {}, 0, 0
    for case in TEXT_CASES:
        reports = report_texts(load_bundle(case.name, text=True))
        shapes |= {shape for shape, *_ in reports.values()}
        docref_cases += any(shape == "docref" for shape, *_ in reports.values())
        tags = {language for _, _, language, _ in reports.values()}
        untagged += None in tags
        texts = " ".join(text for _, text, *_ in reports.values())
        languages[case.name] = next(code for code, (first, *_) in HEADERS.items() if first in texts)
    assert shapes == {"plain", "html", "binary", "docref"}
    assert docref_cases >= 2
    assert 1 <= untagged < len(TEXT_CASES) // 2
    for name, language in languages.items():
        assert language == LANGUAGES.get(name[:8], language), name
    synth = [lang for name, lang in languages.items() if name.startswith("synth-")]
    assert min(synth.count("tr"), synth.count("zh")) >= 2
    assert synth.count("en") > len(synth) // 3


def test_seed_001_text_says_the_hip_bme_resolved_on_the_control_mri():
    reports = report_texts(load_bundle("seed-001-rmo-hip-ankle-knee", text=True))
    (control,) = [text for _, text, _, study in reports.values() if study.endswith("-mri-4")]
    findings = control[control.index("Bulgular") : control.index("Sonuç")]
    assert "sağ femur başı ve femur boynunda kemik iliği ödemi izlenmedi" in findings
    assert "izlendi" not in findings  # nothing affirmed on the control MRI
    (first,) = [text for _, text, _, study in reports.values() if study.endswith("-mri-1")]
    assert "Sağ femur başı ve femur boynunda yaygın kemik iliği ödemi izlendi." in first
