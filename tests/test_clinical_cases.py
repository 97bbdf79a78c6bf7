"""The published-case benchmark: every case validates and converts; cases that pass today keep passing."""

from __future__ import annotations

import base64
import json

import pytest

from bmefhir.pipeline import process_patient
from bmefhir.testing.cases import (
    CANDIDATES,
    CaseError,
    PublishedCase,
    load_cases,
    parse_case,
    report_text,
    resources,
    to_bundle,
)
from bmefhir.testing.clinical import CASES_DIR, PASSING_FILE, categories, evaluate, load_heldout, load_passing

CASES = load_cases(CASES_DIR)
BY_ID = {c.id: c for c in CASES}
PASSING = load_passing(CASES_DIR)


def test_case_set_covers_every_candidate() -> None:
    assert len(CASES) >= 40
    assert {c.diagnosis for c in CASES} == set(CANDIDATES)
    assert all(c.url.startswith("http") and c.citation for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_converts_in_both_forms(case: PublishedCase) -> None:
    for form in ("coded", "text"):
        bundle = to_bundle(case, form)
        assert bundle == to_bundle(case, form), "conversion must be deterministic"
        ids = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]]
        assert len(ids) == len(set(ids)), "duplicate resource ids"
        assert all(len(rid) <= 64 for _, rid in ids)
        json.dumps(bundle)
    coded = process_patient(resources(case, "coded"), case.now).summary
    problems = [d for d in coded["data_quality"] if d["severity"] in ("error", "warning")]
    assert not problems, problems


@pytest.mark.parametrize("case", CASES[:5], ids=lambda c: c.id)
def test_text_form_carries_one_report_per_study(case: PublishedCase) -> None:
    res = resources(case, "text")
    reports = [r for r in res if r["resourceType"] == "DiagnosticReport"]
    assert len(reports) == len(case.studies)
    assert not [
        r for r in res if r["resourceType"] == "Observation" and r["category"][0]["coding"][0]["code"] == "imaging"
    ]
    texts = {base64.b64decode(r["presentedForm"][0]["data"]).decode() for r in reports}
    assert texts == {report_text(s) for s in case.studies}
    assert all(r["conclusion"] in texts for r in reports)


def test_the_final_diagnosis_is_never_encoded() -> None:
    for case in CASES:
        codes = {
            c.get("code")
            for r in resources(case)
            if r["resourceType"] == "Condition"
            for c in r["code"].get("coding", [])
        }
        assert case.diagnosis not in codes, case.id


def test_schema_errors_name_the_element() -> None:
    raw = {
        "id": "x-1",
        "citation": "c",
        "url": "http://x",
        "diagnosis": "infection",
        "basis": "culture",
        "patient": {"age": 5, "sex": "male"},
        "tags": ["child"],
        "studies": [{"day": 0, "modality": "MR", "site": "nowhere", "findings": [{"concept": "bone_marrow_edema"}]}],
    }
    with pytest.raises(CaseError, match=r"studies\[0\]\.findings\[0\]\.site"):
        parse_case(raw)
    raw["studies"][0]["site"] = "talus"  # type: ignore[index]
    raw["tags"] = []
    with pytest.raises(CaseError, match="needs tag 'child'"):
        parse_case(raw)


@pytest.mark.parametrize("case_id", PASSING)
def test_listed_case_still_passes(case_id: str) -> None:
    assert case_id in BY_ID, (
        f"{case_id} is in {PASSING_FILE} but not a case; rerun benchmarks/clinical.py --write-passing"
    )
    result = evaluate(BY_ID[case_id])
    assert result.passes, f"{case_id} regressed: {result.failure()}"


def test_new_passes_are_listed() -> None:
    listed = set(PASSING)
    new = sorted(c.id for c in CASES if c.id not in listed and evaluate(c).passes)
    assert not new, (
        f"these cases pass now but are not in benchmarks/cases/{PASSING_FILE}: {new}; "
        "update it with: PYTHONPATH=$PWD .venv/bin/python benchmarks/clinical.py --write-passing"
    )


def test_a_study_without_a_stated_modality_is_sent_without_an_imaging_study() -> None:
    case = BY_ID["neo-lymphoma-epiph-13m-crpath2018"]
    assert [s.modality for s in case.studies] == ["unknown"]
    coded = resources(case, "coded")
    assert not [r for r in coded if r["resourceType"] == "ImagingStudy"]
    findings = [r for r in coded if r["resourceType"] == "Observation" and "derivedFrom" not in r]
    assert {r["code"]["coding"][0]["code"] for r in findings} >= {"lytic_lesion", "cortical_destruction"}
    reports = [r for r in resources(case, "text") if r["resourceType"] == "DiagnosticReport"]
    assert reports
    assert all("imagingStudy" not in r for r in reports)
    summary = process_patient(coded, case.now).summary
    assert "neoplasm" in {f["candidate"] for f in summary["red_flags"]}  # the findings count without a modality


def test_the_held_out_set_names_existing_cases_and_is_reported_on_its_own() -> None:
    heldout = load_heldout(CASES_DIR)
    assert len(heldout) >= 8
    assert heldout <= set(BY_ID)
    results = [evaluate(BY_ID[i]) for i in sorted(heldout)[:3]] + [evaluate(CASES[0])]
    cats = categories(results, heldout)
    assert len(cats["set:held-out"]) == 3
    assert [r.case.id for r in cats["set:earlier"]] == [CASES[0].id]
    assert CASES[0].id not in heldout
