"""The sandbox's database option: URL → JDBC settings, password kept off the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bmefhir.sandbox import IN_MEMORY, SandboxError, SandboxServer
from bmefhir.sandbox import server as sandbox_server


def test_no_database_is_in_memory_h2() -> None:
    db = sandbox_server._database(None)
    assert db.label == IN_MEMORY
    assert db.properties == ()
    assert db.env == ()


def test_postgresql_url_becomes_jdbc_properties_and_password_goes_to_the_environment() -> None:
    db = sandbox_server._database("postgresql+psycopg://hapi:s3cret@db.local:6543/fhir?sslmode=require")
    assert db.properties == (
        "-Dsandbox.db.url=jdbc:postgresql://db.local:6543/fhir?sslmode=require",
        "-Dsandbox.db.username=hapi",
    )
    assert db.env == (("SANDBOX_DB_PASSWORD", "s3cret"),)
    assert "s3cret" not in db.label
    assert "s3cret" not in " ".join(db.properties)
    assert db.label == "postgresql://hapi@db.local:6543/fhir?sslmode=require"


def test_default_port_and_host() -> None:
    db = sandbox_server._database("postgresql://hapi@/fhir")
    assert db.properties[0] == "-Dsandbox.db.url=jdbc:postgresql://127.0.0.1:5432/fhir"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "unsupported sandbox database 'mysql'"),
        ("postgresql://u@h", "use postgresql://user@host:port/dbname"),
        ("not a url", "database must be a URL like postgresql://"),
    ],
)
def test_unusable_database_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(SandboxError, match=message.replace("?", r"\?")):
        sandbox_server._database(url)


def test_a_running_sandbox_on_another_database_is_not_silently_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A state file naming a live process: this test's own interpreter stands in for the JVM.
    monkeypatch.setenv("BMEFHIR_SANDBOX_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(sandbox_server, "_is_sandbox_process", lambda pid: True)
    running = SandboxServer("http://127.0.0.1:1/fhir", 1, 1, tmp_path / "server.log", "postgresql://u@h:5432/db")
    sandbox_server._write_state(running)
    assert sandbox_server.status() == running
    with pytest.raises(SandboxError, match=r"already running .* on database postgresql://u@h:5432/db, not h2:mem"):
        sandbox_server.start()
    assert sandbox_server.start(database="postgresql://u:pw@h:5432/db") == running  # same database: reused


def test_state_files_from_before_the_option_read_as_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BMEFHIR_SANDBOX_RUN_DIR", str(tmp_path))
    (tmp_path / "state.json").write_text(
        json.dumps({"base_url": "http://127.0.0.1:9/fhir", "pid": 1, "port": 9, "log_path": "x.log"})
    )
    found = sandbox_server._read_state()
    assert found is not None
    assert found.database == IN_MEMORY


def test_cli_reports_an_unsupported_database_and_exits_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bmefhir.cli import main; main()",
            "sandbox",
            "start",
            "--database",
            "mysql://u@h/db",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BMEFHIR_SANDBOX_RUN_DIR": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 1
    assert "unsupported sandbox database 'mysql'" in result.stderr
    assert result.stdout == ""
