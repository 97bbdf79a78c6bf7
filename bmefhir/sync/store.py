"""The state store: sync cursors, runs and their patients, dead letters, the per-server lease;
and the CDS Hooks feedback on cards (``add_feedback`` / ``feedback``).

``SyncStore("sqlite:///path")`` (the default, nothing to set up) or
``SyncStore("postgresql://…")`` (psycopg 3). Each method is one short
transaction, so a process killed at any instant leaves a consistent state:
a patient is either recorded as done or still pending, never half-recorded.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, delete, event, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bmefhir.sync.models import (
    Base,
    CdsFeedback,
    Cursor,
    DeadLetter,
    ExportState,
    Lease,
    PatientState,
    Run,
    RunPatient,
)

__all__ = [
    "DEFAULT_STATE",
    "DeadLetterView",
    "ExportStateView",
    "FeedbackRecord",
    "PatientStateView",
    "RunView",
    "StoreError",
    "SyncStore",
    "default_state_url",
    "utcnow",
]

DEFAULT_STATE = Path("~/.local/state/bmefhir/sync.db")
_CHUNK = 500


class StoreError(RuntimeError):
    """The state store URL is unusable or the database refused."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_state_url() -> str:
    root = os.environ.get("XDG_STATE_HOME")
    path = Path(root) / "bmefhir" / "sync.db" if root else DEFAULT_STATE.expanduser()
    return f"sqlite:///{path}"


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _engine(url: str) -> Engine:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: object) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers (sync status) never block the run
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql+psycopg://"):
        return create_engine(url, pool_pre_ping=True)
    raise StoreError("state store URL must be sqlite:///PATH or postgresql://…")


@dataclass(frozen=True, slots=True)
class RunView:
    id: int
    server: str
    state: str
    method: str
    job: str
    since: str | None
    until: str | None
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One CDS Hooks feedback entry as stored: which card of which service, what the clinician did,
    the override reason's code, when, and which CDS client said so. No patient, no free text."""

    service: str
    card: str
    outcome: str  # accepted | overridden
    outcome_at: datetime
    client: str
    received_at: datetime
    reason_system: str | None = None
    reason_code: str | None = None
    accepted_suggestions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "card": self.card,
            "outcome": self.outcome,
            "reason": {"system": self.reason_system, "code": self.reason_code} if self.reason_code else None,
            "acceptedSuggestions": list(self.accepted_suggestions),
            "outcomeTimestamp": self.outcome_at.isoformat(),
            "receivedAt": self.received_at.isoformat(),
            "client": self.client,
        }


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    server: str
    patient_id: str
    reason: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class ExportStateView:
    server: str
    failures: int  # consecutive failed $export discoveries
    last_error: str | None
    job_url: str | None  # an export job not yet deleted on the server


@dataclass(frozen=True, slots=True)
class PatientStateView:
    """What a patient's current outputs were computed from (``bmefhir.sync.fingerprint``)."""

    fingerprint: str
    analysis: str  # knowledge-base and bmefhir versions
    inputs: dict[str, str]  # "Type/id" → version
    content_hash: str | None
    analysed_at: datetime | None = None


def retry_delay(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff for a patient that failed ``attempts`` times: base, 2·base, 4·base … ≤ cap."""
    delay: timedelta = base * (2 ** max(0, attempts - 1))
    return min(cap, delay)


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _owner_is_dead_here(owner: str) -> bool:
    """True when the lease holder was a process on this host that no longer exists (killed)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) holds nothing
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False


class SyncStore:
    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_state_url()
        self.engine = _engine(self.url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        Base.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table: Any) -> Any:
        return (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(table)

    # -- cursor ----------------------------------------------------------------

    def cursor(self, server: str) -> str | None:
        with self._session() as s:
            row = s.get(Cursor, server)
            return row.position if row else None

    def set_cursor(self, server: str, position: str, *, now: datetime | None = None) -> None:
        with self._session.begin() as s:
            row = s.get(Cursor, server)
            if row is None:
                s.add(Cursor(server=server, position=position, moved_at=now or utcnow()))
            else:
                row.position, row.moved_at = position, now or utcnow()

    # -- runs ------------------------------------------------------------------

    def open_run(self, server: str) -> RunView | None:
        """The server's unfinished run (a crash or stop left it), to resume before starting anew."""
        with self._session() as s:
            run = s.scalars(
                select(Run).where(Run.server == server, Run.state.in_(("discovering", "processing"))).order_by(Run.id)
            ).first()
            return self._view(s, run) if run else None

    def start_run(self, server: str, job: str, *, since: str | None, method: str, now: datetime | None = None) -> int:
        with self._session.begin() as s:
            run = Run(
                server=server,
                state="discovering",
                job=job,
                since=since,
                until=None,
                method=method,
                started_at=now or utcnow(),
                finished_at=None,
            )
            s.add(run)
            s.flush()
            return run.id

    def add_patients(self, run_id: int, patient_ids: Iterable[str]) -> int:
        """Record discovered ids (duplicates ignored, done ones kept done); returns how many were new."""
        added = 0
        chunk: list[str] = []
        for pid in patient_ids:
            chunk.append(pid)
            if len(chunk) >= _CHUNK:
                added += self._add_chunk(run_id, chunk)
                chunk = []
        if chunk:
            added += self._add_chunk(run_id, chunk)
        return added

    def _add_chunk(self, run_id: int, ids: Sequence[str]) -> int:
        rows = [{"run_id": run_id, "patient_id": pid, "status": "pending", "requests": 0} for pid in dict.fromkeys(ids)]
        stmt = self._insert(RunPatient).values(rows).on_conflict_do_nothing().returning(RunPatient.patient_id)
        with self._session.begin() as s:
            return len(s.execute(stmt).all())

    def discovered(self, run_id: int, until: str) -> None:
        with self._session.begin() as s:
            s.execute(update(Run).where(Run.id == run_id).values(state="processing", until=until))

    def pending(self, run_id: int) -> list[str]:
        with self._session() as s:
            rows = s.scalars(
                select(RunPatient.patient_id)
                .where(RunPatient.run_id == run_id, RunPatient.status == "pending")
                .order_by(RunPatient.patient_id)
            )
            return list(rows)

    def record(
        self,
        run_id: int,
        server: str,
        patient_id: str,
        status: str,
        *,
        reason: str | None = None,
        requests: int = 0,
        content_hash: str | None = None,
        state: PatientStateView | None = None,
        now: datetime | None = None,
        retry_base: timedelta = timedelta(minutes=5),
        retry_cap: timedelta = timedelta(hours=24),
    ) -> None:
        """One patient's outcome, and its dead-letter entry added (failed) or cleared (done), atomically;
        with ``state`` (a success), what its outputs were computed from is stored in the same transaction."""
        when = now or utcnow()
        with self._session.begin() as s:
            s.execute(
                update(RunPatient)
                .where(RunPatient.run_id == run_id, RunPatient.patient_id == patient_id)
                .values(status=status, requests=requests, content_hash=content_hash)
            )
            letter = s.get(DeadLetter, (server, patient_id))
            if status != "failed":
                if letter is not None:
                    s.delete(letter)
                if state is not None:
                    self._put_state(s, server, patient_id, state, when)
                return
            if letter is None:
                delay = retry_delay(1, retry_base, retry_cap)
                s.add(
                    DeadLetter(
                        server=server,
                        patient_id=patient_id,
                        reason=reason or "failed",
                        attempts=1,
                        first_failed_at=when,
                        last_failed_at=when,
                        next_attempt_at=when + delay,
                    )
                )
            else:
                letter.attempts += 1
                letter.reason = reason or "failed"
                letter.last_failed_at = when
                letter.next_attempt_at = when + retry_delay(letter.attempts, retry_base, retry_cap)

    def finish_run(self, run_id: int, *, state: str = "complete", now: datetime | None = None) -> None:
        """Close a run; ``complete`` also moves the server's cursor to the run's ``until``, atomically."""
        with self._session.begin() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise StoreError(f"no sync run {run_id}")
            left = s.scalar(select(func.count()).where(RunPatient.run_id == run_id, RunPatient.status == "pending"))
            if state == "complete" and left:
                raise StoreError(f"run {run_id} still has {left} pending patients; the cursor cannot move")
            run.state, run.finished_at = state, now or utcnow()
            if state == "complete" and run.until is not None:
                cursor = s.get(Cursor, run.server)
                if cursor is None:
                    s.add(Cursor(server=run.server, position=run.until, moved_at=now or utcnow()))
                elif cursor.position < run.until:  # ISO UTC text of one server orders like time
                    cursor.position, cursor.moved_at = run.until, now or utcnow()

    def set_run_method(self, run_id: int, method: str) -> None:
        """Change how a run still discovering finds its patients (another ``--discovery``, a fallback)."""
        with self._session.begin() as s:
            s.execute(update(Run).where(Run.id == run_id, Run.state == "discovering").values(method=method))

    def runs(self, server: str | None = None, limit: int = 10) -> list[RunView]:
        with self._session() as s:
            query = select(Run).order_by(Run.id.desc()).limit(limit)
            if server is not None:
                query = query.where(Run.server == server)
            return [self._view(s, run) for run in s.scalars(query)]

    def run_outcomes(self, run_id: int) -> dict[str, str]:
        with self._session() as s:
            rows = s.execute(select(RunPatient.patient_id, RunPatient.status).where(RunPatient.run_id == run_id))
            return {row[0]: row[1] for row in rows}

    def _view(self, s: Session, run: Run) -> RunView:
        counts = dict(
            s.execute(
                select(RunPatient.status, func.count()).where(RunPatient.run_id == run.id).group_by(RunPatient.status)
            ).all()
        )
        return RunView(
            id=run.id,
            server=run.server,
            state=run.state,
            method=run.method,
            job=run.job,
            since=run.since,
            until=run.until,
            started_at=_aware(run.started_at),
            finished_at=_aware(run.finished_at) if run.finished_at else None,
            counts=counts,
        )

    # -- what each patient's outputs were computed from -------------------------

    def _put_state(self, s: Session, server: str, patient_id: str, state: PatientStateView, when: datetime) -> None:
        values = {
            "fingerprint": state.fingerprint,
            "analysis": state.analysis,
            "inputs": orjson.dumps(state.inputs, option=orjson.OPT_SORT_KEYS).decode(),
            "content_hash": state.content_hash,
            "analysed_at": when,
        }
        stmt = self._insert(PatientState).values(server=server, patient_id=patient_id, **values)
        s.execute(stmt.on_conflict_do_update(index_elements=["server", "patient_id"], set_=values))

    def patient_state(self, server: str, patient_id: str) -> PatientStateView | None:
        return self.patient_states(server, [patient_id]).get(patient_id)

    def patient_states(self, server: str, patient_ids: Iterable[str]) -> dict[str, PatientStateView]:
        """The stored states of these patients (those that have one), read in chunks."""
        ids = list(dict.fromkeys(patient_ids))
        found: dict[str, PatientStateView] = {}
        with self._session() as s:
            for start in range(0, len(ids), _CHUNK):
                rows = s.scalars(
                    select(PatientState).where(
                        PatientState.server == server, PatientState.patient_id.in_(ids[start : start + _CHUNK])
                    )
                )
                for row in rows:
                    found[row.patient_id] = PatientStateView(
                        fingerprint=row.fingerprint,
                        analysis=row.analysis,
                        inputs=orjson.loads(row.inputs),
                        content_hash=row.content_hash,
                        analysed_at=_aware(row.analysed_at),
                    )
        return found

    def mark_same_inputs(self, run_id: int, patient_ids: Iterable[str]) -> int:
        """Pending patients recognised at discovery as unchanged since their last analysis: not pending."""
        ids = list(patient_ids)
        marked = 0
        for start in range(0, len(ids), _CHUNK):
            with self._session.begin() as s:
                result = s.execute(
                    update(RunPatient)
                    .where(
                        RunPatient.run_id == run_id,
                        RunPatient.status == "pending",
                        RunPatient.patient_id.in_(ids[start : start + _CHUNK]),
                    )
                    .values(status="same-inputs")
                )
                marked += getattr(result, "rowcount", 0) or 0
        return marked

    # -- dead letters ----------------------------------------------------------

    def due_failures(self, server: str, now: datetime | None = None) -> list[str]:
        """Dead-lettered patients whose backoff has passed: the next run retries them."""
        with self._session() as s:
            rows = s.scalars(
                select(DeadLetter.patient_id)
                .where(DeadLetter.server == server, DeadLetter.next_attempt_at <= (now or utcnow()))
                .order_by(DeadLetter.patient_id)
            )
            return list(rows)

    def failures(self, server: str | None = None) -> list[DeadLetterView]:
        with self._session() as s:
            query = select(DeadLetter).order_by(DeadLetter.server, DeadLetter.patient_id)
            if server is not None:
                query = query.where(DeadLetter.server == server)
            return [
                DeadLetterView(
                    d.server,
                    d.patient_id,
                    d.reason,
                    d.attempts,
                    _aware(d.first_failed_at),
                    _aware(d.last_failed_at),
                    _aware(d.next_attempt_at),
                )
                for d in s.scalars(query)
            ]

    def servers(self) -> list[str]:
        with self._session() as s:
            found = set(s.scalars(select(Cursor.server))) | set(s.scalars(select(Run.server)))
            found |= set(s.scalars(select(DeadLetter.server)))
            return sorted(found)

    # -- $export discovery ------------------------------------------------------

    def export_state(self, server: str) -> ExportStateView:
        with self._session() as s:
            row = s.get(ExportState, server)
            if row is None:
                return ExportStateView(server, 0, None, None)
            return ExportStateView(server, row.failures, row.last_error, row.job_url)

    def _export_row(self, s: Session, server: str, now: datetime) -> ExportState:
        row = s.get(ExportState, server)
        if row is None:
            row = ExportState(server=server, failures=0, last_error=None, job_url=None, updated_at=now)
            s.add(row)
        row.updated_at = now
        return row

    def set_export_job(self, server: str, job_url: str | None, *, now: datetime | None = None) -> None:
        """Remember the status URL of the export job in progress (None once it is deleted)."""
        with self._session.begin() as s:
            self._export_row(s, server, now or utcnow()).job_url = job_url

    def export_failed(self, server: str, error: str, *, now: datetime | None = None) -> int:
        """Count one more failed export discovery in a row; returns the count."""
        with self._session.begin() as s:
            row = self._export_row(s, server, now or utcnow())
            row.failures = (row.failures or 0) + 1
            row.last_error = error[:1000]
            return row.failures

    def export_succeeded(self, server: str, *, now: datetime | None = None) -> None:
        with self._session.begin() as s:
            row = self._export_row(s, server, now or utcnow())
            row.failures, row.last_error = 0, None

    # -- CDS Hooks feedback ----------------------------------------------------

    def add_feedback(self, records: Sequence[FeedbackRecord]) -> int:
        """Store feedback entries in one transaction; returns how many were new (a resent entry is kept once)."""
        if not records:
            return 0
        rows = [
            {
                "service": r.service,
                "card": r.card,
                "outcome": r.outcome,
                "reason_system": r.reason_system,
                "reason_code": r.reason_code,
                "accepted_suggestions": " ".join(r.accepted_suggestions),
                "outcome_at": r.outcome_at.astimezone(UTC),  # SQLite keeps no offset: store UTC everywhere
                "received_at": r.received_at.astimezone(UTC),
                "client": r.client,
            }
            for r in records
        ]
        stmt = self._insert(CdsFeedback).values(rows).on_conflict_do_nothing().returning(CdsFeedback.id)
        with self._session.begin() as s:
            return len(s.execute(stmt).all())

    def feedback(self, service: str | None = None, limit: int = 100) -> list[FeedbackRecord]:
        """The latest feedback first (by outcome time)."""
        with self._session() as s:
            query = select(CdsFeedback).order_by(CdsFeedback.outcome_at.desc(), CdsFeedback.id.desc()).limit(limit)
            if service is not None:
                query = query.where(CdsFeedback.service == service)
            return [
                FeedbackRecord(
                    service=f.service,
                    card=f.card,
                    outcome=f.outcome,
                    outcome_at=_aware(f.outcome_at),
                    client=f.client,
                    received_at=_aware(f.received_at),
                    reason_system=f.reason_system,
                    reason_code=f.reason_code,
                    accepted_suggestions=tuple(f.accepted_suggestions.split()),
                )
                for f in s.scalars(query)
            ]

    # -- the lease -------------------------------------------------------------

    def acquire(self, server: str, owner: str, ttl: timedelta, now: datetime | None = None) -> bool:
        """Take the server's lease if it is free, expired, ours, or held by a dead process on this host."""
        when = now or utcnow()
        with self._session.begin() as s:
            taken = s.execute(
                update(Lease)
                .where(Lease.server == server, (Lease.expires_at < when) | (Lease.owner == owner))
                .values(owner=owner, expires_at=when + ttl)
            )
            if getattr(taken, "rowcount", 0) == 1:
                return True
            holder = s.get(Lease, server)
            if holder is not None:
                if not _owner_is_dead_here(holder.owner):
                    return False
                stolen = s.execute(
                    update(Lease)
                    .where(Lease.server == server, Lease.owner == holder.owner)
                    .values(owner=owner, expires_at=when + ttl)
                )
                return getattr(stolen, "rowcount", 0) == 1
        try:
            with self._session.begin() as s:
                s.add(Lease(server=server, owner=owner, expires_at=when + ttl))
            return True
        except IntegrityError:  # another process inserted it first
            return False

    def renew(self, server: str, owner: str, ttl: timedelta, now: datetime | None = None) -> bool:
        """Heartbeat: extend our lease; False if it was lost (expired and taken by another run)."""
        with self._session.begin() as s:
            result = s.execute(
                update(Lease)
                .where(Lease.server == server, Lease.owner == owner)
                .values(expires_at=(now or utcnow()) + ttl)
            )
            return getattr(result, "rowcount", 0) == 1

    def release(self, server: str, owner: str) -> None:
        with self._session.begin() as s:
            s.execute(delete(Lease).where(Lease.server == server, Lease.owner == owner))

    def lease(self, server: str) -> tuple[str, datetime] | None:
        with self._session() as s:
            row = s.get(Lease, server)
            return (row.owner, _aware(row.expires_at)) if row else None

    def iter_servers_status(self) -> Iterator[tuple[str, str | None, RunView | None, int]]:
        """(server, cursor, last run, dead letters) for ``bmefhir sync status``."""
        for server in self.servers():
            last = self.runs(server, limit=1)
            yield server, self.cursor(server), (last[0] if last else None), len(self.failures(server))
