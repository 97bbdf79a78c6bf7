from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from fhir_helpers import BASE, TOKEN, fhir_json, outcome, searchset

from bmefhir.fhir import (
    BatchRequest,
    FhirAuthError,
    FhirClient,
    FhirConflict,
    FhirError,
    FhirHttpError,
    FhirNotFound,
    FhirResponseError,
    FhirTimeout,
    FhirTransportError,
    RetryPolicy,
)


def obs(i: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"o{i}"}


def test_search_follows_next_links_across_three_pages(client: FhirClient, router: respx.MockRouter) -> None:
    first = router.get("/Observation", params={"patient": "p1"}).mock(
        return_value=fhir_json(searchset([obs(1), obs(2)], f"{BASE}?_getpages=abc&_page=2"))
    )
    pages = router.get("/", params={"_getpages": "abc"})
    pages.side_effect = [
        fhir_json(searchset([obs(3), obs(4)], f"{BASE}?_getpages=abc&_page=3")),
        fhir_json(searchset([obs(5)])),
    ]
    ids = [r["id"] for r in client.search("Observation", {"patient": "p1"})]
    assert ids == ["o1", "o2", "o3", "o4", "o5"]
    assert first.calls.last.request.url.params["_count"] == "2"  # page_size applied
    assert pages.call_count == 2
    assert client.requests_sent == 3


def test_search_bundles_yields_each_page(client: FhirClient, router: respx.MockRouter) -> None:
    router.get("/Condition", params={"page": "2"}).mock(return_value=fhir_json(searchset([])))
    router.get("/Condition").mock(return_value=fhir_json(searchset([], "Condition?page=2")))
    assert len(list(client.search_bundles("Condition", {"patient": "p1"}))) == 2


def test_next_link_loop_is_stopped(client: FhirClient, router: respx.MockRouter) -> None:
    # A buggy server whose page 2 links to itself: without the guard this never ends.
    router.get("/Observation", params={"page": "2"}).mock(
        return_value=fhir_json(searchset([obs(2)], f"{BASE}/Observation?page=2"))
    )
    router.get("/Observation").mock(return_value=fhir_json(searchset([obs(1)], f"{BASE}/Observation?page=2")))
    seen: list[str] = []

    def consume() -> None:
        seen.extend(r["id"] for r in client.search("Observation", {"patient": "p1"}))

    with pytest.raises(FhirResponseError, match="loop") as info:
        consume()
    assert seen == ["o1", "o2"]
    assert client.requests_sent == 2
    assert "page=" not in str(info.value)  # parameter names only, never values


def test_next_link_to_another_host_is_not_followed(client: FhirClient, router: respx.MockRouter) -> None:
    router.get("/Observation").mock(return_value=fhir_json(searchset([obs(1)], "https://evil.test/steal")))
    with pytest.raises(FhirResponseError, match="different server"):
        list(client.search("Observation"))


def test_429_honours_retry_after_seconds(client: FhirClient, router: respx.MockRouter, sleeps: list[float]) -> None:
    route = router.get("/Patient/p1")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "2"}),
        fhir_json({"resourceType": "Patient", "id": "p1"}),
    ]
    assert client.read("Patient", "p1")["id"] == "p1"
    assert sleeps == [2.0]
    assert route.call_count == 2


def test_retry_after_as_http_date_is_relative_to_injected_clock(
    client: FhirClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    router.get("/Patient/p1").side_effect = [
        httpx.Response(503, headers={"Retry-After": "Wed, 01 May 2024 12:00:07 GMT"}),
        fhir_json({"resourceType": "Patient", "id": "p1"}),
    ]
    client.read("Patient", "p1")
    assert sleeps == [7.0]


def test_503_then_success_uses_jittered_backoff(
    client: FhirClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    router.get("/Patient/p1").side_effect = [httpx.Response(503), fhir_json({"resourceType": "Patient"})]
    client.read("Patient", "p1")
    assert sleeps == [0.5]  # random 0.5 x min(cap, base 1.0 * 2**0)


def test_503_forever_raises_after_max_attempts(
    client: FhirClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    route = router.get("/Patient/p1").mock(return_value=httpx.Response(503))
    with pytest.raises(FhirHttpError) as info:
        client.read("Patient", "p1")
    assert info.value.status == 503
    assert info.value.attempts == 3 == route.call_count
    assert sleeps == [0.5, 1.0]
    assert "after 3 attempts" in str(info.value)


def test_timeout_is_retried_then_raises_fhir_timeout(
    client: FhirClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    route = router.get("/Patient/p1").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(FhirTimeout) as info:
        client.read("Patient", "p1")
    assert isinstance(info.value, FhirTransportError)
    assert info.value.attempts == 3 == route.call_count
    assert "GET Patient/p1 timed out after 3 attempts" in str(info.value)


def test_connect_error_becomes_transport_error(client: FhirClient, router: respx.MockRouter) -> None:
    router.get("/metadata").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(FhirTransportError, match="ConnectError") as info:
        client.capabilities()
    assert not isinstance(info.value, FhirTimeout)


TX: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": []}
TX_RESPONSE = fhir_json({"resourceType": "Bundle", "type": "transaction-response", "entry": []})


def test_transaction_429_is_retried_honouring_retry_after_seconds(
    client: FhirClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    route = router.post("/").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "4"}), TX_RESPONSE])
    assert client.transaction(TX)["type"] == "transaction-response"
    assert route.call_count == 2
    assert sleeps == [4.0]
    assert json.loads(route.calls[1].request.content) == TX  # the same bundle, sent again


def test_transaction_503_is_retried_honouring_an_http_date(
    client: FhirClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    route = router.post("/").mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "Wed, 01 May 2024 12:00:30 GMT"}), TX_RESPONSE]
    )
    client.transaction(TX)
    assert route.call_count == 2
    assert sleeps == [30.0]  # relative to the injected clock (12:00:00)


def test_transaction_retry_after_is_capped(router: respx.MockRouter) -> None:
    sleeps: list[float] = []
    route = router.post("/").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "86400"}), TX_RESPONSE])
    with FhirClient(BASE, retry=RetryPolicy(max_retry_after=15), sleep=sleeps.append, random=lambda: 0.5) as fhir:
        fhir.transaction(TX)
    assert route.call_count == 2
    assert sleeps == [15]


def test_transaction_429_forever_gives_up_with_a_clear_error(
    client: FhirClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    route = router.post("/").mock(return_value=httpx.Response(429))
    with pytest.raises(FhirHttpError) as info:
        client.transaction(TX)
    assert info.value.status == 429
    assert info.value.attempts == 3 == route.call_count
    assert sleeps == [0.5, 1.0]  # jittered backoff when no Retry-After
    assert str(info.value).startswith("POST Bundle (transaction) → 429 Too Many Requests (after 3 attempts)")


@pytest.mark.parametrize("status", [500, 502, 504])
def test_transaction_is_not_retried_on_other_5xx(
    client: FhirClient, router: respx.MockRouter, sleeps: list[float], status: int
) -> None:
    route = router.post("/").mock(return_value=httpx.Response(status))
    with pytest.raises(FhirHttpError) as info:
        client.transaction(TX)
    assert route.call_count == 1  # a gateway error may come after the server committed
    assert sleeps == []
    assert info.value.status == status


def test_transaction_is_not_retried_after_a_timeout(
    client: FhirClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    route = router.post("/").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(FhirTimeout) as info:
        client.transaction(TX)
    assert route.call_count == 1  # the request was sent: it may have been processed
    assert info.value.attempts == 1
    assert sleeps == []


def test_transaction_retry_can_be_turned_off(router: respx.MockRouter) -> None:
    route = router.post("/").mock(return_value=httpx.Response(503))
    policy = RetryPolicy(unprocessed_statuses=frozenset())
    with FhirClient(BASE, retry=policy, sleep=lambda _s: None) as fhir, pytest.raises(FhirHttpError):
        fhir.transaction(TX)
    assert route.call_count == 1


def test_batch_of_reads_is_retried(client: FhirClient, router: respx.MockRouter) -> None:
    route = router.post("/")
    route.side_effect = [
        httpx.Response(502),
        fhir_json({"resourceType": "Bundle", "type": "batch-response", "entry": [{"response": {"status": "200"}}]}),
    ]
    results = client.batch([BatchRequest("GET", "Patient/p1")])
    assert route.call_count == 2
    assert results[0].ok


def test_truncated_json_names_the_request(client: FhirClient, router: respx.MockRouter) -> None:
    router.get("/Observation").mock(
        return_value=httpx.Response(200, content=b'{"resourceType": "Bundle", "entry": [{"reso')
    )
    with pytest.raises(FhirResponseError) as info:
        list(client.search("Observation", {"patient": "p1"}))
    message = str(info.value)
    assert message.startswith("GET Observation?patient&_count:")
    assert "not valid JSON" in message
    assert "p1" not in message


def test_unexpected_resource_type_is_a_response_error(client: FhirClient, router: respx.MockRouter) -> None:
    router.get("/Patient/p1").mock(return_value=fhir_json({"resourceType": "Observation"}))
    with pytest.raises(FhirResponseError, match="expected a Patient resource but the response holds Observation"):
        client.read("Patient", "p1")


def test_422_operation_outcome_in_message(client: FhirClient, router: respx.MockRouter) -> None:
    router.post("/").mock(
        return_value=fhir_json(outcome("Observation/abc: value is not a valid code", "Observation.status"), status=422)
    )
    with pytest.raises(FhirHttpError) as info:
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert str(info.value).startswith(
        "POST Bundle (transaction) → 422 Unprocessable Entity: "
        "Observation/abc: value is not a valid code [Observation.status]."
    )
    assert info.value.issues[0].expression == ("Observation.status",)


@pytest.mark.parametrize(
    ("status", "error"), [(401, FhirAuthError), (403, FhirAuthError), (404, FhirNotFound), (410, FhirNotFound)]
)
def test_status_maps_to_specific_error(
    client: FhirClient, router: respx.MockRouter, status: int, error: type[FhirError]
) -> None:
    router.get("/Patient/p1").mock(return_value=httpx.Response(status))
    with pytest.raises(error):
        client.read("Patient", "p1")


def test_update_sends_if_match_and_maps_412_to_conflict(client: FhirClient, router: respx.MockRouter) -> None:
    route = router.put("/Condition/c1").mock(return_value=fhir_json(outcome("version conflict"), status=412))
    with pytest.raises(FhirConflict, match="re-read it"):
        client.update({"resourceType": "Condition", "id": "c1"}, if_match="3")
    assert route.calls.last.request.headers["If-Match"] == 'W/"3"'


def test_requests_carry_fhir_headers_and_bearer_token(client: FhirClient, router: respx.MockRouter) -> None:
    route = router.post("/").mock(
        return_value=fhir_json({"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    )
    client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    request = route.calls.last.request
    assert request.headers["Accept"] == "application/fhir+json"
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content)["type"] == "transaction"


def test_token_never_in_exception_or_log(
    client: FhirClient, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router.get("/Patient/p1").mock(side_effect=[httpx.Response(503), httpx.Response(401), httpx.Response(401)])
    router.get("/metadata").mock(side_effect=httpx.ReadTimeout("timed out"))
    errors: list[BaseException] = []
    calls: list[Callable[[], object]] = [lambda: client.read("Patient", "p1"), client.capabilities]
    for call in calls:
        with pytest.raises(FhirError) as info:
            call()
        errors.append(info.value)
    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [repr(client)]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records  # retries were logged
    for text in texts:
        assert TOKEN not in text
    # httpx's exception holds the request (and its headers): it must not ride along as context.
    assert errors[1].__cause__ is None
    assert errors[1].__suppress_context__


def test_invalid_ids_are_rejected_before_any_request(client: FhirClient, router: respx.MockRouter) -> None:
    with pytest.raises(ValueError, match="not a valid FHIR id"):
        client.read("Patient", "../Observation?x=1")
    assert client.requests_sent == 0
