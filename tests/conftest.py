"""Fixtures shared by every test folder: the session's live FHIR server, PostgreSQL and Redis.

The server is ``BMEFHIR_TEST_FHIR_BASE`` when set, else the project's HAPI FHIR
sandbox, started once and stopped at the end. PostgreSQL is
``BMEFHIR_TEST_PG_URL`` when set, else a throwaway Debian cluster on loopback
(``scripts/pg-test-server.sh``). A prerequisite that cannot start fails the
session in CI (``CI`` set) and is skipped with its reason elsewhere: CI must
never skip the real-server tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmefhir import sandbox
from bmefhir.testing.prerequisites import unavailable

ENV_BASE = "BMEFHIR_TEST_FHIR_BASE"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[str]:
    """Base URL of the session's FHIR server (no trailing slash)."""
    external = os.environ.get(ENV_BASE)
    if external:
        yield external.rstrip("/")
        return
    try:
        manager = sandbox.running()
        server = manager.__enter__()
    except sandbox.SandboxError as exc:
        unavailable(f"the HAPI FHIR sandbox did not start: {exc}")
    try:
        yield server.base_url.rstrip("/")
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database for the session (``postgresql://user@127.0.0.1:port/db``)."""
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
        unavailable(f"PostgreSQL test server did not start: {proc.stderr.strip()[-500:]}")
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(script), "stop", workdir], capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on loopback for the session (``scripts/redis-test-server.sh``)."""
    script = ROOT / "scripts" / "redis-test-server.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        unavailable(f"Redis test server did not start: {proc.stderr.strip()[-300:]}")
    url, state_dir = proc.stdout.split()[:2]
    try:
        yield url
    finally:
        subprocess.run(["bash", str(script), "stop", state_dir], capture_output=True, check=False)
