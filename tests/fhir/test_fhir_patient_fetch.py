from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from fhir_helpers import BASE, batch_response, entry, fhir_json, outcome, searchset

from bmefhir.fhir import FhirClient, FhirNotFound, FhirResponseError, fetch_patient, fetch_patient_ids
from bmefhir.fhir.existing import OUTPUT_TYPES
from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES
from bmefhir.render import ids

PATIENT = {"resourceType": "Patient", "id": "p1"}


def patient_entry(*included: dict[str, Any]) -> dict[str, Any]:
    """The answer to the Patient search: the Patient and whatever the server included with it."""
    page = searchset([PATIENT])
    page["entry"] += [{"resource": r, "search": {"mode": "include"}} for r in included]
    return entry(page)


def res(kind: str, rid: str) -> dict[str, Any]:
    return {"resourceType": kind, "id": rid, "subject": {"reference": "Patient/p1"}}


def test_one_batch_request_then_next_links_inside_entries(client: FhirClient, router: respx.MockRouter) -> None:
    batch = router.post("/").mock(
        return_value=batch_response(
            patient_entry(),
            entry(searchset([res("Observation", "o1")], f"{BASE}?_getpages=obs&_page=2")),
            entry(searchset([res("ImagingStudy", "i1")])),
            entry(searchset([])),
            entry(searchset([])),
            entry(searchset([res("Condition", "c1")])),
            entry(searchset([res("DiagnosticReport", "d1")])),
            entry(searchset([])),
            entry(searchset([res("Procedure", "pr1")])),
        )
    )
    more = router.get("/", params={"_getpages": "obs"}).mock(
        return_value=fhir_json(searchset([res("Observation", "o2")]))
    )
    raw = fetch_patient(client, "p1", count=50, strategy="searches")

    sent = json.loads(batch.calls.last.request.content)
    assert sent["type"] == "batch"
    # Nine server operations: the Patient with our outputs (one search), then the eight data searches.
    assert [e["request"] for e in sent["entry"]] == [
        {"method": "GET", "url": "Patient?_id=p1&_revinclude=Provenance:entity&_include:iterate=Provenance:target"},
        *({"method": "GET", "url": f"{kind}?patient=p1&_count=50"} for kind in PATIENT_SEARCHES),
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
        "Procedure/pr1",
    ]
    assert raw.issues == ()
    assert raw.existing == ()


def test_missing_patient_raises_not_found(client: FhirClient, router: respx.MockRouter) -> None:
    router.post("/").mock(
        return_value=batch_response(entry(searchset([])), *(entry(searchset([])) for _ in PATIENT_SEARCHES))
    )
    with pytest.raises(FhirNotFound) as info:
        fetch_patient(client, "p1", strategy="searches")
    assert str(info.value).startswith("GET Patient?_id&_revinclude&_include:iterate → 404 Not Found")
    assert "no Patient with this id" in str(info.value)


def test_refused_outputs_search_falls_back_to_the_patient_read(client: FhirClient, router: respx.MockRouter) -> None:
    refused = entry(None, "400 Bad Request", outcome("_revinclude is not supported", code="not-supported"))
    route = router.post("/").mock(
        side_effect=[
            batch_response(
                refused,
                entry(searchset([res("Condition", "c1")])),
                *(entry(searchset([])) for _ in PATIENT_SEARCHES[1:]),
            ),
            batch_response(entry(PATIENT)),
        ]
    )
    raw = fetch_patient(client, "p1", strategy="searches")
    assert route.call_count == 2
    assert json.loads(route.calls.last.request.content)["entry"] == [
        {"request": {"method": "GET", "url": "Patient/p1"}}
    ]
    assert [r["id"] for r in raw.resources] == ["p1", "c1"]
    assert raw.existing is None  # unknown: write-back looks again and refuses to write blind
    assert raw.issues == ()


def test_failed_search_entry_becomes_error_issue_and_rest_is_used(client: FhirClient, router: respx.MockRouter) -> None:
    entries = [patient_entry()] + [entry(searchset([])) for _ in PATIENT_SEARCHES]
    entries[5] = entry(None, "500 Internal Server Error", outcome("database timeout", code="exception"))
    entries[1] = entry(searchset([res("Observation", "o1")]))
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1", strategy="searches")
    assert [r["id"] for r in raw.resources] == ["p1", "o1"]
    (issue,) = raw.issues
    assert issue.severity == "error"
    assert issue.resource == "Condition?patient&_count"
    assert issue.element == "Bundle.entry[5]"
    assert "500 Internal Server Error" in issue.message
    assert "database timeout" in issue.message
    assert "Condition data for this patient is missing" in issue.message


def test_medication_requests_dropped_when_statements_exist(client: FhirClient, router: respx.MockRouter) -> None:
    entries = [patient_entry()] + [entry(searchset([])) for _ in PATIENT_SEARCHES]
    entries[3] = entry(searchset([res("MedicationStatement", "ms1")]))
    entries[4] = entry(searchset([res("MedicationRequest", "mr1"), res("MedicationRequest", "mr2")]))
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1", strategy="searches")
    assert [r["resourceType"] for r in raw.resources] == ["Patient", "MedicationStatement"]
    (issue,) = raw.issues
    assert issue.severity == "information"
    assert issue.message.startswith("2 MedicationRequest resource(s) not used")


def test_medication_requests_kept_without_statements(client: FhirClient, router: respx.MockRouter) -> None:
    entries = [patient_entry()] + [entry(searchset([])) for _ in PATIENT_SEARCHES]
    entries[4] = entry(searchset([res("MedicationRequest", "mr1")]))
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1", strategy="searches")
    assert [r["resourceType"] for r in raw.resources] == ["Patient", "MedicationRequest"]
    assert raw.issues == ()


def test_batch_response_with_wrong_entry_count_is_a_response_error(
    client: FhirClient, router: respx.MockRouter
) -> None:
    router.post("/").mock(return_value=batch_response(patient_entry()))
    with pytest.raises(FhirResponseError, match="sent 9 entries but got 1 back"):
        fetch_patient(client, "p1", strategy="searches")


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
        "identifier": [
            {"system": ids.ASSESSMENT_SYSTEM, "value": ids.identifier_value("Patient/p1", OUTPUT_TYPES[kind])}
        ],
        "status": status,
        "subject": {"reference": "Patient/p1"},
    }


def test_existing_outputs_are_kept_aside_and_never_read_as_input(client: FhirClient, router: respx.MockRouter) -> None:
    report = own_output("DiagnosticReport", "dr9", "3", "abc", status="final")
    radiology = res("DiagnosticReport", "d1")
    profiled = {**res("DiagnosticReport", "d2"), "meta": {"profile": [ids.profile_url("diagnostic-report")]}}
    finding = {**res("Observation", "o1"), "meta": {"profile": [ids.profile_url("imaging-finding")]}}
    provenance = {
        "resourceType": "Provenance",
        "id": ids.output_uuid("Patient/p1", "provenance"),
        "meta": {"versionId": "3"},
        "target": [{"reference": "DiagnosticReport/dr9/_history/2"}, {"reference": "ClinicalImpression/ci-other"}],
        "entity": [{"what": {"reference": "Patient/p1/_history/1"}}],
    }
    # Another system's Provenance naming the Patient, and what it points at: not ours, ignored.
    foreign = {"resourceType": "Provenance", "id": "x1", "target": [{"reference": "RiskAssessment/ra1"}]}
    foreign_ra = own_output("RiskAssessment", "ra1", "1", "zzz")
    # A ClinicalImpression our Provenance names but that carries another patient's identifier: ignored.
    other_ci = {
        **own_output("ClinicalImpression", "ci-other", "1", "abc"),
        "identifier": [{"system": ids.ASSESSMENT_SYSTEM, "value": "p2/clinical-impression"}],
    }
    entries = [patient_entry(provenance, report, foreign, foreign_ra, other_ci)]
    entries += [entry(searchset([])) for _ in PATIENT_SEARCHES]
    entries[1] = entry(searchset([finding]))
    entries[6] = entry(searchset([radiology, report, profiled]))
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1", strategy="searches")
    assert [f"{r['resourceType']}/{r['id']}" for r in raw.resources] == [
        "Patient/p1",
        "Observation/o1",
        "DiagnosticReport/d1",
    ]
    assert raw.existing is not None
    prov, found = raw.existing
    assert (prov.resource_type, prov.id, prov.version_id) == ("Provenance", provenance["id"], "3")
    # The current version (3) as the server included it, not the one the Provenance names (2).
    assert (found.resource_type, found.id, found.version_id) == ("DiagnosticReport", "dr9", "3")
    assert found.content_hash == "abc"
    assert found.signed


# -- bad input at the HTTP edge (issue 11): bounded memory, a clear issue, no lost patient -----------


def observations(n: int, start: int = 0, pad: int = 0) -> list[dict[str, Any]]:
    note = [{"text": "x" * pad}] if pad else []
    return [{**res("Observation", f"o{i}"), "status": "final", "note": note} for i in range(start, start + n)]


def test_a_10_mb_page_is_read_whole(client: FhirClient, router: respx.MockRouter) -> None:
    big = searchset(observations(100, pad=100_000))  # ~10 MB: 100 Observations of 100 kB each
    assert len(json.dumps(big)) > 10_000_000
    entries = [patient_entry()] + [entry(searchset([])) for _ in PATIENT_SEARCHES]
    entries[1] = entry(searchset(observations(1, start=999), f"{BASE}?_getpages=big"))
    router.post("/").mock(return_value=batch_response(*entries))
    router.get("/", params={"_getpages": "big"}).mock(return_value=fhir_json(big))
    raw = fetch_patient(client, "p1", strategy="searches")
    assert len(raw.resources) == 1 + 1 + 100
    assert raw.issues == ()


def test_a_page_over_the_size_limit_is_an_issue_and_the_rest_is_kept(router: respx.MockRouter) -> None:
    entries = [patient_entry()] + [entry(searchset([])) for _ in PATIENT_SEARCHES]
    entries[1] = entry(searchset(observations(2), f"{BASE}?_getpages=big"))
    entries[5] = entry(searchset([res("Condition", "c1")]))
    router.post("/").mock(return_value=batch_response(*entries))
    big = router.get("/", params={"_getpages": "big"}).mock(
        return_value=fhir_json(searchset(observations(30, start=2, pad=100_000)))  # ~3 MB
    )
    with FhirClient(BASE, transport=httpx.MockTransport(router.handler), max_response_bytes=1 << 20) as small:
        raw = fetch_patient(small, "p1", strategy="searches")
    assert big.call_count == 1  # refused, not retried
    assert [r["id"] for r in raw.resources] == ["p1", "o0", "o1", "c1"]
    (issue,) = raw.issues
    assert issue.severity == "error"
    assert issue.resource == "Observation?patient&_count"
    assert "larger than 1 MiB" in issue.message
    assert "Observation data for this patient is missing or incomplete" in issue.message


def test_paging_that_never_ends_is_stopped_with_an_issue(router: respx.MockRouter) -> None:
    entries = [patient_entry()] + [entry(searchset([])) for _ in PATIENT_SEARCHES]
    entries[1] = entry(searchset(observations(1), f"{BASE}?_getpages=x&_page=1"))
    router.post("/").mock(return_value=batch_response(*entries))

    def endless(request: httpx.Request) -> httpx.Response:  # every page links to a new one
        page = int(request.url.params["_page"])
        return fhir_json(searchset(observations(1, start=page), f"{BASE}?_getpages=x&_page={page + 1}"))

    pages = router.get("/", params={"_getpages": "x"}).mock(side_effect=endless)
    with FhirClient(BASE, transport=httpx.MockTransport(router.handler), max_pages=5) as bounded:
        raw = fetch_patient(bounded, "p1", strategy="searches")
    assert pages.call_count == 4  # pages 2-5 of 5
    assert len(raw.resources) == 1 + 5
    (issue,) = raw.issues
    assert "more than 5 pages" in issue.message
    assert issue.resource == "Observation?patient&_count"


def test_a_server_ignoring_count_loses_nothing(client: FhirClient, router: respx.MockRouter) -> None:
    entries = [patient_entry()] + [entry(searchset([])) for _ in PATIENT_SEARCHES]
    entries[1] = entry(searchset(observations(2_500)))  # asked for _count=100, got everything at once
    router.post("/").mock(return_value=batch_response(*entries))
    raw = fetch_patient(client, "p1", count=100, strategy="searches")
    assert len(raw.resources) == 1 + 2_500
    assert raw.issues == ()
