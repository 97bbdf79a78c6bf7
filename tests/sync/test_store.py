"""The state store on SQLite and PostgreSQL: cursor, runs, dead letters, the lease."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bmefhir.sync.store import PatientStateView, StoreError, SyncStore, retry_delay

S = "http://fhir.example/fhir/"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_cursor_moves_only_when_the_run_has_no_pending_patient(store: SyncStore) -> None:
    assert store.cursor(S) is None
    run = store.start_run(S, "{}", since=None, method="full")
    assert store.add_patients(run, ["b", "a", "a"]) == 2
    assert store.add_patients(run, ["a", "c"]) == 1  # re-discovery after a crash adds only new ids
    store.discovered(run, "2025-03-01T12:00:00.000Z")
    assert store.pending(run) == ["a", "b", "c"]
    store.record(run, S, "a", "written", requests=3, content_hash="h")
    with pytest.raises(StoreError, match="2 pending"):
        store.finish_run(run)
    assert store.cursor(S) is None
    store.record(run, S, "b", "unchanged")
    store.record(run, S, "c", "failed", reason="GET Patient/c → 503", now=T0)
    store.finish_run(run)
    assert store.cursor(S) == "2025-03-01T12:00:00.000Z"
    assert store.open_run(S) is None
    assert store.runs(S)[0].counts == {"written": 1, "unchanged": 1, "failed": 1}


def test_cursor_never_moves_backwards(store: SyncStore) -> None:
    store.set_cursor(S, "2025-03-02T00:00:00.000Z")
    run = store.start_run(S, "{}", since=None, method="search")
    store.discovered(run, "2025-03-01T00:00:00.000Z")
    store.finish_run(run)
    assert store.cursor(S) == "2025-03-02T00:00:00.000Z"


def test_an_unfinished_run_is_found_again_for_resuming(store: SyncStore) -> None:
    run = store.start_run(S, '{"now": "x"}', since="2025-01-01T00:00:00.000Z", method="search")
    view = store.open_run(S)
    assert view is not None
    assert (view.id, view.state, view.job, view.since) == (run, "discovering", '{"now": "x"}', view.since)
    store.discovered(run, "2025-03-01T00:00:00.000Z")
    view = store.open_run(S)
    assert view is not None
    assert view.state == "processing"


def test_dead_letter_backs_off_exponentially_and_clears_on_success(store: SyncStore) -> None:
    run = store.start_run(S, "{}", since=None, method="full")
    store.add_patients(run, ["p1"])
    base, cap = timedelta(minutes=5), timedelta(hours=1)
    store.record(run, S, "p1", "failed", reason="boom", now=T0, retry_base=base, retry_cap=cap)
    assert store.due_failures(S, T0 + timedelta(minutes=4)) == []
    assert store.due_failures(S, T0 + timedelta(minutes=5)) == ["p1"]
    store.record(run, S, "p1", "failed", reason="again", now=T0, retry_base=base, retry_cap=cap)
    [letter] = store.failures(S)
    assert (letter.attempts, letter.reason, letter.next_attempt_at) == (2, "again", T0 + timedelta(minutes=10))
    store.record(run, S, "p1", "written", now=T0)
    assert store.failures(S) == []


def test_retry_delay_is_capped() -> None:
    base, cap = timedelta(minutes=5), timedelta(hours=1)
    assert [retry_delay(n, base, cap).total_seconds() / 60 for n in (1, 2, 3, 4, 5, 9)] == [5, 10, 20, 40, 60, 60]


def test_lease_is_exclusive_until_it_expires(store: SyncStore) -> None:
    ttl = timedelta(seconds=30)
    assert store.acquire(S, "host-a:1:x", ttl, now=T0)
    assert not store.acquire(S, "host-b:2:y", ttl, now=T0 + timedelta(seconds=10))
    assert store.acquire("http://other/fhir/", "host-b:2:y", ttl, now=T0)  # per server
    assert store.renew(S, "host-a:1:x", ttl, now=T0 + timedelta(seconds=20))  # heartbeat: now until T0+50s
    assert not store.acquire(S, "host-b:2:y", ttl, now=T0 + timedelta(seconds=40))
    assert store.acquire(S, "host-b:2:y", ttl, now=T0 + timedelta(seconds=51))  # expired: taken over
    assert not store.renew(S, "host-a:1:x", ttl, now=T0 + timedelta(seconds=52))  # the old holder learns it lost
    store.release(S, "host-a:1:x")  # not the holder: no effect
    assert store.lease(S) is not None
    store.release(S, "host-b:2:y")
    assert store.lease(S) is None


def test_a_killed_holder_on_this_host_frees_the_lease_at_once(store: SyncStore) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner = f"{socket.gethostname()}:{dead.stdout.strip()}:x"
    assert store.acquire(S, owner, timedelta(hours=1))
    assert store.acquire(S, f"{socket.gethostname()}:999999999:y", timedelta(minutes=1)) is True


def test_a_bad_state_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="sqlite:///PATH or postgresql"):
        SyncStore("mysql://x/y")


def test_export_failures_count_in_a_row_and_the_stale_job_is_remembered(store: SyncStore) -> None:
    assert store.export_state(S).failures == 0
    assert store.export_failed(S, "GET $export → 503", now=T0) == 1
    assert store.export_failed(S, "GET export file → 429", now=T0) == 2
    store.set_export_job(S, "http://fhir.example/fhir/$export-poll-status?_jobId=1")
    state = store.export_state(S)
    assert (state.failures, state.last_error) == (2, "GET export file → 429")
    assert state.job_url is not None
    store.export_succeeded(S)
    store.set_export_job(S, None)
    assert store.export_state(S) == type(state)(S, 0, None, None)
    assert store.export_state("http://other.example/fhir/").failures == 0  # per server


def test_a_run_changes_its_discovery_method_only_while_discovering(store: SyncStore) -> None:
    run = store.start_run(S, "{}", since="2025-03-01T00:00:00.000Z", method="export")
    store.set_run_method(run, "search")
    assert store.runs(S)[0].method == "search"
    store.discovered(run, "2025-03-01T12:00:00.000Z")
    store.set_run_method(run, "export")
    assert store.runs(S)[0].method == "search"


def test_patient_state_is_stored_with_the_outcome_and_marks_same_inputs(store: SyncStore) -> None:
    run = store.start_run(S, "{}", since="2025-03-01T00:00:00.000Z", method="search")
    store.add_patients(run, ["a", "b", "c"])
    state = PatientStateView("f1", "knowledge 1.0.0; bmefhir 0.1.0", {"Patient/a": "1", "Observation/o": "2"}, "h")
    store.record(run, S, "a", "written", content_hash="h", state=state, now=T0)
    store.record(run, S, "b", "failed", reason="503", state=state, now=T0)  # a failure stores no state
    assert store.patient_state(S, "b") is None
    stored = store.patient_state(S, "a")
    assert stored is not None
    assert (stored.fingerprint, stored.inputs, stored.analysed_at) == ("f1", state.inputs, T0)
    newer = PatientStateView("f2", state.analysis, {"Patient/a": "2"}, "h2")
    store.record(run, S, "a", "written", content_hash="h2", state=newer, now=T0 + timedelta(hours=1))
    assert store.patient_states(S, ["a", "b", "zz"])["a"].fingerprint == "f2"  # replaced, one row per patient
    assert store.patient_state("http://other.example/fhir/", "a") is None  # per server

    later = store.start_run(S, "{}", since="2025-03-02T00:00:00.000Z", method="search")
    store.add_patients(later, ["a", "c"])
    assert store.mark_same_inputs(later, ["a", "missing"]) == 1
    assert store.pending(later) == ["c"]
    assert store.runs(S, limit=1)[0].counts == {"same-inputs": 1, "pending": 1}
