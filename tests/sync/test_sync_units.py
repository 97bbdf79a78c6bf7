"""Pure parts of sync: discovery helpers, durations, the job spec, outcomes, export capability."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from bmefhir.fhir.raw import RawPatient
from bmefhir.record import DataQualityIssue
from bmefhir.sync.bulk_export import supports_export
from bmefhir.sync.discovery import Discovery, is_own_output, patient_of, server_time, since_with_overlap
from bmefhir.sync.executors import PatientOutcome
from bmefhir.sync.fingerprint import analysis_version, data_digest, input_fingerprint, input_versions, resource_version
from bmefhir.sync.schedule import parse_duration
from bmefhir.sync.spec import AuthConfig, SyncJobSpec
from bmefhir.sync.store import PatientStateView


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
    with_state = PatientOutcome("p", "written", None, 3, "h", PatientStateView("f", "a", {"Patient/p": "1"}, "h"))
    assert PatientOutcome.from_dict(orjson.loads(orjson.dumps(with_state.to_dict()))) == with_state  # via Celery JSON
    assert PatientOutcome.from_dict(PatientOutcome("p", "same-inputs", None, 1, "h").to_dict()).status == "same-inputs"
    with pytest.raises(ValueError, match="status"):
        PatientOutcome.from_dict({"patient_id": "p", "status": "maybe"})


def test_export_support_is_read_from_the_capability_statement() -> None:
    offered = {"rest": [{"mode": "server", "operation": [{"name": "export", "definition": "x"}]}]}
    assert supports_export(offered)
    assert not supports_export({"rest": [{"mode": "server", "operation": [{"name": "validate"}]}]})


PATIENT = {"resourceType": "Patient", "id": "p", "meta": {"versionId": "1"}, "gender": "female"}
OBS = {"resourceType": "Observation", "id": "o", "meta": {"versionId": "3"}, "status": "final"}


def fingerprint(*resources: dict[str, object], issues: tuple[DataQualityIssue, ...] = (), **kw: object) -> str:
    raw = RawPatient("p", tuple(resources), issues)
    options: dict[str, object] = {"write_findings": False, **kw}
    return input_fingerprint(raw, input_versions(raw.resources), **options)  # type: ignore[arg-type]


def test_the_input_fingerprint_follows_versions_issues_options_and_the_analysis_version() -> None:
    base = fingerprint(PATIENT, OBS)
    assert fingerprint(OBS, PATIENT) == base  # order does not matter
    assert fingerprint(PATIENT, {**OBS, "meta": {"versionId": "4"}}) != base  # a new version
    assert fingerprint(PATIENT, OBS, {**OBS, "id": "o2"}) != base  # a new Observation
    assert fingerprint(PATIENT) != base  # one gone
    assert fingerprint(PATIENT, OBS, write_findings=True) != base
    assert fingerprint(PATIENT, OBS, analysis="knowledge 0.0.1; bmefhir 0.1.0") != base
    assert fingerprint(PATIENT, OBS, analysis=analysis_version()) == base  # the default is the running one
    issue = DataQualityIssue("warning", "incomplete", "Observation?patient=p", "Bundle.entry[1]", "search failed")
    assert fingerprint(PATIENT, OBS, issues=(issue,)) != base


def test_without_a_version_id_the_content_counts_but_not_meta() -> None:
    plain = {"resourceType": "Observation", "id": "o", "status": "final"}
    assert resource_version(plain) == resource_version({**plain, "meta": {"lastUpdated": "2025-01-01T00:00:00Z"}})
    assert resource_version(plain) != resource_version({**plain, "status": "amended"})
    assert "knowledge" in analysis_version()
    assert "bmefhir" in analysis_version()


def test_the_analysis_version_follows_an_edited_data_file_without_a_version_bump(tmp_path: Path) -> None:
    (tmp_path / "criteria").mkdir()
    rules = tmp_path / "criteria" / "rules.yaml"
    rules.write_text("criteria: [{id: A, effects: {x: 1.0}}]\n", encoding="utf-8")
    before = data_digest(tmp_path)
    rules.write_text("criteria: [{id: A, effects: {x: 1.5}}]\n", encoding="utf-8")
    data_digest.cache_clear()
    assert data_digest(tmp_path) != before
    assert data_digest() in analysis_version()


def test_discovery_remembers_versions_and_distrusts_conflicts_and_unversioned() -> None:
    found = Discovery()
    found.saw("p", OBS)
    found.saw("p", OBS)  # an export file read again
    assert found.versions == {"p": {"Observation/o": "3"}}
    found.saw("p", {**OBS, "meta": {"versionId": "4"}})
    assert found.versions["p"]["Observation/o"] is None  # two versions seen: must be analysed
    found.saw("q", {"resourceType": "Observation", "id": "x"})
    assert list(found.versions["q"].values()) == [None]
