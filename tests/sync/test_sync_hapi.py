"""Sync against the real HAPI sandbox: incremental discovery, crash safety (SIGKILL), server faults."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from faultproxy import FaultProxy, Rule
from hapi_helpers import fresh_seed, load, now_on_server, reports_per_patient

from bmefhir.cli.sync import READY_LINE
from bmefhir.fhir import FhirClient
from bmefhir.sync import LocalExecutor
from bmefhir.sync.executors import WRITE_ATTEMPTS
from bmefhir.sync.runner import SyncOptions, server_key, sync_once
from bmefhir.sync.store import SyncStore

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

CLI = [sys.executable, "-c", "from bmefhir.cli import main; main()"]


def test_changing_one_observation_resyncs_exactly_that_patient(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 6, fresh_seed())
    store = SyncStore(f"sqlite:///{tmp_path / 'sync.db'}")
    options = SyncOptions(since=since, discovery="search", overlap=timedelta(0))
    first = sync_once(store, fhir_base, options=options, executor=LocalExecutor(2))
    assert first.complete
    assert set(ids) <= set(store.run_outcomes(first.run_id))

    changed = ids[3]
    with FhirClient(fhir_base) as client:
        obs = next(client.search("Observation", {"patient": changed, "_count": 1}))
        obs["status"] = "amended"
        obs.setdefault("note", []).append({"text": "corrected"})
        client.update(obs)
    second = sync_once(
        store, fhir_base, options=SyncOptions(discovery="search", overlap=timedelta(0)), executor=LocalExecutor(2)
    )
    assert second.complete
    analysed = set(store.run_outcomes(second.run_id)) & set(ids)
    assert analysed == {changed}  # our own write-backs of the first run did not re-trigger anyone
    assert store.cursor(server_key(fhir_base)) is not None
    assert reports_per_patient(fhir_base, since).most_common(1)[0][1] == 1
    store.close()


def _readiness(proc: subprocess.Popen[str], lines: list[str] | None = None) -> tuple[threading.Event, threading.Thread]:
    """Drains the CLI's stderr (into ``lines``); the event is set at its readiness line."""
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if lines is not None:
                lines.append(line)
            if line.strip() == READY_LINE:
                ready.set()
        proc.stderr.close()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return ready, reader


def _exited_within(proc: subprocess.Popen[str], seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


@pytest.mark.timeout(900)  # an upper bound, not a wait: 120 patients, 8 restarts, on a loaded machine
def test_sigkill_at_random_points_loses_and_duplicates_nothing(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 120, fresh_seed(), resources=8, per_bundle=60)
    state = f"sqlite:///{tmp_path / 'sync.db'}"
    args = [
        *CLI,
        "sync",
        "--fhir-base",
        fhir_base,
        "--state",
        state,
        "--since",
        since,
        "--discovery",
        "search",
        "--workers",
        "4",
        "--json",
    ]
    rng = random.Random(5)
    kills = 0
    while kills < 8:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready, reader = _readiness(proc)
        # The kill point is random, counted from the CLI's readiness line (not from the start, which a
        # loaded machine stretches): kills land in discovery and mid-processing however slow start-up is.
        assert ready.wait(timeout=120), "the sync CLI printed no readiness line"
        if _exited_within(proc, rng.uniform(0.0, 2.0)):
            reader.join(timeout=30)
            break  # finished before the kill: the run is complete
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join(timeout=30)
        kills += 1
    final = subprocess.run(args, capture_output=True, text=True, timeout=240, check=False)
    assert final.returncode == 0, final.stdout
    summary = json.loads(final.stdout.strip().splitlines()[-1])
    assert summary["complete"]
    assert kills >= 6
    counts = reports_per_patient(fhir_base, since)
    assert {pid: counts.get(pid, 0) for pid in ids} == dict.fromkeys(ids, 1)  # none missing, none twice
    ci = reports_per_patient(fhir_base, since, "ClinicalImpression")
    assert all(ci.get(pid) == 1 for pid in ids)
    store = SyncStore(state)
    assert store.open_run(server_key(fhir_base)) is None
    assert store.failures() == []
    store.close()


def test_server_faults_neither_duplicate_nor_lose(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 8, fresh_seed())
    with FaultProxy(fhir_base) as proxy:
        proxy.rules = [
            Rule("GET", "_lastUpdated", "status", times=1, status=429, retry_after="1"),
            Rule("GET", "Observation", "status", times=1, status=503),
            Rule("POST", "", "drop", times=1, body=b'"batch"'),  # a read: dropped before the server saw it
            Rule("POST", "", "status", times=1, status=503, body=b'"batch"'),
            Rule("POST", "", "drop_after", times=2, body=b'"transaction"'),  # committed, then the answer is lost
        ]
        store = SyncStore(f"sqlite:///{tmp_path / 'sync.db'}")
        options = SyncOptions(since=since, discovery="search", retry_base=timedelta(0))
        first = sync_once(store, proxy.base_url, options=options, executor=LocalExecutor(1))
        assert first.complete
        assert all(rule.fired == rule.times for rule in proxy.rules)
        lost = {f.patient_id for f in store.failures()}
        assert lost, "a lost transaction response must fail the patient, never be replayed blindly"
        second = sync_once(
            store,
            proxy.base_url,
            options=SyncOptions(discovery="search", retry_base=timedelta(0), overlap=timedelta(0)),
            executor=LocalExecutor(1),
        )
        assert lost <= set(store.run_outcomes(second.run_id))  # dead letters retried on the next run
        assert store.failures() == []
        store.close()
    counts = reports_per_patient(fhir_base, since)
    assert {pid: counts.get(pid, 0) for pid in ids} == dict.fromkeys(ids, 1)


def test_sigterm_finishes_gracefully_and_the_next_run_resumes(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 20, fresh_seed(), resources=8)
    state = f"sqlite:///{tmp_path / 'sync.db'}"
    args = [
        *CLI,
        "sync",
        "--fhir-base",
        fhir_base,
        "--state",
        state,
        "--since",
        since,
        "--discovery",
        "search",
        "--workers",
        "1",
        "--every",
        "1h",
        "--json",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    ready, reader = _readiness(proc, lines)
    assert ready.wait(timeout=120), f"no readiness line: {''.join(lines)[-800:]}"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    reader.join(timeout=30)
    err = "".join(lines)
    assert proc.returncode == 0, err
    store = SyncStore(state)
    assert store.lease(server_key(fhir_base)) is None  # released
    store.close()
    rerun = [a for a in args if a not in ("--every", "1h")]
    done = subprocess.run(rerun, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    counts = reports_per_patient(fhir_base, since)
    assert all(counts.get(pid) == 1 for pid in ids)


def test_bulk_export_discovery_finds_the_changed_patient(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 3, fresh_seed())
    store = SyncStore(f"sqlite:///{tmp_path / 'sync.db'}")
    summary = sync_once(
        store,
        fhir_base,
        options=SyncOptions(since=since, discovery="export", export_poll_max=timedelta(seconds=1)),
        executor=LocalExecutor(2),
    )
    assert summary.method == "export"
    assert summary.complete
    assert set(ids) <= set(store.run_outcomes(summary.run_id))
    store.close()


def test_stop_event_ends_a_run_without_losing_patients(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 12, fresh_seed(), resources=8)
    store = SyncStore(f"sqlite:///{tmp_path / 'sync.db'}")
    stop = threading.Event()
    options = SyncOptions(since=since, discovery="search")
    first = sync_once(
        store, fhir_base, options=options, executor=LocalExecutor(1), stop=stop, on_outcome=lambda _o: stop.set()
    )
    assert not first.complete
    assert first.analysed == 1
    second = sync_once(store, fhir_base, options=options, executor=LocalExecutor(2))
    assert second.resumed
    assert second.complete
    assert set(ids) <= set(store.run_outcomes(first.run_id))
    store.close()


def test_transient_faults_on_export_and_transactions_are_retried(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 3, fresh_seed())
    with FaultProxy(fhir_base) as proxy:
        proxy.rules = [
            Rule("GET", "$export-poll-status", "status", times=1, status=503, retry_after="1"),
            Rule("GET", "/Binary/", "status", times=1, status=429, retry_after="1"),  # an export file
            Rule("POST", "", "status", times=1, status=429, retry_after="1", body=b'"transaction"'),
            Rule("POST", "", "status", times=1, status=503, body=b'"transaction"'),
        ]
        store = SyncStore(f"sqlite:///{tmp_path / 'sync.db'}")
        options = SyncOptions(since=since, discovery="export", export_poll_max=timedelta(seconds=1))
        summary = sync_once(store, proxy.base_url, options=options, executor=LocalExecutor(1))
        assert summary.method == "export"  # no fallback: every fault was retried
        assert summary.complete
        assert [rule.fired for rule in proxy.rules] == [1, 1, 1, 1]
        assert store.failures() == []  # the 429/503 transactions were retried, nobody waits in dead letters
        assert set(ids) <= set(store.run_outcomes(summary.run_id))
        assert store.export_state(server_key(proxy.base_url)).job_url is None  # the job was deleted
        store.close()
    counts = reports_per_patient(fhir_base, since)
    assert {pid: counts.get(pid, 0) for pid in ids} == dict.fromkeys(ids, 1)


def test_a_write_conflict_is_re_read_and_retried_and_a_lasting_one_fails_the_patient(
    fhir_base: str, tmp_path: Path
) -> None:
    """A 409 on a patient's output transaction wrote nothing (it is atomic): the patient is read again and
    written, once (the rules match output transactions, not the Device's create-once bundle);
    a conflict on every attempt fails that patient with the server's reason, and it waits for the next run."""
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 2, fresh_seed())
    store = SyncStore(f"sqlite:///{tmp_path / 'sync.db'}")
    with FaultProxy(fhir_base) as proxy:
        proxy.rules = [Rule("POST", "", "status", times=1, status=409, body=b'"DiagnosticReport"')]
        # Search discovery (an $export job would only add its polling) and no overlap window: other tests'
        # patients are not this test's concern.
        options = SyncOptions(since=since, discovery="search", overlap=timedelta(0))
        summary = sync_once(store, proxy.base_url, options=options, executor=LocalExecutor(1))
        assert [rule.fired for rule in proxy.rules] == [1]
        assert summary.failed == 0
        assert {store.run_outcomes(summary.run_id)[pid] for pid in ids} == {"written"}

        (late,) = load(fhir_base, 1, fresh_seed())
        proxy.rules = [Rule("POST", "", "status", times=WRITE_ATTEMPTS, status=409, body=b'"DiagnosticReport"')]
        options = SyncOptions(discovery="search", overlap=timedelta(0))
        summary = sync_once(store, proxy.base_url, options=options, executor=LocalExecutor(1))
        assert [rule.fired for rule in proxy.rules] == [WRITE_ATTEMPTS]
        assert summary.failed == 1
        assert [f.patient_id for f in store.failures()] == [late]
        assert "409" in store.failures()[0].reason
    store.close()
    assert {pid: reports_per_patient(fhir_base, since).get(pid, 0) for pid in ids} == dict.fromkeys(ids, 1)
