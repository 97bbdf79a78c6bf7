"""Fixtures for sync tests: the state store on SQLite and PostgreSQL, the HAPI sandbox, a loaded cohort.

PostgreSQL comes from Debian (``apt-get install -y postgresql``) and runs as a
throwaway cluster on loopback (``scripts/pg-test-server.sh``). Under CI (env CI
set) a missing PostgreSQL or HAPI fails the session instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmefhir.sync.models import Base
from bmefhir.sync.store import SyncStore
from bmefhir.testing.prerequisites import unavailable

ROOT = Path(__file__).resolve().parents[2]


_unavailable = unavailable


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = os.environ.get("BMEFHIR_TEST_PG_URL")
    if url:
        yield url
        return
    # Not pytest's tmp_path: its parents are private to root, and the cluster may run as `postgres`.
    workdir = tempfile.mkdtemp(prefix="bmefhir-pg-")
    script = ROOT / "scripts" / "pg-test-server.sh"
    proc = subprocess.run(["bash", str(script), "start", workdir], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        _unavailable(f"PostgreSQL test server did not start: {proc.stderr.strip()[-500:]}")
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(script), "stop", workdir], capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


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
