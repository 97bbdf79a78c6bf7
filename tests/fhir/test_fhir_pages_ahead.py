"""Paging one page ahead (bmefhir.fhir.pages_ahead) and the patient read through it, against a
scripted server (respx): faults on a further page, bounded look-ahead, a stop part-way."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
import respx
from fhir_helpers import BASE, batch_response, entry, fhir_json, searchset

from bmefhir.fhir import FhirClient, RetryPolicy, fetch_patient
from bmefhir.fhir.errors import FhirHttpError
from bmefhir.fhir.pages_ahead import Chain, PagesAhead
from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES, folded_request, forget_capabilities

PATIENT = {"resourceType": "Patient", "id": "p1"}


def res(kind: str, rid: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": kind, "id": rid, "subject": {"reference": "Patient/p1"}, **extra}


def page_of(kind: str, token: str, page: int, per_page: int = 3, last: int | None = None) -> dict[str, Any]:
    """Page ``page`` (1-based) of a search: ``per_page`` resources, a next link unless it is ``last``."""
    items = [res(kind, f"{token}{page}-{i}") for i in range(per_page)]
    more = last is None or page < last
    return searchset(items, f"{BASE}?_getpages={token}&_page={page + 1}" if more else None)


def paged(kind: str, token: str, last: int | None = None, fail_at: int | None = None) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["_page"])
        if page == fail_at:
            return fhir_json({"resourceType": "OperationOutcome", "issue": []}, status=500)
        return fhir_json(page_of(kind, token, page, last=last))

    return respond


def searches_batch(**first_pages: dict[str, Any]) -> httpx.Response:
    entries = [entry(searchset([PATIENT]))]
    entries += [entry(first_pages.get(kind, searchset([]))) for kind in PATIENT_SEARCHES]
    return batch_response(*entries)


@pytest.fixture
def quick(router: respx.MockRouter) -> Any:
    """A client that retries a 500 once, without waiting."""
    with FhirClient(
        BASE,
        transport=httpx.MockTransport(router.handler),
        retry=RetryPolicy(max_attempts=2, backoff_base=0.0),
        sleep=lambda _: None,
        max_pages=6,
    ) as fhir:
        yield fhir


def ids(resources: tuple[dict[str, Any], ...], kind: str) -> list[str]:
    return [r["id"] for r in resources if r["resourceType"] == kind]


def test_a_further_page_that_fails_keeps_the_pages_before_it_and_the_other_searches(
    quick: FhirClient, router: respx.MockRouter
) -> None:
    router.post("/").mock(
        return_value=searches_batch(
            Observation=page_of("Observation", "obs", 1), Condition=page_of("Condition", "cond", 1, last=3)
        )
    )
    obs = router.get("/", params={"_getpages": "obs"}).mock(side_effect=paged("Observation", "obs", fail_at=3))
    cond = router.get("/", params={"_getpages": "cond"}).mock(side_effect=paged("Condition", "cond", last=3))
    raw = fetch_patient(quick, "p1", strategy="searches")

    assert obs.call_count == 2  # pages 2 and 3 (a 500 is not retried); nothing after the failure
    assert cond.call_count == 2  # the Conditions are still read whole, after the failed paging
    assert ids(raw.resources, "Observation") == [f"obs{p}-{i}" for p in (1, 2) for i in range(3)]
    assert ids(raw.resources, "Condition") == [f"cond{p}-{i}" for p in (1, 2, 3) for i in range(3)]
    (issue,) = raw.issues
    assert issue.severity == "error"
    assert issue.resource == "Observation?patient&_count"
    assert issue.element == "Bundle.entry[1]"
    assert "500" in issue.message
    assert "Observation data for this patient is missing or incomplete" in issue.message


def test_endless_paging_of_one_search_is_stopped_and_the_default_read_keeps_the_rest(
    quick: FhirClient, router: respx.MockRouter
) -> None:
    forget_capabilities()
    head = searchset([PATIENT])
    head["link"] = [{"relation": "self", "url": f"{BASE}/{folded_request('p1').url}"}]  # as HAPI: _revinclude honoured
    entries = [entry(head)] + [entry(searchset([])) for _ in range(5)]
    entries[1] = entry(page_of("Observation", "obs", 1))  # the folded read: Observation is entry 1
    entries[2] = entry(page_of("MedicationRequest", "mr", 1, last=2))
    router.post("/").mock(return_value=batch_response(*entries))
    obs = router.get("/", params={"_getpages": "obs"}).mock(side_effect=paged("Observation", "obs"))
    router.get("/", params={"_getpages": "mr"}).mock(side_effect=paged("MedicationRequest", "mr", last=2))
    raw = fetch_patient(quick, "p1")

    assert obs.call_count == 5  # pages 2-6 of max_pages=6, then stopped
    assert len(ids(raw.resources, "Observation")) == 6 * 3
    assert len(ids(raw.resources, "MedicationRequest")) == 2 * 3
    (issue,) = raw.issues
    assert issue.resource == "Observation?patient&_count"
    assert "more than 6 pages" in issue.message
    forget_capabilities()


def test_a_resource_over_a_limit_on_a_further_page_is_named_by_its_search_and_place(
    client: FhirClient, router: respx.MockRouter
) -> None:
    second = searchset([res("Observation", "o2"), {"resourceType": "Observation", "id": "bad id!"}])
    router.post("/").mock(
        return_value=searches_batch(Observation=searchset([res("Observation", "o1")], f"{BASE}?_getpages=o&_page=2"))
    )
    router.get("/", params={"_getpages": "o"}).mock(return_value=fhir_json(second))
    raw = fetch_patient(client, "p1", strategy="searches")

    assert ids(raw.resources, "Observation") == ["o1", "o2"]
    (issue,) = raw.issues
    assert issue.severity == "error"
    assert issue.resource == "Observation?patient&_count[2]"  # the third resource of that search
    assert issue.element == "Observation.id"
    assert "bad id!" not in issue.resource


def chains_of(client: FhirClient, *tokens: str) -> list[Chain]:
    return [
        Chain(key, f"Observation?patient=p1&t={token}", page_of("Observation", token, 1))
        for key, token in enumerate(tokens)
    ]


def test_the_worker_keeps_at_most_two_pages_ahead_of_the_reader(client: FhirClient, router: respx.MockRouter) -> None:
    taken = 0
    ahead: list[int] = []
    reached = threading.Event()

    def respond(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["_page"])
        # Pages fetched (this one included; the first came with the batch) past those the reader took.
        ahead.append(page - 1 - taken)
        if page - 1 - taken >= 2:
            reached.set()
        return fhir_json(page_of("Observation", "slow", page, last=12))

    router.get("/", params={"_getpages": "slow"}).mock(side_effect=respond)
    with PagesAhead(client, chains_of(client, "slow")) as pages:
        for _, page, error in pages:
            assert error is None
            assert page is not None
            taken += 1
            # A slow reader: wait until the worker has gone as far ahead as it may (one page handed
            # over, the next fetched: a readiness signal, not a timed sleep), so that a hand-over
            # without a bound would show in ``ahead``.
            if taken <= 9:
                assert reached.wait(timeout=30)
                reached.clear()
    assert taken == 11  # pages 2-12
    # Two ahead; three when the worker asks between the reader's take and its count of it.
    assert 2 <= max(ahead) <= 3


def test_leaving_part_way_stops_the_worker(client: FhirClient, router: respx.MockRouter) -> None:
    endless = router.get("/", params={"_getpages": "e"}).mock(side_effect=paged("Observation", "e"))
    pages = PagesAhead(client, chains_of(client, "e"))
    with pages:
        for read, _ in enumerate(pages, start=1):
            if read == 2:
                break
    assert not pages._worker.is_alive()
    assert endless.call_count <= 2 + 2  # what was read and at most two pages ahead


def test_a_bug_in_the_worker_is_raised_in_the_reader(client: FhirClient, router: respx.MockRouter) -> None:
    router.get("/", params={"_getpages": "x"}).mock(side_effect=RuntimeError("scripted bug"))
    with pytest.raises(RuntimeError, match="scripted bug"), PagesAhead(client, chains_of(client, "x")) as pages:
        list(pages)


def test_a_failed_chain_is_reported_and_the_next_chain_read(client: FhirClient, router: respx.MockRouter) -> None:
    router.get("/", params={"_getpages": "a"}).mock(return_value=fhir_json({"resourceType": "Patient"}))
    router.get("/", params={"_getpages": "b"}).mock(side_effect=paged("Observation", "b", last=3))
    with PagesAhead(client, chains_of(client, "a", "b")) as pages:
        seen = [(key, page is not None, type(error).__name__) for key, page, error in pages]
    assert seen == [(0, False, "FhirResponseError"), (1, True, "NoneType"), (1, True, "NoneType")]


def test_no_chains_start_no_worker(client: FhirClient) -> None:
    pages = PagesAhead(client, [])
    with pages:
        assert list(pages) == []
    assert not pages._worker.is_alive()


def test_an_http_error_on_a_further_page_is_the_fhir_error_of_that_chain(
    client: FhirClient, router: respx.MockRouter
) -> None:
    router.get("/", params={"_getpages": "gone"}).mock(return_value=fhir_json({"resourceType": "Bundle"}, 410))
    with PagesAhead(client, chains_of(client, "gone")) as pages:
        ((key, page, error),) = list(pages)
    assert key == 0
    assert page is None
    assert isinstance(error, FhirHttpError)
    assert error.status == 410
