"""The published-case benchmark: every case validates and converts; cases that pass today keep passing."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from bmefhir.pipeline import process_patient
from bmefhir.reporttext import read_report
from bmefhir.testing.cases import (
    CANDIDATES,
    NARRATIVE_LANGUAGES,
    CaseError,
    Narrative,
    NarrativeLanguage,
    PublishedCase,
    load_cases,
    parse_case,
    report_text,
    resources,
    to_bundle,
)
from bmefhir.testing.clinical import (
    CASES_DIR,
    NARRATIVE_PASSING_FILE,
    PASSING_FILE,
    categories,
    evaluate,
    load_heldout,
    load_narrative_passing,
    load_passing,
    narrative_readings,
)

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


# --- the narrative form (docs/clinical-benchmark.md §Narrative form) ----------------------------------------------
NARRATED = [(c, lang) for c in CASES for lang in c.narrative_languages]
NARRATIVE_PASSING = load_narrative_passing(CASES_DIR)
DIAGNOSIS_FILES = sorted({c.source_file for c in CASES})


def test_the_narratives_cover_the_languages_and_the_diagnoses() -> None:
    narrated = {c.id for c, _ in NARRATED}
    assert len(narrated) >= 36
    for lang in NARRATIVE_LANGUAGES:
        assert sum(1 for _, lg in NARRATED if lg == lang) >= 15, lang
    assert {c.source_file for c in CASES if c.narratives} == set(DIAGNOSIS_FILES)
    assert any(not n.labelled for c in CASES for n in c.narratives), "some reports must leave the language out"
    heldout = load_heldout(CASES_DIR, "narrative_heldout")
    assert heldout <= narrated
    assert len(narrated) // 4 <= len(heldout) <= len(narrated) // 2


@pytest.mark.parametrize(("case", "language"), NARRATED, ids=lambda x: x if isinstance(x, str) else x.id)
def test_narrative_form_converts_and_reads_without_warnings(case: PublishedCase, language: NarrativeLanguage) -> None:
    bundle = to_bundle(case, "narrative", language)
    assert bundle == to_bundle(case, "narrative", language), "conversion must be deterministic"
    res = [e["resource"] for e in bundle["entry"]]
    written = {n.study: n for n in case.narratives if n.language == language}
    reports = [r for r in res if r["resourceType"] == "DiagnosticReport"]
    assert len(reports) == len(written)
    by_text = {n.text: n for n in written.values()}
    for r in reports:
        form = r["presentedForm"][0]
        narrative = by_text[base64.b64decode(form["data"]).decode("utf-8")]
        assert form.get("language") == (language if narrative.labelled else None)
        assert "conclusion" not in r
    # studies without a narrative in this language keep their coded findings; narrated ones have none
    imaging = [
        r for r in res if r["resourceType"] == "Observation" and r["category"][0]["coding"][0]["code"] == "imaging"
    ]
    assert len(imaging) == sum(len(s.findings) for i, s in enumerate(case.studies) if i not in written)
    summary = process_patient(res, case.now).summary
    problems = [d for d in summary["data_quality"] if d["severity"] in ("error", "warning")]
    assert not problems, problems


def test_narrative_form_needs_a_narrative_in_the_language() -> None:
    case = next(c for c in CASES if c.narratives and "zh" not in c.narrative_languages)
    with pytest.raises(CaseError, match="no zh narrative"):
        to_bundle(case, "narrative", "zh")


def test_narrative_schema_errors_name_the_element() -> None:
    raw = {
        "id": "x-2",
        "citation": "c",
        "url": "http://x",
        "diagnosis": "infection",
        "basis": "culture",
        "patient": {"age": 40, "sex": "male"},
        "studies": [{"day": 0, "modality": "MR", "site": "talus", "findings": [{"concept": "bone_marrow_edema"}]}],
        "narratives": [{"study": 1, "language": "en", "text": "MRI ankle: edema of the talus."}],
    }
    with pytest.raises(CaseError, match=r"narratives\[0\]\.study: 1 is not the index"):
        parse_case(raw)
    raw["narratives"] = [{"study": 0, "language": "de", "text": "x"}]
    with pytest.raises(CaseError, match=r"narratives\[0\]\.language"):
        parse_case(raw)
    raw["narratives"] = [{"study": 0, "language": "en", "text": " "}]
    with pytest.raises(CaseError, match=r"narratives\[0\]\.text"):
        parse_case(raw)
    raw["narratives"] = [{"study": 0, "language": "en", "text": "a"}, {"study": 0, "language": "en", "text": "b"}]
    with pytest.raises(CaseError, match=r"narratives\[1\]: a second en report of study 0"):
        parse_case(raw)
    raw["narratives"] = [{"study": 0, "language": "en", "text": "a", "lang": "en"}]
    with pytest.raises(CaseError, match=r"unknown keys \['lang'\]"):
        parse_case(raw)


@pytest.mark.parametrize("item", [f"{i} {lang}" for i, lang in NARRATIVE_PASSING])
def test_listed_narrative_still_passes(item: str) -> None:
    case_id, language = item.split()
    assert case_id in BY_ID, f"{item} is in {NARRATIVE_PASSING_FILE} but not a case; rerun --narrative --write-passing"
    assert language in BY_ID[case_id].narrative_languages, (
        f"{item}: no such narrative; rerun --narrative --write-passing"
    )
    result = evaluate(BY_ID[case_id], "narrative", language)  # type: ignore[arg-type]
    assert result.passes, f"{item} regressed in narrative form: {result.failure()}"


def test_new_narrative_passes_are_listed() -> None:
    listed = set(NARRATIVE_PASSING)
    new = sorted(
        f"{c.id} {lang}" for c, lang in NARRATED if (c.id, lang) not in listed and evaluate(c, "narrative", lang).passes
    )
    assert not new, f"these narratives pass now but are not in {NARRATIVE_PASSING_FILE}: {new}"


def test_narrative_readings_compare_the_findings_with_the_facts() -> None:
    # A report that states the study's facts reads back without misses; one that leaves a fact out misses it.
    case = BY_ID["to-talus-42m-jocr"]
    study = case.studies[0]
    assert [(f.concept, f.site, f.side) for f in study.findings] == [("bone_marrow_edema", "talus", "left")]
    good = replace(
        case, narratives=(Narrative(0, "en", "MRI LEFT ANKLE\nFindings: Diffuse bone marrow edema of the talus."),)
    )
    [reading] = narrative_readings(good, "en")
    assert reading.missed == ()
    assert reading.extra == ()
    assert reading.facts == 1
    bad = replace(
        case, narratives=(Narrative(0, "en", "MRI LEFT ANKLE\nFindings: No bone marrow edema. Small joint effusion."),)
    )
    [reading] = narrative_readings(bad, "en")
    assert reading.missed == ("bone_marrow_edema @ left talus",)
    assert any(e.startswith("no bone_marrow_edema") for e in reading.extra)
    assert any(e.startswith("joint_effusion") for e in reading.extra)


def test_every_narrative_is_detected_as_its_language_without_a_hint() -> None:
    wrong = [
        (c.id, n.study, n.language, got)
        for c in CASES
        for n in c.narratives
        if (got := read_report(n.text, None).language) != n.language
    ]
    assert not wrong, wrong
