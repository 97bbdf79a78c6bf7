"""What a sync job is: the server, how to authenticate, and the analysis time, as plain data.

A ``SyncJobSpec`` travels to workers (threads, processes, Celery tasks), so it is
frozen and JSON-serialisable and holds *references* to secrets (an environment
variable name, a key file path), never the secrets themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from bmefhir.fhir.patient_fetch import DEFAULT_COUNT

__all__ = ["AuthConfig", "SyncJobSpec"]

AuthKind = Literal["none", "bearer-env", "smart-backend"]


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """How a worker authenticates; only names and paths, so it is safe to log and to queue.

    * ``none``: no Authorization header.
    * ``bearer-env``: a bearer token read from the environment variable ``token_env``.
    * ``smart-backend``: SMART Backend Services (``bmefhir.smart.backend``): ``client_id``,
      ``token_url``, ``scope``, ``alg`` (RS384/ES384), ``kid``, and the private key from the
      PEM file ``key_file`` or the environment variable ``key_env``.
    """

    kind: AuthKind = "none"
    token_env: str | None = None
    client_id: str | None = None
    token_url: str | None = None
    scope: str | None = None
    alg: str | None = None
    kid: str | None = None
    key_file: str | None = None
    key_env: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "bearer-env" and not self.token_env:
            raise ValueError("AuthConfig(kind='bearer-env') needs token_env (an environment variable name)")
        if self.kind == "smart-backend" and not (self.client_id and self.token_url and (self.key_file or self.key_env)):
            raise ValueError("AuthConfig(kind='smart-backend') needs client_id, token_url and key_file or key_env")


@dataclass(frozen=True, slots=True)
class SyncJobSpec:
    """One sync run's fixed parameters, shared by every patient of the run.

    ``now`` is the analysis time (ISO 8601 with offset): every patient of a run is
    analysed "as of" the same instant, so a retried or redelivered patient gives
    byte-identical output and the content-hash skip holds.
    """

    fhir_base: str
    now: str
    auth: AuthConfig = field(default_factory=AuthConfig)
    page_size: int = DEFAULT_COUNT  # _count of every search; servers cap it (the same default as `analyze`)
    dry_run: bool = False
    timeout: float = 60.0
    max_attempts: int = 6  # per HTTP request, first try included (429/503/connection errors)
    write_findings: bool = False  # also write findings read from report text (bmefhir.render.findings)

    def __post_init__(self) -> None:
        when = datetime.fromisoformat(self.now)
        if when.tzinfo is None:
            raise ValueError("SyncJobSpec.now must carry a UTC offset")
        if self.page_size < 1:
            raise ValueError("SyncJobSpec.page_size must be at least 1")

    @property
    def now_dt(self) -> datetime:
        return datetime.fromisoformat(self.now)

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> SyncJobSpec:
        data: dict[str, Any] = orjson.loads(text)
        auth = AuthConfig(**data.pop("auth", {}))
        return cls(auth=auth, **data)
