"""Scale-out on Celery with a Redis broker: one task per patient, late acknowledgement.

Workers (``bmefhir worker``) run ``analyse_patient``, which is ``process_one``; the
sync process fans a run out with ``CeleryExecutor`` (the ``Executor`` interface).

Delivery is at least once, never at most once. A task is acknowledged only after
it finished (``task_acks_late``); a worker child that dies is rejected back to the
queue (``task_reject_on_worker_lost``); a whole worker that dies leaves its
unacknowledged task in Redis, which puts it back after ``visibility_timeout``.
Each worker reserves one task per slot (``worker_prefetch_multiplier = 1``), so a
lost worker strands few tasks. A task that runs twice is harmless: write-back is
idempotent (content-derived identifiers, conditional updates, a content-hash skip).
Tasks are time-limited below the visibility timeout, so Redis never hands out a
task that is still running elsewhere.

A worker warms the pipeline up (``pipeline.warm_up``) once, in its main process, before
its pool starts: prefork children are forked with the models, the report reader's
pipelines and the language detector loaded, so no child pays for them on its first
patient, and the children share those pages instead of each loading a copy.

Environment (read when the module is imported, i.e. at worker start):

* ``BMEFHIR_BROKER_URL``      broker, default ``redis://127.0.0.1:6379/0``
* ``BMEFHIR_RESULT_BACKEND``  result store, default: the broker URL
* ``BMEFHIR_VISIBILITY_TIMEOUT`` seconds before an unacknowledged task is redelivered (default 900)
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from celery import Celery  # type: ignore[import-untyped]  # Celery ships no type information
from celery.backends.redis import RedisBackend  # type: ignore[import-untyped]
from celery.signals import celeryd_after_setup  # type: ignore[import-untyped]
from kombu.exceptions import OperationalError
from kombu.utils.url import maybe_sanitize_url

from bmefhir.pipeline import warm_up
from bmefhir.sync.executors import Known, PatientOutcome, process_one
from bmefhir.sync.spec import SyncJobSpec
from bmefhir.sync.store import PatientStateView

__all__ = [
    "DEFAULT_BROKER_URL",
    "TASK_NAME",
    "CeleryExecutor",
    "CelerySettings",
    "ExecutorUnavailable",
    "analyse_patient",
    "app",
    "configure",
    "make_app",
]

log = logging.getLogger("bmefhir.sync")

DEFAULT_BROKER_URL: Final = "redis://127.0.0.1:6379/0"
TASK_NAME: Final = "bmefhir.analyse_patient"
QUEUE: Final = "bmefhir"  # not Celery's default "celery": a shared Redis may serve other apps


class ExecutorUnavailable(RuntimeError):
    """The broker cannot be reached: nothing was (or can be) queued. Names the broker without its password."""


@dataclass(frozen=True, slots=True)
class CelerySettings:
    broker_url: str = DEFAULT_BROKER_URL
    result_backend: str | None = None  # None: the broker URL
    visibility_timeout: int = 900

    def __post_init__(self) -> None:
        if self.visibility_timeout < 5:
            raise ValueError("visibility_timeout must be at least 5 seconds")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CelerySettings:
        env = os.environ if environ is None else environ
        raw = env.get("BMEFHIR_VISIBILITY_TIMEOUT", "900")
        try:
            visibility = int(raw)
        except ValueError:
            raise ValueError(f"BMEFHIR_VISIBILITY_TIMEOUT must be whole seconds, not {raw!r}") from None
        return cls(
            broker_url=env.get("BMEFHIR_BROKER_URL") or DEFAULT_BROKER_URL,
            result_backend=env.get("BMEFHIR_RESULT_BACKEND") or None,
            visibility_timeout=visibility,
        )

    def conf(self) -> dict[str, Any]:
        """Celery settings (lower-case names) that give at-least-once delivery with bounded loss windows."""
        visibility = self.visibility_timeout
        results = self.result_backend or self.broker_url
        if results.startswith(("redis://", "rediss://")):
            results = f"{__name__}:PollingRedisBackend+{results}"
        return {
            "broker_url": self.broker_url,
            "result_backend": results,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "task_acks_on_failure_or_timeout": True,  # a timed-out task is failed, not requeued forever
            "worker_prefetch_multiplier": 1,
            "worker_cancel_long_running_tasks_on_connection_loss": True,
            # Hard limit below the visibility timeout: a task still running is never handed out again.
            "task_time_limit": max(1, int(visibility * 0.9)),
            "task_soft_time_limit": max(1, int(visibility * 0.8)),
            "broker_transport_options": {
                "visibility_timeout": visibility,
                # How often workers sweep for tasks a dead worker left unacknowledged.
                "unacked_restore_interval": max(1, min(10, visibility // 10)),
                "unacked_restore_throttle": 1,
            },
            "broker_connection_retry_on_startup": True,
            "broker_connection_timeout": 5,
            "task_publish_retry_policy": {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
            "task_default_queue": QUEUE,
            "task_serializer": "json",
            "result_serializer": "json",
            "accept_content": ["json"],
            "result_expires": 6 * 3600,
            "result_extended": False,
            "worker_send_task_events": False,
        }


class PollingRedisBackend(RedisBackend):  # type: ignore[misc]
    """Celery's Redis result backend without the pub/sub subscription it opens for every task sent.

    ``CeleryExecutor`` reads results by polling (one ``MGET`` for all pending tasks);
    the stock backend would also subscribe to each task's channel and, never being
    drained, let unread messages pile up for a run of thousands of patients.
    """

    def on_task_call(self, producer: object, task_id: str) -> None:
        pass


def make_app(settings: CelerySettings | None = None) -> Celery:
    celery = Celery("bmefhir")
    celery.conf.update((settings or CelerySettings.from_env()).conf())
    return celery


app: Final = make_app()


def configure(settings: CelerySettings) -> None:
    """Point this process's ``app`` at another broker (``bmefhir worker --broker``, tests)."""
    app.conf.update(settings.conf())


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def warm_worker(**_: object) -> None:
    """In a ``bmefhir worker``'s main process, after its logging is set up and before its pool starts
    (docs/sync.md "Executors")."""
    cpu = time.process_time()
    warm_up(datetime.now(UTC))
    log.info("worker warmed up (models, report reader, language detector) in %.1f s CPU", time.process_time() - cpu)


@app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
def analyse_patient(job: dict[str, Any], patient_id: str, known: dict[str, Any] | None = None) -> dict[str, object]:
    """``process_one`` for one patient; the job travels as ``SyncJobSpec`` JSON data, the outcome as a dict.
    ``known``: the stored fingerprint, analysis version and content hash (not the input list: the
    worker needs only these to recognise unchanged inputs)."""
    spec = SyncJobSpec.from_json(orjson.dumps(job))
    state = None
    if isinstance(known, dict) and isinstance(known.get("fingerprint"), str) and isinstance(known.get("analysis"), str):
        digest = known.get("content_hash")
        state = PatientStateView(
            known["fingerprint"], known["analysis"], {}, digest if isinstance(digest, str) else None
        )
    return process_one(spec, patient_id, state).to_dict()


class CeleryExecutor:
    """Fans patients out as ``analyse_patient`` tasks and yields outcomes as they complete (any order).

    At most ``max_in_flight`` tasks are queued at once, so memory and the queue stay
    flat for any run size. Results are collected with one Redis ``MGET`` per
    ``poll_interval``. A task with no result after ``task_timeout`` seconds, or every
    pending task when no result at all arrived for ``stall_timeout`` seconds (no
    worker running?), becomes a failed outcome; the sync run dead-letters it and a
    later run retries it. The default ``task_timeout`` outlasts one redelivery (visibility
    timeout plus the task time limit). Closing the iterator early revokes the tasks not
    yet started. An unreachable broker raises ``ExecutorUnavailable`` (nothing to record
    per patient: the run itself failed).
    """

    def __init__(
        self,
        celery: Celery | None = None,
        *,
        max_in_flight: int = 200,
        task_timeout: float = 1800.0,
        stall_timeout: float = 600.0,
        poll_interval: float = 0.2,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if task_timeout <= 0 or stall_timeout <= 0 or poll_interval <= 0:
            raise ValueError("timeouts and poll_interval must be positive")
        self.app = celery or app
        self.max_in_flight = max_in_flight
        self.task_timeout = task_timeout
        self.stall_timeout = stall_timeout
        self.poll_interval = poll_interval
        self._reads_failing = False

    def __repr__(self) -> str:
        broker = maybe_sanitize_url(str(self.app.conf.broker_url))
        return f"CeleryExecutor(broker={broker!r}, max_in_flight={self.max_in_flight})"

    def run(self, job: SyncJobSpec, patient_ids: Iterable[str], known: Known | None = None) -> Iterator[PatientOutcome]:
        job_data = orjson.loads(job.to_json())
        ids = iter(patient_ids)
        pending: dict[str, tuple[str, float]] = {}  # task id -> (patient id, submitted at)
        exhausted = False
        last_progress = time.monotonic()
        try:
            while True:
                while not exhausted and len(pending) < self.max_in_flight:
                    patient_id = next(ids, None)
                    if patient_id is None:
                        exhausted = True
                        break
                    state = known(patient_id) if known is not None else None
                    pending[self._submit(job_data, patient_id, state)] = (patient_id, time.monotonic())
                if not pending:
                    return
                finished = self._collect(pending)
                now = time.monotonic()
                if finished:
                    last_progress = now
                for outcome in finished:
                    yield outcome
                for outcome in self._expire(pending, now, stalled=now - last_progress > self.stall_timeout):
                    last_progress = now
                    yield outcome
                if not finished:
                    time.sleep(self.poll_interval)
        finally:
            if pending:
                self._revoke(list(pending))

    # -- internals -----------------------------------------------------------

    def _submit(self, job_data: dict[str, Any], patient_id: str, state: PatientStateView | None = None) -> str:
        task_id = uuid.uuid4().hex
        args: tuple[object, ...] = (job_data, patient_id)
        if state is not None:
            args += (
                {"fingerprint": state.fingerprint, "analysis": state.analysis, "content_hash": state.content_hash},
            )
        try:
            self.app.send_task(TASK_NAME, args=args, task_id=task_id, queue=QUEUE)
        except OperationalError as exc:
            broker = maybe_sanitize_url(str(self.app.conf.broker_url))
            raise ExecutorUnavailable(
                f"cannot queue tasks on the Celery broker {broker} ({type(exc).__name__}); "
                "is Redis running and BMEFHIR_BROKER_URL right?"
            ) from None
        return task_id

    def _collect(self, pending: dict[str, tuple[str, float]]) -> list[PatientOutcome]:
        """One MGET over the pending results; ready ones are removed from ``pending``."""
        outcomes: list[PatientOutcome] = []
        backend = self.app.backend
        metas = backend.get_many(list(pending), timeout=None, interval=0, max_iterations=1)
        try:
            for task_id, meta in metas:
                patient_id, _ = pending.pop(task_id)
                outcomes.append(_outcome(patient_id, meta))
        except (OperationalError, *backend.connection_errors) as exc:
            # Redis restarting: keep polling; the stall timeout ends the run if it never comes back.
            if not self._reads_failing:
                log.warning("reading Celery results failed (%s); still trying", type(exc).__name__)
            self._reads_failing = True
        else:
            self._reads_failing = False
        finally:
            metas.close()
        return outcomes

    def _expire(self, pending: dict[str, tuple[str, float]], now: float, *, stalled: bool) -> list[PatientOutcome]:
        if stalled:
            expired = list(pending)
            reason = (
                f"no Celery worker returned a result for {self.stall_timeout:.0f}s; "
                "check that `bmefhir worker` runs against the same broker"
            )
        else:
            expired = [t for t, (_, submitted) in pending.items() if now - submitted > self.task_timeout]
            reason = f"no result from the Celery workers within {self.task_timeout:.0f}s"
        if not expired:
            return []
        self._revoke(expired)
        return [PatientOutcome(pending.pop(t)[0], "failed", reason, 0, None) for t in expired]

    def _revoke(self, task_ids: list[str]) -> None:
        """Tasks not yet started are skipped by workers; running ones finish (their writes are idempotent)."""
        try:
            self.app.control.revoke(task_ids)
        except OperationalError:
            log.warning("could not revoke %d queued Celery tasks; they will run and write idempotently", len(task_ids))


def _outcome(patient_id: str, meta: Mapping[str, Any]) -> PatientOutcome:
    status, result = meta.get("status"), meta.get("result")
    if status == "SUCCESS" and isinstance(result, dict):
        try:
            outcome = PatientOutcome.from_dict(result)
        except (KeyError, ValueError):
            return PatientOutcome(patient_id, "failed", "the worker returned an unreadable outcome", 0, None)
        if outcome.patient_id == patient_id:
            return outcome
        return PatientOutcome(patient_id, "failed", "the worker returned another patient's outcome", 0, None)
    # FAILURE (time limit, a lost worker after retries) or REVOKED: name the kind only, never the message.
    kind = type(result).__name__ if isinstance(result, BaseException) else str(status)
    return PatientOutcome(patient_id, "failed", f"Celery task failed on the worker ({kind})", 0, None)
