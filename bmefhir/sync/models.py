"""The sync state store's tables (SQLAlchemy 2 typed ORM); the same schema on SQLite and PostgreSQL.

Times are stored as ISO 8601 UTC text where they come from the FHIR server (the
cursor: exact to the server's precision, never re-interpreted by a driver) and
as timezone-aware ``DateTime`` where they come from this machine (leases, backoff).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "CdsFeedback",
    "Cursor",
    "DeadLetter",
    "ExportState",
    "Lease",
    "PatientState",
    "Run",
    "RunPatient",
]


class Base(DeclarativeBase):
    pass


class Cursor(Base):
    """Per server: every change up to ``position`` (server time) has been handled."""

    __tablename__ = "sync_cursor"
    server: Mapped[str] = mapped_column(String(500), primary_key=True)
    position: Mapped[str] = mapped_column(String(40))
    moved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Run(Base):
    """One sync run. ``until`` (server time when discovery began) becomes the cursor when it completes."""

    __tablename__ = "sync_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server: Mapped[str] = mapped_column(String(500), index=True)
    state: Mapped[str] = mapped_column(String(16))  # discovering | processing | complete | stopped
    job: Mapped[str] = mapped_column(Text)  # SyncJobSpec JSON: a resumed run analyses "as of" the same now
    since: Mapped[str | None] = mapped_column(String(40))
    until: Mapped[str | None] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(16))  # full | search | export
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RunPatient(Base):
    """A patient of a run and how it ended; ``pending`` ones are what a restart still has to do."""

    __tablename__ = "sync_run_patient"
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id", ondelete="CASCADE"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | written | unchanged | same-inputs | failed
    requests: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (Index("ix_sync_run_patient_status", "run_id", "status"),)


class PatientState(Base):
    """Per server and patient: what its current outputs on the server were computed from
    (``bmefhir.sync.fingerprint``), written with each successful outcome. ``inputs`` is the JSON
    object ``{"Observation/x": "3", …}`` (type/id → version); no clinical content.

    A table of its own, so an existing state database gains it through ``create_all``."""

    __tablename__ = "sync_patient_state"
    server: Mapped[str] = mapped_column(String(500), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    analysis: Mapped[str] = mapped_column(String(200))  # knowledge-base and bmefhir versions
    inputs: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(128))
    analysed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeadLetter(Base):
    """A patient that failed; retried by later runs once ``next_attempt_at`` has passed."""

    __tablename__ = "sync_dead_letter"
    server: Mapped[str] = mapped_column(String(500), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExportState(Base):
    """Per server: consecutive failed ``$export`` discoveries (a success resets them) and the status
    URL of an export job not yet deleted on the server (a killed run's, cancelled by the next run).

    A table of its own, so an existing state database gains it through ``create_all``."""

    __tablename__ = "sync_export_state"
    server: Mapped[str] = mapped_column(String(500), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    job_url: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Lease(Base):
    """One run at a time per server: held by ``owner`` until ``expires_at`` unless renewed (heartbeat)."""

    __tablename__ = "sync_lease"
    server: Mapped[str] = mapped_column(String(500), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CdsFeedback(Base):
    """What a clinician did with a CDS Hooks card (CDS Hooks 2.0 feedback): no patient, no free text.

    A client that sends the same feedback again (a retry) adds nothing: ``(client, service, card,
    outcome, outcome_at)`` is unique."""

    __tablename__ = "cds_feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(100))
    card: Mapped[str] = mapped_column(String(36))  # the card's uuid
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | overridden
    reason_system: Mapped[str | None] = mapped_column(String(500))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    accepted_suggestions: Mapped[str] = mapped_column(Text, default="")  # suggestion ids, space-separated
    outcome_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # outcomeTimestamp, in UTC
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client: Mapped[str] = mapped_column(String(500))  # the CDS client's JWT issuer ("dev" without one)

    __table_args__ = (
        UniqueConstraint("client", "service", "card", "outcome", "outcome_at", name="uq_cds_feedback_event"),
        Index("ix_cds_feedback_service_time", "service", "outcome_at"),
    )
