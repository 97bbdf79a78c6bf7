from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bmefhir.fhir
from bmefhir.fhir.errors import FhirAuthError, FhirConflict, FhirHttpError, FhirNotFound, http_error
from bmefhir.fhir.outcome import OutcomeIssue, parse_outcome
from bmefhir.fhir.retry import RetryPolicy, backoff_delay, is_replayable, next_delay, retry_after_seconds
from bmefhir.fhir.urls import normalise_base, relative_label, request_label

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
POLICY = RetryPolicy()


def test_public_surface_is_pinned() -> None:
    assert set(bmefhir.fhir.__all__) == {
        "BatchRequest",
        "BatchResult",
        "BearerAuth",
        "FhirAuthError",
        "FhirClient",
        "FhirConflict",
        "FhirError",
        "FhirHttpError",
        "FhirNotFound",
        "FhirResponseError",
        "FhirTimeout",
        "FhirTransportError",
        "OutcomeIssue",
        "PatientSource",
        "RawPatient",
        "RetryPolicy",
        "SourceProblem",
        "fetch_patient",
        "fetch_patient_ids",
        "open_source",
        "read_bulk_ndjson",
        "read_bundle",
        "read_folder",
    }


def test_request_label_keeps_parameter_names_only() -> None:
    base = normalise_base("https://h.test/fhir")
    url = httpx.URL("https://h.test/fhir/Observation?patient=123&code=a&code=b&_count=5")
    assert request_label(url, base) == "Observation?patient&code&_count"
    assert request_label(httpx.URL("https://h.test/fhir?_getpages=tok"), base) == "(base)?_getpages"


_BASES = (
    normalise_base("https://h.test/fhir"),
    normalise_base("http://127.0.0.1:8080/"),
    httpx.URL("https://h.test/a/fhir"),
)


def test_relative_label_of_the_batch_entries_bmefhir_sends() -> None:
    from bmefhir.fhir.existing import existing_requests, outputs_request
    from bmefhir.fhir.patient_fetch import DEFAULT_COUNT, _type_searches, everything_request, folded_request

    requests = [folded_request("p-1"), outputs_request("p-1"), *existing_requests("p-1")]
    requests += [*_type_searches("p-1", DEFAULT_COUNT), everything_request("p-1", DEFAULT_COUNT)]
    for base in _BASES:
        for request in requests:
            assert relative_label(request.url, base) == request_label(base.join(request.url), base)
    label = relative_label("Observation?patient=1&code=a&code=b&_count=5", _BASES[0])
    assert label == "Observation?patient&code&_count"


@settings(max_examples=2000, deadline=None)
@given(st.text("aZ09/?&=.:%+#$_-|, ~!*'()@;[]\\\"<>é\t", max_size=40), st.sampled_from(_BASES))
def test_relative_label_is_request_label_of_the_joined_url(url: str, base: httpx.URL) -> None:
    """The string fast path gives the label httpx's parsing gives, or raises as it does."""
    try:
        want: object = request_label(base.join(url), base)
    except Exception as exc:  # the same failure is what is compared
        want = type(exc)
    try:
        got: object = relative_label(url, base)
    except Exception as exc:
        got = type(exc)
    assert got == want


@pytest.mark.parametrize(
    ("status", "cls"), [(401, FhirAuthError), (410, FhirNotFound), (412, FhirConflict), (500, FhirHttpError)]
)
def test_http_error_picks_subclass(status: int, cls: type[FhirHttpError]) -> None:
    assert type(http_error(method="GET", request="Patient/1", status=status)) is cls


def test_outcome_parsing_tolerates_junk_and_truncates() -> None:
    assert parse_outcome({"resourceType": "Patient"}) == ()
    assert parse_outcome(None) == ()
    (issue,) = parse_outcome(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "invalid", "details": {"text": "x" * 1000}, "location": ["/f"]}, 5],
        }
    )
    assert issue.diagnostics is not None
    assert len(issue.diagnostics) == 300
    assert issue.expression == ("/f",)


def test_error_message_shows_errors_before_warnings() -> None:
    issues = (OutcomeIssue("warning", "informational", "just a note"), OutcomeIssue("error", "invalid", "bad code"))
    text = str(http_error(method="PUT", request="Condition/c1", status=400, issues=issues))
    assert "bad code" in text
    assert "just a note" not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        (" 0 ", 0.0),
        ("Wed, 01 May 2024 12:01:00 GMT", 60.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("-3", None),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, NOW) == expected


def test_backoff_is_full_jitter_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=5.0)
    assert [backoff_delay(policy, n, 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert backoff_delay(policy, 3, 0.0) == 0.0


def test_retry_after_is_capped_and_non_retry_statuses_stop() -> None:
    policy = RetryPolicy(max_retry_after=10)

    def delay(attempt: int = 1, replayable: bool = True, **failure: str | int | bool) -> float | None:
        return next_delay(policy, attempt=attempt, replayable=replayable, now=NOW, rand=0.5, **failure)  # type: ignore[arg-type]

    assert delay(status=429, retry_after="3600") == 10
    assert delay(status=500) is None
    assert delay(attempt=4, status=503) is None
    assert delay(replayable=False, status=503) == 0.25  # "not processed": safe to send again
    assert delay(replayable=False, status=429, retry_after="7") == 7
    assert delay(replayable=False, status=502) is None  # a gateway error may follow a commit
    assert delay(replayable=False, status=504) is None
    assert delay(replayable=False, transport_error=True) is None  # sent, maybe processed
    assert delay(attempt=4, replayable=False, status=429) is None
    assert delay(transport_error=True) == 0.25


def _bundle(kind: str, *requests: dict[str, str]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"request": r} for r in requests]}


@pytest.mark.parametrize(
    ("method", "path", "bundle", "expected"),
    [
        ("GET", "/fhir/Patient/1", None, True),
        ("PUT", "/fhir/Patient/1", None, True),
        ("DELETE", "/fhir/Patient/1", None, True),
        ("PATCH", "/fhir/Patient/1", None, False),
        ("POST", "/fhir/Observation/_search", None, True),
        ("POST", "/fhir/Observation", None, False),
        ("POST", "/fhir/", _bundle("batch", {"method": "GET", "url": "Patient/1"}), True),
        ("POST", "/fhir/", _bundle("batch", {"method": "POST", "url": "Observation"}), False),
        ("POST", "/fhir/", _bundle("transaction", {"method": "GET", "url": "Patient/1"}), False),
        (
            "POST",
            "/fhir/",
            _bundle("transaction", {"method": "POST", "url": "Observation", "ifNoneExist": "x=1"}),
            False,
        ),
    ],
)
def test_only_replayable_requests_are_retried(
    method: str, path: str, bundle: dict[str, Any] | None, expected: bool
) -> None:
    assert is_replayable(method, path=path, bundle=bundle, policy=POLICY) is expected


def test_conditional_transactions_replay_only_when_opted_in() -> None:
    conditional = _bundle(
        "transaction",
        {"method": "POST", "url": "Observation", "ifNoneExist": "identifier=a|1"},
        {"method": "PUT", "url": "Condition?identifier=a|2"},
    )
    plain = _bundle("transaction", {"method": "POST", "url": "Observation"})
    opted = RetryPolicy(replay_conditional_writes=True)
    assert is_replayable("POST", path="/", bundle=conditional, policy=opted)
    assert not is_replayable("POST", path="/", bundle=plain, policy=opted)


def test_policy_validates() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
