"""Executors: who runs the per-patient work of a sync run (a local pool, or Celery workers).

The unit of work is ``process_one(job, patient_id)``: fetch the patient, run the
pipeline, write back only when the result changed. It never raises: every
failure becomes a ``PatientOutcome`` with a one-line reason (no patient data
beyond the id). Given what the patient's current outputs were computed from
(``known``, from the state store), a patient whose fetched inputs have the same
fingerprint and whose outputs are still on the server is ``same-inputs``: not
analysed, nothing written (``bmefhir.sync.fingerprint``). It is idempotent (conditional updates keyed on content-derived
identifiers, a content-hash skip), so running a patient twice — a retry, a
restart after a crash, a redelivered Celery task — is harmless.

An ``Executor`` maps ``process_one`` over patient ids and yields outcomes as they
complete (any order). Closing the returned iterator early (``close()``, or the
consumer stopping on SIGTERM) stops submitting new patients; patients already
started finish or are abandoned, and an abandoned patient is simply redone on the
next run. ``LocalExecutor`` is the embedded default; ``bmefhir.sync.celery_app``
provides ``CeleryExecutor`` with the same interface.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Final, Literal, Protocol

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirConflict, FhirError
from bmefhir.fhir.existing import OUTPUT_TYPES
from bmefhir.fhir.patient_fetch import fetch_patient
from bmefhir.fhir.raw import RawPatient
from bmefhir.pipeline import process_patient
from bmefhir.privacy import pseudonym
from bmefhir.sync.connect import client_for, close_clients
from bmefhir.sync.fingerprint import analysis_version, input_fingerprint, input_versions
from bmefhir.sync.spec import AuthConfig, SyncJobSpec
from bmefhir.sync.store import PatientStateView
from bmefhir.writeback import patient_lock, write_back

__all__ = [
    "AuthConfig",
    "Executor",
    "Known",
    "LocalExecutor",
    "OutcomeStatus",
    "PatientJob",
    "PatientOutcome",
    "SyncJobSpec",
    "process_one",
]

log = logging.getLogger("bmefhir.sync")

OutcomeStatus = Literal["written", "unchanged", "same-inputs", "failed"]
_STATUSES: tuple[str, ...] = ("written", "unchanged", "same-inputs", "failed")
Known = Callable[[str], PatientStateView | None]  # patient id → what its current outputs came from


class PatientJob(Protocol):
    """The picklable description of the work shared by every patient of a run (``SyncJobSpec``)."""

    @property
    def fhir_base(self) -> str: ...
    @property
    def now(self) -> str: ...
    @property
    def dry_run(self) -> bool: ...
    def to_json(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PatientOutcome:
    """What happened to one patient. ``reason`` says why it failed (or why nothing was written).

    ``same-inputs``: recognised as unchanged since its last analysis, not analysed. ``state`` (on
    written/unchanged, not in a dry run) is what the outputs now on the server were computed from."""

    patient_id: str
    status: OutcomeStatus
    reason: str | None
    requests: int
    content_hash: str | None
    state: PatientStateView | None = None

    def to_dict(self) -> dict[str, object]:
        state = self.state
        return {
            "patient_id": self.patient_id,
            "status": self.status,
            "reason": self.reason,
            "requests": self.requests,
            "content_hash": self.content_hash,
            "state": None
            if state is None
            else {
                "fingerprint": state.fingerprint,
                "analysis": state.analysis,
                "inputs": state.inputs,
                "content_hash": state.content_hash,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PatientOutcome:
        status = data["status"]
        if status not in _STATUSES:
            raise ValueError(f"PatientOutcome.status must be one of {', '.join(_STATUSES)}")
        requests = data.get("requests", 0)
        reason, digest = data.get("reason"), data.get("content_hash")
        return cls(
            patient_id=str(data["patient_id"]),
            status=status,  # type: ignore[arg-type]  # checked against _STATUSES above
            reason=reason if isinstance(reason, str) else None,
            requests=requests if isinstance(requests, int) else 0,
            content_hash=digest if isinstance(digest, str) else None,
            state=_state_from(data.get("state")),
        )


def _state_from(data: object) -> PatientStateView | None:
    if not isinstance(data, Mapping):
        return None
    fingerprint, analysis, inputs, digest = (data.get(k) for k in ("fingerprint", "analysis", "inputs", "content_hash"))
    if not (isinstance(fingerprint, str) and isinstance(analysis, str) and isinstance(inputs, Mapping)):
        return None
    return PatientStateView(
        fingerprint=fingerprint,
        analysis=analysis,
        inputs={str(k): str(v) for k, v in inputs.items()},
        content_hash=digest if isinstance(digest, str) else None,
    )


class Executor(Protocol):
    def run(self, job: SyncJobSpec, patient_ids: Iterable[str], known: Known | None = None) -> Iterator[PatientOutcome]:
        """Process every id with ``process_one`` (with ``known(id)``, looked up as the id is submitted);
        yield each outcome when it completes (any order)."""
        ...


def _outputs_current(raw: RawPatient, content_hash: str | None) -> bool:
    """Every output is on the server with the hash stored for it (nobody deleted or replaced one)."""
    if raw.existing is None or not content_hash:
        return False
    hashes = {e.resource_type: e.content_hash for e in raw.existing}
    return all(hashes.get(kind) == content_hash for kind in OUTPUT_TYPES)


# A transaction refused with 409/412 wrote nothing (it is atomic): another writer got there first, or the
# server's own concurrency check fired (HAPI: two conditional creates racing on its search cache). Re-reading
# and re-applying is the optimistic-concurrency answer; the re-read sees any signed report, which write_back
# then leaves alone.
WRITE_ATTEMPTS: Final = 3


def process_one(job: SyncJobSpec, patient_id: str, known: PatientStateView | None = None) -> PatientOutcome:
    """Fetch → (same inputs as ``known``? done) → ``process_patient`` → write back (unless ``job.dry_run``),
    re-read and retried on a write conflict. Never raises."""
    requests = 0
    try:
        client = client_for(job)
        before = client.requests_sent
        try:
            with patient_lock(client.base, patient_id):
                for attempt in range(1, WRITE_ATTEMPTS + 1):
                    try:
                        outcome = _fetch_analyse_write(job, client, patient_id, known)
                        return replace(outcome, requests=client.requests_sent - before)
                    except FhirConflict:
                        if attempt == WRITE_ATTEMPTS:
                            raise
                        log.info("sync: patient %s: write conflict; re-reading", pseudonym(patient_id))
                raise AssertionError("unreachable")  # the loop returns or raises
        finally:
            requests = client.requests_sent - before
    except FhirError as exc:
        return PatientOutcome(patient_id, "failed", str(exc), requests, None)
    except ValueError as exc:  # an id FHIR does not allow, an unusable job setting
        return PatientOutcome(patient_id, "failed", f"invalid input: {exc}", requests, None)
    except Exception as exc:  # one patient's bug must not end a population run
        log.exception("sync: patient %s failed", pseudonym(patient_id))
        reason = f"internal error ({type(exc).__name__}); see the log"
        return PatientOutcome(patient_id, "failed", reason, requests, None)


def _fetch_analyse_write(
    job: SyncJobSpec, client: FhirClient, patient_id: str, known: PatientStateView | None
) -> PatientOutcome:
    raw = fetch_patient(client, patient_id, count=job.page_size)
    versions = input_versions(raw.resources)
    analysis = analysis_version()
    fingerprint = input_fingerprint(raw, versions, write_findings=job.write_findings, analysis=analysis)
    if (
        known is not None
        and known.fingerprint == fingerprint
        and known.analysis == analysis
        and _outputs_current(raw, known.content_hash)
    ):
        return PatientOutcome(patient_id, "same-inputs", None, raw.requests, known.content_hash)
    result = process_patient(
        raw.resources,
        job.now_dt,
        patient_id=raw.patient_id,
        source_issues=raw.issues,
        write_findings=job.write_findings,
    )
    digest = result.outputs.content_hash or None
    if job.dry_run:
        return PatientOutcome(patient_id, "unchanged", "dry run: nothing written", raw.requests, digest)
    written = write_back(client, raw, result)
    status: OutcomeStatus = "written" if written.changed else "unchanged"
    state = PatientStateView(fingerprint, analysis, versions, written.content_hash)
    return PatientOutcome(patient_id, status, None, 0, written.content_hash, state)


class LocalExecutor:
    """A thread pool in this process, no broker. At most ``2 * workers`` patients are in flight,
    so memory stays flat however many patients a run has."""

    def __init__(self, workers: int = 4) -> None:
        if workers < 1:
            raise ValueError("LocalExecutor needs at least one worker")
        self.workers = workers

    def run(self, job: SyncJobSpec, patient_ids: Iterable[str], known: Known | None = None) -> Iterator[PatientOutcome]:
        ids = iter(patient_ids)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="bmefhir-sync")
        pending: set[Future[PatientOutcome]] = set()
        try:
            for pid in ids:
                pending.add(pool.submit(process_one, job, pid, known(pid) if known is not None else None))
                if len(pending) >= 2 * self.workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()  # not started yet: redone on the next run
            pool.shutdown(wait=True)  # started ones finish (one patient each at most)
            close_clients(job)
