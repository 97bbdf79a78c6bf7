"""Scale-out on Celery: a real Redis (scripts/redis-test-server.sh), real ``bmefhir worker`` processes, HAPI.

Two workers analyse a synthetic cohort loaded into the HAPI sandbox; every
patient ends with exactly one DiagnosticReport. Then one of two workers is
SIGKILLed (with its whole process group, like a lost machine) in the middle of a
run: Redis hands its unacknowledged tasks to the survivor after the visibility
timeout, and idempotent write-back keeps every patient at exactly one report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bmefhir.cli.synth import transaction_of
from bmefhir.fhir.client import FhirClient
from bmefhir.render import ids
from bmefhir.sync.celery_app import CeleryExecutor, CelerySettings, make_app
from bmefhir.sync.executors import PatientOutcome
from bmefhir.sync.spec import SyncJobSpec
from bmefhir.synth import synth_patient

ROOT = Path(__file__).resolve().parents[2]
BMEFHIR = Path(sys.executable).with_name("bmefhir")
VISIBILITY = 12  # seconds: how long a killed worker's task waits in Redis before it is redelivered
PATIENTS = 40

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]


def _unavailable(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI is set: this must not be skipped)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on loopback for the session."""
    script = ROOT / "scripts" / "redis-test-server.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        _unavailable(f"Redis test server did not start: {proc.stderr.strip()[-300:]}")
    url, state_dir = proc.stdout.split()[:2]
    try:
        yield url
    finally:
        subprocess.run(["bash", str(script), "stop", state_dir], capture_output=True, check=False)


@pytest.fixture(scope="module")
def settings(redis_url: str) -> CelerySettings:
    return CelerySettings(broker_url=redis_url, visibility_timeout=VISIBILITY)


class Worker:
    """One ``bmefhir worker`` process in its own session (so a SIGKILL takes its pool children too)."""

    def __init__(self, settings: CelerySettings, log: Path, concurrency: int = 2) -> None:
        env = dict(os.environ, BMEFHIR_BROKER_URL=settings.broker_url, BMEFHIR_VISIBILITY_TIMEOUT=str(VISIBILITY))
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(BMEFHIR), "worker", "--concurrency", str(concurrency), "--loglevel", "INFO"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.hostname = f"bmefhir-{self.proc.pid}@{os.uname().nodename}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _wait_ready(settings: CelerySettings, workers: list[Worker], timeout: float = 60) -> None:
    app = make_app(settings)
    wanted = {w.hostname for w in workers}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w in workers:
            if w.proc.poll() is not None:
                pytest.fail(f"worker exited with {w.proc.returncode}:\n{w.log.read_text()[-2000:]}")
        replies = app.control.ping(destination=sorted(wanted), timeout=0.5)
        if wanted <= {name for reply in replies for name in reply}:
            return
    pytest.fail(f"workers did not answer a ping within {timeout}s")


@pytest.fixture(scope="module")
def steady_worker(settings: CelerySettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    worker = Worker(settings, tmp_path_factory.mktemp("celery") / "steady.log")
    try:
        _wait_ready(settings, [worker])
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def second_worker(settings: CelerySettings, steady_worker: Worker, tmp_path: Path) -> Iterator[Worker]:
    worker = Worker(settings, tmp_path / "second.log")
    try:
        _wait_ready(settings, [steady_worker, worker])
        yield worker
    finally:
        worker.stop()


def _load_cohort(fhir_base: str, seed: int) -> list[str]:
    """``PATIENTS`` synthetic patients (every scenario) loaded as transactions of ten."""
    patients = [synth_patient(i, seed=seed, resources=15) for i in range(PATIENTS)]
    with FhirClient(fhir_base, timeout=120) as client:
        for start in range(0, PATIENTS, 10):
            client.transaction(transaction_of(patients[start : start + 10]))
    return [resources[0]["id"] for resources in patients]


def _reports_per_patient(fhir_base: str, patient_ids: list[str]) -> dict[str, int]:
    """How many bmefhir DiagnosticReports each patient has, found by their content-derived identifier."""
    counts = {}
    with FhirClient(fhir_base, timeout=60) as client:
        for pid in patient_ids:
            value = ids.identifier_value(f"Patient/{pid}", "diagnostic-report")
            found = list(client.search("DiagnosticReport", {"identifier": f"{ids.ASSESSMENT_SYSTEM}|{value}"}))
            counts[pid] = len(found)
    return counts


def _job(fhir_base: str) -> SyncJobSpec:
    return SyncJobSpec(fhir_base=fhir_base, now=datetime(2026, 1, 15, 8, 0, tzinfo=UTC).isoformat())


def _by_patient(outcomes: list[PatientOutcome]) -> dict[str, PatientOutcome]:
    found = {o.patient_id: o for o in outcomes}
    assert len(found) == len(outcomes), "an executor must yield one outcome per patient"
    return found


def test_two_workers_analyse_every_patient_once_and_a_rerun_writes_nothing(
    fhir_base: str, settings: CelerySettings, steady_worker: Worker, second_worker: Worker
) -> None:
    patient_ids = _load_cohort(fhir_base, seed=int(uuid.uuid4().hex[:6], 16))
    executor = CeleryExecutor(make_app(settings), task_timeout=120, stall_timeout=60)
    job = _job(fhir_base)

    first = _by_patient(list(executor.run(job, patient_ids)))
    assert set(first) == set(patient_ids)
    assert {o.status for o in first.values()} == {"written"}, [o.reason for o in first.values() if o.reason]
    assert set(_reports_per_patient(fhir_base, patient_ids).values()) == {1}

    # A redelivered task is a rerun: nothing changes, nothing is duplicated.
    again = _by_patient(list(executor.run(job, patient_ids)))
    assert {o.status for o in again.values()} == {"unchanged"}, [
        (p, first[p].content_hash, o.content_hash) for p, o in again.items() if o.status != "unchanged"
    ]
    assert set(_reports_per_patient(fhir_base, patient_ids).values()) == {1}


def test_killing_one_of_two_workers_mid_run_loses_and_duplicates_nothing(
    fhir_base: str, settings: CelerySettings, steady_worker: Worker, second_worker: Worker
) -> None:
    patient_ids = _load_cohort(fhir_base, seed=int(uuid.uuid4().hex[:6], 16))
    app = make_app(settings)
    executor = CeleryExecutor(app, task_timeout=120, stall_timeout=60)
    outcomes: list[PatientOutcome] = []
    stranded: set[str] = set()
    for outcome in executor.run(_job(fhir_base), patient_ids):
        outcomes.append(outcome)
        if second_worker.proc.poll() is None and len(outcomes) >= 4:
            stranded = _active_patients(app, second_worker)
            if stranded:  # it is mid-task: pull the plug
                second_worker.kill()
    assert stranded, "the victim never had a task in progress; the test proved nothing"
    assert second_worker.proc.returncode == -signal.SIGKILL

    by_patient = _by_patient(outcomes)
    assert set(by_patient) == set(patient_ids)
    failed = {pid: o.reason for pid, o in by_patient.items() if o.status == "failed"}
    assert not failed
    assert stranded <= set(by_patient)  # the killed worker's tasks were redelivered and finished
    assert set(_reports_per_patient(fhir_base, patient_ids).values()) == {1}


def _active_patients(app: object, worker: Worker) -> set[str]:
    """The patient ids ``worker`` is executing right now (Celery's remote-control ``inspect active``)."""
    inspect = app.control.inspect(destination=[worker.hostname], timeout=1.0)  # type: ignore[attr-defined]
    active = (inspect.active() or {}).get(worker.hostname, [])
    return {task["args"][1] for task in active}
