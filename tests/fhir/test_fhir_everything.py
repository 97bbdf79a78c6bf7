"""Patient ``$everything`` as the fetch's data read: what happens when the server does not play along.

Fault injection only (respx): a CapabilityStatement without the operation, a refused or failing
``$everything``, paging that breaks part-way, a server that ignores ``_type``. What it returns from a
real server, and that it equals the per-type searches, is tested against HAPI in
``tests/integration/test_everything_fetch.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from fhir_helpers import BASE, batch_response, entry, fhir_json, outcome, searchset

from bmefhir.fhir import FhirClient
from bmefhir.fhir.patient_fetch import (
    PATIENT_SEARCHES,
    fetch_patient,
    folded_request,
    forget_capabilities,
    patient_requests,
    supports_everything,
)

PATIENT = {"resourceType": "Patient", "id": "p1"}
EVERYTHING = f"Patient/p1/$everything?_type={','.join(PATIENT_SEARCHES)}&_count=1000"
OUTPUTS = "Patient?_id=p1&_revinclude=Provenance:entity&_include:iterate=Provenance:target"


@pytest.fixture(autouse=True)
def _fresh_capabilities() -> Iterator[None]:
    forget_capabilities()
    yield
    forget_capabilities()


def capability(*patient_ops: str) -> httpx.Response:
    resource = {"type": "Patient", "operation": [{"name": n, "definition": f"x/{n}"} for n in patient_ops]}
    return fhir_json({"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "resource": [resource]}]})


def res(kind: str, rid: str, subject: str = "Patient/p1") -> dict[str, Any]:
    return {"resourceType": kind, "id": rid, "subject": {"reference": subject}}


def sent_urls(route: respx.Route, call: int) -> list[str]:
    return [e["request"]["url"] for e in json.loads(route.calls[call].request.content)["entry"]]


def searches_answer(*found: dict[str, Any]) -> httpx.Response:
    """The eight per-type searches: ``found`` in the search of its type."""
    return batch_response(*(entry(searchset([r for r in found if r["resourceType"] == k])) for k in PATIENT_SEARCHES))


def folded_answer() -> httpx.Response:
    """The default read's batch answered: the Patient search (its self link names the folded
    ``_revinclude``s, as HAPI's does) and empty searches of the other types."""
    head = searchset([PATIENT])
    head["link"] = [{"relation": "self", "url": f"{BASE}/{folded_request('p1').url}"}]
    return batch_response(entry(head), *(entry(searchset([])) for _ in patient_requests("p1", 1000)[1:]))


def test_without_the_operation_in_the_capability_statement_the_fetch_reads_the_default_way(
    client: FhirClient, router: respx.MockRouter
) -> None:
    metadata = router.get("/metadata").mock(return_value=capability("validate"))
    route = router.post("/").mock(return_value=folded_answer())
    fetch_patient(client, "p1", count=1000, strategy="auto")
    fetch_patient(client, "p1", count=1000, strategy="auto")
    assert metadata.call_count == 1  # asked once per server
    assert route.call_count == 2
    assert sent_urls(route, 1) == [r.url for r in patient_requests("p1", 1000)]


def test_an_unreadable_capability_statement_means_searching_by_type(
    client: FhirClient, router: respx.MockRouter
) -> None:
    router.get("/metadata").mock(return_value=fhir_json(outcome("forbidden", code="forbidden"), status=403))
    assert supports_everything(client) is False


def test_a_refused_everything_falls_back_to_the_searches_and_is_not_asked_again(
    client: FhirClient, router: respx.MockRouter
) -> None:
    router.get("/metadata").mock(return_value=capability("everything"))
    refused = entry(None, "403 Forbidden", outcome("scope does not allow $everything", code="forbidden"))
    route = router.post("/").mock(
        side_effect=[
            batch_response(entry(searchset([PATIENT])), refused),
            searches_answer(res("Condition", "c1"), res("Observation", "o1")),
            folded_answer(),
        ]
    )
    raw = fetch_patient(client, "p1", strategy="auto")
    assert sent_urls(route, 0) == [OUTPUTS, EVERYTHING]
    assert sent_urls(route, 1) == [f"{k}?patient=p1&_count=1000" for k in PATIENT_SEARCHES]
    assert sorted(r["id"] for r in raw.resources) == ["c1", "o1", "p1"]
    assert raw.issues == ()  # nothing is missing: the searches read it all
    assert raw.requests == 2
    fetch_patient(client, "p1", strategy="auto")
    # Remembered: the default read straight away.
    assert sent_urls(route, 2) == [r.url for r in patient_requests("p1", 1000)]


def test_paging_everything_that_breaks_part_way_is_read_again_by_type_and_failures_are_named(
    client: FhirClient, router: respx.MockRouter
) -> None:
    router.get("/metadata").mock(return_value=capability("everything"))
    first = searchset([res("Observation", "o1")], f"{BASE}?_getpages=ev&_page=2")
    route = router.post("/").mock(
        side_effect=[
            batch_response(entry(searchset([PATIENT])), entry(first)),
            batch_response(
                entry(searchset([res("Observation", "o1"), res("Observation", "o2")])),
                *(entry(searchset([])) for _ in PATIENT_SEARCHES[1:4]),
                entry(None, "500 Internal Server Error", outcome("database timeout", code="exception")),
                *(entry(searchset([])) for _ in PATIENT_SEARCHES[5:]),
            ),
        ]
    )
    broken = router.get("/", params={"_getpages": "ev"}).mock(return_value=httpx.Response(500))
    raw = fetch_patient(client, "p1", strategy="auto")
    assert broken.call_count == 1  # a 500 is not retried (bmefhir.fhir.retry)
    assert route.call_count == 2
    # The partial $everything is dropped; the searches bring o1 once and o2, not a duplicate.
    assert [r["id"] for r in raw.resources] == ["p1", "o1", "o2"]
    (issue,) = raw.issues  # what the searches could not read is still named
    assert issue.resource == "Condition?patient&_count"
    assert issue.element == "Bundle.entry[4]"
    assert "Condition data for this patient is missing or incomplete" in issue.message


def test_a_server_ignoring_type_or_sending_other_patients_data_yields_only_this_patients_types(
    client: FhirClient, router: respx.MockRouter
) -> None:
    router.get("/metadata").mock(return_value=capability("everything"))
    page = searchset(
        [
            PATIENT,
            res("Observation", "o1"),
            res("Observation", "o2", subject=f"{BASE}/Patient/p1"),  # absolute, this server
            res("Observation", "o3", subject="https://elsewhere.test/fhir/Patient/p1"),
            res("Observation", "o4", subject="Patient/p2"),  # referenced by one of p1's: not p1's
            res("Condition", "c1", subject="Patient/p1/_history/3"),
            res("Encounter", "e1"),  # the compartment's references, or _type ignored
            {"resourceType": "Observation", "id": "o5", "performer": [{"reference": "Patient/p1"}]},
        ]
    )
    router.post("/").mock(return_value=batch_response(entry(searchset([PATIENT])), entry(page)))
    raw = fetch_patient(client, "p1", strategy="auto")
    assert [r["id"] for r in raw.resources] == ["p1", "o1", "o2", "c1"]
    assert raw.requests == 1
