"""Pure parts of sync: discovery helpers, durations, the job spec, outcomes, export capability."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bmefhir.sync.bulk_export import supports_export
from bmefhir.sync.discovery import is_own_output, patient_of, server_time, since_with_overlap
from bmefhir.sync.executors import PatientOutcome
from bmefhir.sync.schedule import parse_duration
from bmefhir.sync.spec import AuthConfig, SyncJobSpec


def test_overlap_moves_the_lower_bound_back_in_utc() -> None:
    assert since_with_overlap("2025-03-01T12:00:00.000+02:00", timedelta(minutes=5)) == "2025-03-01T09:55:00.000Z"


def test_server_time_comes_from_the_bundle_and_ignores_junk() -> None:
    assert server_time({"meta": {"lastUpdated": "2026-11-22T02:49:02.693+00:00"}}) == "2026-11-22T02:49:02.693Z"
    assert server_time({"meta": {"lastUpdated": "yesterday"}}) is None
    assert server_time({}) is None


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"resourceType": "Patient", "id": "p1"}, "p1"),
        ({"resourceType": "Observation", "subject": {"reference": "Patient/p2"}}, "p2"),
        ({"resourceType": "Observation", "subject": {"reference": "http://x/fhir/Patient/p3/_history/2"}}, "p3"),
        ({"resourceType": "Observation", "subject": {"reference": "Group/g"}}, None),
        ({"resourceType": "Condition"}, None),
    ],
)
def test_patient_of(resource: dict[str, object], expected: str | None) -> None:
    assert patient_of(resource) == expected


def test_own_outputs_are_recognised_by_identifier_or_tag() -> None:
    ours = {"resourceType": "DiagnosticReport", "identifier": [{"system": "http://bmefhir.org/fhir/sid/assessment"}]}
    tagged = {"resourceType": "DiagnosticReport", "meta": {"tag": [{"system": "http://bmefhir.org/fhir/x"}]}}
    radiology = {"resourceType": "DiagnosticReport", "identifier": [{"system": "urn:oid:1.2.3"}]}
    assert is_own_output(ours)
    assert is_own_output(tagged)
    assert not is_own_output(radiology)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400), ("1d", 86400)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1 hour", "-5m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_job_spec_round_trips_through_json_and_holds_no_secret() -> None:
    job = SyncJobSpec("http://h/fhir/", "2025-01-01T00:00:00+00:00", AuthConfig("bearer-env", token_env="TOK"))
    assert SyncJobSpec.from_json(job.to_json()) == job
    assert "TOK" in job.to_json()


def test_job_spec_refuses_a_naive_now_and_incomplete_auth() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        SyncJobSpec("http://h/fhir/", "2025-01-01T00:00:00")
    with pytest.raises(ValueError, match="token_env"):
        AuthConfig("bearer-env")
    with pytest.raises(ValueError, match="client_id"):
        AuthConfig("smart-backend", client_id="c")


def test_outcome_round_trips_and_rejects_unknown_status() -> None:
    outcome = PatientOutcome("p", "written", None, 3, "h")
    assert PatientOutcome.from_dict(outcome.to_dict()) == outcome
    with pytest.raises(ValueError, match="status"):
        PatientOutcome.from_dict({"patient_id": "p", "status": "maybe"})


def test_export_support_is_read_from_the_capability_statement() -> None:
    offered = {"rest": [{"mode": "server", "operation": [{"name": "export", "definition": "x"}]}]}
    assert supports_export(offered)
    assert not supports_export({"rest": [{"mode": "server", "operation": [{"name": "validate"}]}]})
