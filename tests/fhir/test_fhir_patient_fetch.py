from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from fhir_helpers import BASE, fhir_json, outcome, searchset

from bmefhir.fhir import FhirClient, FhirNotFound, FhirResponseError, fetch_patient, fetch_patient_ids
from bmefhir.fhir.existing import existing_requests
from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES
from bmefhir.render import ids

PATIENT = {"resourceType": "Patient", "id": "p1"}


def entry(resource: dict[str, Any] | None, status: str = "200 OK", oo: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"response": {"status": status}}
    if resource is not None:
        result["resource"] = resource
    if oo is not None:
        result["response"]["outcome"] = oo
    return result


def batch_response(*entries: dict[str, Any]) -> httpx.Response:
    return fhir_json({"resourceType": "Bundle", "type": "batch-response", "entry": list(entries)})


def no_outputs() -> list[dict[str, Any]]:
    """The four searches for bmefhir's existing outputs, all empty."""
    return [entry(searchset([])) for _ in existing_requests("p1")]


def res(kind: str, rid: str) -> dict[str, Any]:
    return {"resourceType": kind, "id": rid, "subject": {"reference": "Patient/p1"}}


def test_one_batch_request_then_next_links_inside_entries(client: FhirClient, router: respx.MockRouter) -> None:
    batch = router.post("/").mock(
        return_value=batch_response(
            entry(PATIENT),
            entry(searchset([res("Observation", "o1")], f"{BASE}?_getpages=obs&_page=2")),
            entry(searchset([res("ImagingStudy", "i1")])),
            entry(searchset([])),
            entry(searchset([])),
            entry(searchset([res("Condition", "c1")])),
            entry(searchset([res("DiagnosticReport", "d1")])),
            entry(searchset([])),
            *no_outputs(),
        )
    )
    more = router.get("/", params={"_getpages": "obs"}).mock(
        return_value=fhir_json(searchset([res("Observation", "o2")]))
    )
    raw = fetch_patient(client, "p1", count=50)

    sent = json.loads(batch.calls.last.request.content)
    assert sent["type"] == "batch"
    assert [e["request"] for e in sent["entry"]] == [
        {"method": "GET", "url": "Patient/p1"},
        *({"method": "GET", "url": f"{kind}?patient=p1&_count=50"} for kind in PATIENT_SEARCHES),
        *({"method": "GET", "url": r.url} for r in existing_requests("p1")),
    ]
    assert batch.call_count == 1
    assert more.call_count == 1
    assert raw.requests == 2
    assert [f"{r['resourceType']}/{r['id']}" for r in raw.resources] == [
        "Patient/p1",
        "Observation/o1",
        "Observation/o2",
        "ImagingStudy/i1",
        "Condition/c1",
        "DiagnosticReport/d1",
    ]
    assert raw.issues == ()
    assert raw.existing == ()


def test_missing_patient_raises_not_found(client: FhirClient, router: respx.MockRouter) -> None:
    router.post("/").mock(
        return_value=batch_response(
            entry(None, "404 Not Found", outcome("Resource Patient/p1 is not known", code="not-found")),
            *(entry(searchset([])) for _ in PATIENT_SEARCHES),
            *no_outputs(),
        )
    )
    with pytest.raises(FhirNotFound) as info:
        fetch_patient(client, "p1")
    assert str(info.value).startswith("GET Patient/p1 → 404 Not Found: Resource Patient/p1 is not known")


def test_failed_search_entry_becomes_error_issue_and_rest_is_used(client: FhirClient, router: respx.MockRouter) -> None:
    entries = [entry(PATIENT)] + [entry(searchset([])) for _ in PATIENT_SEARCHES] + no_outputs()
    entries[5] = entry(None, "500 Internal Server Error", outcome("database timeout", code="exception"))
    entries[1] = entry(searchset([res("Observation", "o1")]))
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1")
    assert [r["id"] for r in raw.resources] == ["p1", "o1"]
    (issue,) = raw.issues
    assert issue.severity == "error"
    assert issue.resource == "Condition?patient&_count"
    assert issue.element == "Bundle.entry[5]"
    assert "500 Internal Server Error" in issue.message
    assert "database timeout" in issue.message
    assert "Condition data for this patient is missing" in issue.message


def test_medication_requests_dropped_when_statements_exist(client: FhirClient, router: respx.MockRouter) -> None:
    entries = [entry(PATIENT)] + [entry(searchset([])) for _ in PATIENT_SEARCHES] + no_outputs()
    entries[3] = entry(searchset([res("MedicationStatement", "ms1")]))
    entries[4] = entry(searchset([res("MedicationRequest", "mr1"), res("MedicationRequest", "mr2")]))
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1")
    assert [r["resourceType"] for r in raw.resources] == ["Patient", "MedicationStatement"]
    (issue,) = raw.issues
    assert issue.severity == "information"
    assert issue.message.startswith("2 MedicationRequest resource(s) not used")


def test_medication_requests_kept_without_statements(client: FhirClient, router: respx.MockRouter) -> None:
    entries = [entry(PATIENT)] + [entry(searchset([])) for _ in PATIENT_SEARCHES] + no_outputs()
    entries[4] = entry(searchset([res("MedicationRequest", "mr1")]))
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1")
    assert [r["resourceType"] for r in raw.resources] == ["Patient", "MedicationRequest"]
    assert raw.issues == ()


def test_batch_response_with_wrong_entry_count_is_a_response_error(
    client: FhirClient, router: respx.MockRouter
) -> None:
    router.post("/").mock(return_value=batch_response(entry(PATIENT)))
    with pytest.raises(FhirResponseError, match="sent 12 entries but got 1 back"):
        fetch_patient(client, "p1")


def test_fetch_patient_ids_pages_and_asks_for_ids_only(client: FhirClient, router: respx.MockRouter) -> None:
    route = router.get("/Patient", params={"page": "2"}).mock(
        return_value=fhir_json(searchset([{"resourceType": "Patient", "id": "b"}]))
    )
    first = router.get("/Patient").mock(
        return_value=fhir_json(searchset([{"resourceType": "Patient", "id": "a"}], "Patient?page=2"))
    )
    assert list(fetch_patient_ids(client, {"_lastUpdated": "gt2024-01-01"})) == ["a", "b"]
    assert first.calls.last.request.url.params["_elements"] == "id"
    assert route.call_count == 1


def own_output(kind: str, rid: str, version: str, digest: str, status: str = "preliminary") -> dict[str, Any]:
    return {
        "resourceType": kind,
        "id": rid,
        "meta": {
            "versionId": version,
            "tag": [{"system": "http://bmefhir.org/fhir/CodeSystem/content-hash", "code": digest}],
        },
        "identifier": [{"system": ids.ASSESSMENT_SYSTEM, "value": f"p1/{kind}"}],
        "status": status,
        "subject": {"reference": "Patient/p1"},
    }


def test_existing_outputs_are_kept_aside_and_never_read_as_input(client: FhirClient, router: respx.MockRouter) -> None:
    report = own_output("DiagnosticReport", "dr9", "3", "abc", status="final")
    radiology = res("DiagnosticReport", "d1")
    profiled = {**res("DiagnosticReport", "d2"), "meta": {"profile": [ids.profile_url("diagnostic-report")]}}
    finding = {**res("Observation", "o1"), "meta": {"profile": [ids.profile_url("imaging-finding")]}}
    entries = [entry(PATIENT)] + [entry(searchset([])) for _ in PATIENT_SEARCHES]
    entries[1] = entry(searchset([finding]))
    entries[6] = entry(searchset([radiology, report, profiled]))
    entries += [entry(searchset([report])), entry(searchset([])), entry(searchset([])), entry(searchset([]))]
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1")
    assert [f"{r['resourceType']}/{r['id']}" for r in raw.resources] == [
        "Patient/p1",
        "Observation/o1",
        "DiagnosticReport/d1",
    ]
    assert raw.existing is not None
    (found,) = raw.existing
    assert (found.resource_type, found.id, found.version_id) == ("DiagnosticReport", "dr9", "3")
    assert found.content_hash == "abc"
    assert found.signed


def test_failed_output_lookup_leaves_existing_unknown(client: FhirClient, router: respx.MockRouter) -> None:
    entries = [entry(PATIENT)] + [entry(searchset([])) for _ in PATIENT_SEARCHES] + no_outputs()
    entries[-1] = entry(None, "400 Bad Request", outcome("unknown parameter _id", code="invalid"))
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1")
    assert raw.existing is None
    assert raw.issues == ()  # not a data-quality problem of the patient's data
