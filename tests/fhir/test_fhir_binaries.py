"""Report text behind attachment urls: Binaries fetched (one batch), grouped from files, prefetched."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import respx
from fhir_helpers import BASE, batch_response, entry, fhir_json, outcome, searchset

from bmefhir.fhir import FhirClient, fetch_patient, read_bulk_ndjson, read_bundle
from bmefhir.fhir.binaries import binary_id
from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES
from bmefhir.fhir.prefetch import prefetch_templates
from bmefhir.normalize import build_record

PATIENT = {"resourceType": "Patient", "id": "p1"}
TEXT = "MRI right ankle: bone marrow edema of the talus."


def binary(rid: str, patient: str | None = None) -> dict[str, Any]:
    res = {
        "resourceType": "Binary",
        "id": rid,
        "contentType": "text/plain",
        "data": base64.b64encode(TEXT.encode()).decode(),
    }
    return res | ({"securityContext": {"reference": f"Patient/{patient}"}} if patient else {})


def document(rid: str, url: str, patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": rid,
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "24538-1"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "date": "2024-03-02",
        "content": [{"attachment": {"contentType": "text/plain", "url": url}}],
    }


def report(rid: str, url: str) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "18748-4"}]},
        "subject": {"reference": "Patient/p1"},
        "presentedForm": [{"contentType": "text/plain", "url": url}],
    }


def data_batch(*found: dict[str, Any]) -> httpx.Response:
    """The patient batch: Patient, the searches (``found`` in DiagnosticReport / DocumentReference), no outputs."""
    searches = {kind: [r for r in found if r["resourceType"] == kind] for kind in PATIENT_SEARCHES}
    return batch_response(
        entry(searchset([PATIENT])),  # the Patient search (with our outputs: none here)
        *(entry(searchset(searches[kind])) for kind in PATIENT_SEARCHES),
    )


def test_binaries_of_attachments_fetched_in_one_batch_and_counted(client: FhirClient, router: respx.MockRouter) -> None:
    doc = document("doc1", "Binary/b1")
    dr = report("dr1", f"{BASE}/Binary/b2/_history/1")
    foreign = document("doc2", "https://elsewhere.example/fhir/Binary/b3")
    route = router.post("/").mock(
        side_effect=[
            data_batch(dr, doc, foreign),
            batch_response(entry(binary("b1")), entry(None, "404 Not Found", outcome("gone", code="not-found"))),
        ]
    )
    raw = fetch_patient(client, "p1", strategy="searches")

    assert route.call_count == 2
    assert raw.requests == 2
    sent = json.loads(route.calls.last.request.content)
    assert [e["request"] for e in sent["entry"]] == [
        {"method": "GET", "url": "Binary/b1"},
        {"method": "GET", "url": "Binary/b2"},
    ]
    assert "Binary/b1" in [f"{r['resourceType']}/{r['id']}" for r in raw.resources]
    by_ref = {(i.resource, i.element): i for i in raw.issues}
    missing = by_ref[("DiagnosticReport/dr1", "DiagnosticReport.presentedForm[0]")]
    assert missing.severity == "warning"
    assert "404" in missing.message
    other = by_ref[("DocumentReference/doc2", "DocumentReference.content[0].attachment")]
    assert "another server" in other.message
    assert len(raw.issues) == 2

    # The record reads the fetched Binary's text and carries the fetch issues.
    record = build_record(raw.resources, patient_id="p1", source_issues=raw.issues)
    assert "Binary/b1" in [s.ref for s in record.sources]
    assert ("DiagnosticReport/dr1", "DiagnosticReport.presentedForm[0]") in {
        (i.resource, i.element) for i in record.issues
    }


def test_failed_binary_batch_is_an_issue_and_the_patient_is_returned(
    client: FhirClient, router: respx.MockRouter
) -> None:
    router.post("/").mock(
        side_effect=[
            data_batch(document("doc1", "Binary/b1")),
            fhir_json(outcome("batch not allowed"), status=400),
        ]
    )
    raw = fetch_patient(client, "p1", strategy="searches")
    assert [r["resourceType"] for r in raw.resources] == ["Patient", "DocumentReference"]
    (found,) = raw.issues
    assert (found.resource, found.element) == ("DocumentReference/doc1", "DocumentReference.content[0].attachment")
    assert "report text not read" in found.message


def test_no_attachment_urls_costs_no_request(client: FhirClient, router: respx.MockRouter) -> None:
    route = router.post("/").mock(return_value=data_batch())
    raw = fetch_patient(client, "p1", strategy="searches")
    assert route.call_count == 1
    assert raw.requests == 1


def test_binary_id_only_for_relative_or_same_server_urls() -> None:
    base = httpx.URL(BASE + "/")
    assert binary_id("Binary/b1", base) == "b1"
    assert binary_id(f"{BASE}/Binary/b1/_history/2", base) == "b1"
    assert binary_id("https://other.test/r4/Binary/b1", base) is None
    assert binary_id(f"{BASE}/DocumentReference/b1", base) is None


def test_prefetch_templates_include_document_reference() -> None:
    assert prefetch_templates()["DocumentReference"] == "DocumentReference?patient={{context.patientId}}&_count=500"


def test_bundle_file_groups_a_binary_with_the_patient_whose_report_points_at_it(tmp_path: Path) -> None:
    other = {"resourceType": "Patient", "id": "p2"}
    resources = [
        PATIENT,
        other,
        document("doc1", "Binary/b1"),
        binary("b1"),  # no subject: goes with p1, whose document points at it
        binary("b2", patient="p2"),  # securityContext names its patient
        binary("b3"),  # nobody's
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    path = tmp_path / "b.json"
    path.write_bytes(orjson.dumps(bundle))
    source = read_bundle(path)
    patients = {p.patient_id: [f"{r['resourceType']}/{r['id']}" for r in p.resources] for p in source}
    assert patients == {
        "p1": ["Patient/p1", "DocumentReference/doc1", "Binary/b1"],
        "p2": ["Patient/p2", "Binary/b2"],
    }
    assert [pr.issue.resource for pr in source.problems] == ["Binary/b3"]


def test_bulk_ndjson_groups_a_binary_with_its_report(tmp_path: Path) -> None:
    (tmp_path / "Patient.ndjson").write_text(json.dumps(PATIENT) + "\n")
    (tmp_path / "DocumentReference.ndjson").write_text(json.dumps(document("doc1", f"{BASE}/Binary/b1")) + "\n")
    (tmp_path / "Binary.ndjson").write_text(json.dumps(binary("b1")) + "\n")
    (raw,) = list(read_bulk_ndjson(tmp_path))
    assert [r["resourceType"] for r in raw.resources] == ["Patient", "DocumentReference", "Binary"]
