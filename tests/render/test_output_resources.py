"""Every output resource has a narrative; the data-quality issues travel inside the DiagnosticReport."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from bmefhir.fhir.files import read_bundle
from bmefhir.pipeline import analyse, process_patient
from bmefhir.record import DataQualityIssue, ImagingFinding, PatientInfo, PatientRecord, Site, SourceRef
from bmefhir.render.bundle import collection_bundle, render_outputs
from bmefhir.render.content_hash import content_hash
from bmefhir.testing.examples import list_examples, list_text_examples

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ISSUES = (
    DataQualityIssue("warning", "value", "Observation/lab1", "Observation.valueQuantity", "unit 'foo' unknown"),
    DataQualityIssue("error", "incomplete", "Bundle.entry[3]", "", "search for Condition failed (HTTP 500)"),
)


def _record(issues: tuple[DataQualityIssue, ...] = ()) -> PatientRecord:
    finding = ImagingFinding(
        ref="Observation/f1",
        concept="bone_marrow_edema",
        present=True,
        site=Site("femoral_head", "right"),
        date=date(2026, 9, 1),
        modality="MR",
    )
    return PatientRecord(
        patient=PatientInfo(ref="Patient/p1", birth_date=date(1980, 1, 1), sex="male"),
        findings=(finding,),
        sources=(SourceRef("Observation/f1", "3"), SourceRef("Patient/p1", "1")),
        issues=issues,
    )


def _validate(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_data_quality_issues_are_contained_in_the_diagnostic_report() -> None:
    outputs = render_outputs(analyse(_record(ISSUES), NOW))
    dr = outputs.diagnostic_report
    _validate(dr)
    contained = dr["contained"]
    assert [c["resourceType"] for c in contained] == ["DetectedIssue", "DetectedIssue"]
    assert [c["severity"] for c in contained] == ["moderate", "high"]
    first, second = contained
    # dom-3: each refers to its container; an issue about an input names that input too.
    assert first["implicated"][0] == {"reference": "Observation/lab1"}
    assert {"reference": "#", "display": "this report"} in first["implicated"]
    assert second["implicated"] == [{"reference": "#", "display": "this report"}]
    assert "unit 'foo' unknown" in first["detail"]
    assert first["patient"] == {"reference": "Patient/p1"}
    assert all(c["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">') for c in contained)
    # The clinician reads them where the report is read: its narrative (and so presentedForm).
    assert "search for Condition failed (HTTP 500)" in dr["text"]["div"]
    assert "Data-quality issues of the input (2)" in dr["text"]["div"]


def test_no_issues_no_contained_resources() -> None:
    dr = render_outputs(analyse(_record(), NOW)).diagnostic_report
    assert "contained" not in dr
    assert "Data-quality" not in dr["text"]["div"]


def test_issues_are_part_of_the_content_hash() -> None:
    assert content_hash(analyse(_record(ISSUES), NOW)) != content_hash(analyse(_record(), NOW))
    assert content_hash(analyse(_record(ISSUES), NOW)) == content_hash(analyse(_record(ISSUES), NOW))


def test_device_and_operation_outcome_have_narratives() -> None:
    outputs = render_outputs(analyse(_record(ISSUES), NOW))
    for resource in (outputs.device, outputs.data_quality):
        _validate(resource)
        assert resource["text"]["status"] == "generated"
    assert "unit &#x27;foo&#x27; unknown" in outputs.data_quality["text"]["div"]


@pytest.mark.parametrize(
    "case", [*list_examples(), *list_text_examples()], ids=lambda c: f"{c.path.parent.name}/{c.name}"
)
def test_every_output_resource_of_every_example_has_a_narrative(case: Any) -> None:
    (raw,) = list(read_bundle(case.path))
    result = process_patient(raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues)
    for entry in collection_bundle(result.outputs)["entry"]:
        resource = entry["resource"]
        text = resource.get("text")
        assert text, resource["resourceType"]
        assert text["status"] == "generated", resource["resourceType"]
        assert text["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        for inner in resource.get("contained", []):
            assert inner["text"]["div"], inner["resourceType"]


def _references(resource: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(resource, dict):
        if isinstance(resource.get("reference"), str):
            found.add(resource["reference"].split("/_history/")[0])
        for value in resource.values():
            found |= _references(value)
    elif isinstance(resource, list):
        for value in resource:
            found |= _references(value)
    return found


def test_outputs_cite_what_the_conclusions_used_not_every_input() -> None:
    """Issue 11: an input nothing concludes from is read but not referenced; a new version of it
    changes no content hash (so write-back skips); what the criteria cite is referenced."""
    case = next(c for c in list_examples() if c.name.startswith("seed-001"))
    (raw,) = list(read_bundle(case.path))
    plain = process_patient(raw.resources, NOW, patient_id=raw.patient_id)

    def cited(outputs: Any) -> set[str]:
        report = {k: v for k, v in outputs.diagnostic_report.items() if k != "contained"}  # data-quality issues
        parts = (report, outputs.clinical_impression, outputs.risk_assessment, outputs.provenance)
        return set().union(*(_references(r) for r in parts))

    sources = {s.ref for s in plain.analysis.record.sources}
    unused = sorted(sources - cited(plain.outputs))
    assert unused, "seed-001 has inputs no conclusion cites"
    kind, rid = unused[0].split("/")
    bumped = [
        {**r, "meta": {**r.get("meta", {}), "versionId": "7"}} if (r["resourceType"], r.get("id")) == (kind, rid) else r
        for r in raw.resources
    ]
    again = process_patient(bumped, NOW, patient_id=raw.patient_id)
    assert unused[0] in {s.ref for s in again.analysis.record.sources}
    assert unused[0] not in cited(again.outputs)
    assert again.outputs.content_hash == plain.outputs.content_hash  # nothing the outputs say changed
    top = plain.analysis.differential.ranking[0]
    evidence = {r for h in top.supporting for r in h.evidence}
    assert evidence
    assert evidence <= cited(plain.outputs)
    entities = {e["what"]["reference"].split("/_history/")[0] for e in plain.outputs.provenance["entity"]}
    assert evidence <= entities


def test_information_issues_are_one_detected_issue_per_kind_naming_every_input_without_referencing_it() -> None:
    unused = tuple(
        DataQualityIssue("information", "code-invalid", f"Observation/v{i}", "Observation.code", "code not recognised")
        for i in range(3)
    )
    lone = DataQualityIssue("information", "not-supported", "DocumentReference/d1", "DocumentReference.type", "no")
    contained = render_outputs(analyse(_record((*unused, ISSUES[0], lone)), NOW)).diagnostic_report["contained"]
    assert [c["severity"] for c in contained] == ["moderate", "low", "low"]
    warning, grouped, single = contained
    assert warning["implicated"][0] == {"reference": "Observation/lab1"}  # a warning still references its input
    # Inputs read but not used are not evidence: named in the detail, not referenced.
    assert grouped["implicated"] == single["implicated"] == [{"reference": "#", "display": "this report"}]
    assert grouped["detail"] == (
        "code not recognised (3): Observation/v0 Observation.code; Observation/v1 Observation.code; "
        "Observation/v2 Observation.code"
    )
    assert single["detail"] == "DocumentReference/d1 DocumentReference.type: no"
    assert [c["id"] for c in contained] == ["dq1", "dq2", "dq3"]
