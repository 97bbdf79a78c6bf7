"""Fixtures for sync tests: the state store on SQLite and PostgreSQL (``pg_url``, from the
root conftest), the HAPI sandbox, a loaded cohort."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bmefhir.sync.models import Base
from bmefhir.sync.store import SyncStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SyncStore]:
    url = f"sqlite:///{tmp_path / 'sync.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = SyncStore(url)
    if request.param == "postgresql":  # one database for the session: start each test empty
        Base.metadata.drop_all(s.engine)
        Base.metadata.create_all(s.engine)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def fhir_base(fhir_server: str) -> str:
    return fhir_server
