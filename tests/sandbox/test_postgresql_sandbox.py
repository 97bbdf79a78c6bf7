"""The HAPI sandbox on PostgreSQL, driven through the CLI as a user would: data survives a restart.

A second sandbox (its own run directory, the same build) beside the session's
in-memory one, on a fresh database in the session's PostgreSQL cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bmefhir.fhir.client import FhirClient
from bmefhir.testing.examples import list_examples

pytestmark = pytest.mark.slow  # two HAPI start-ups, about 75 s

BMEFHIR = [sys.executable, "-c", "from bmefhir.cli import main; main()"]
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def database(pg_url: str) -> Iterator[str]:
    """A new, empty database in the session's cluster, dropped afterwards."""
    name = f"hapi_{uuid.uuid4().hex[:8]}"
    admin = make_url(pg_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    env = {**os.environ, "BMEFHIR_SANDBOX_RUN_DIR": str(tmp_path / "run")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BMEFHIR, *args], capture_output=True, text=True, timeout=300, env=env, check=False)

    yield run
    run("sandbox", "stop")


def test_postgresql_sandbox_keeps_reports_across_a_restart(database: str, cli: Cli) -> None:
    started = cli("sandbox", "start", "--database", database)
    assert started.returncode == 0, started.stderr
    base = started.stdout.strip()
    assert f"database {database}" in started.stderr
    assert "the database keeps its data" in started.stderr

    # Asking for the in-memory database while a PostgreSQL one runs is refused, not silently reused.
    clash = cli("sandbox", "start")
    assert clash.returncode == 1
    assert f"on database {database}, not h2:mem" in clash.stderr

    case = next(c for c in list_examples() if c.name.startswith("seed-001"))
    patient = case.expectation.patient
    loaded = cli("sandbox", "load", str(case.path), "--fhir-base", base)
    assert loaded.returncode == 0, loaded.stderr
    first = cli("run", "--fhir-base", base, "--patient", patient, "--write")
    assert first.returncode == 0, first.stderr
    assert "1 written, 0 unchanged" in first.stderr

    assert cli("sandbox", "stop").returncode == 0
    restarted = cli("sandbox", "start", "--database", database)
    assert restarted.returncode == 0, restarted.stderr
    base = restarted.stdout.strip()

    with FhirClient(base) as client:
        reports = list(client.search("DiagnosticReport", {"subject": f"Patient/{patient}"}))
    assert len(reports) == 1, "the report written before the restart is still there"
    again = cli("run", "--fhir-base", base, "--patient", patient, "--write")
    assert again.returncode == 0, again.stderr
    assert "0 written, 1 unchanged" in again.stderr
