"""Fixtures shared by every test folder: the session's live FHIR server, PostgreSQL and Redis.

The server is ``BMEFHIR_TEST_FHIR_BASE`` when set, else the project's HAPI FHIR
sandbox, started once and stopped at the end: in the background as soon as
collection shows a test that needs it, while the tests that need no server run
first (they are ordered before the others), so the JVM boots on the second core
instead of holding up the first server test. PostgreSQL is
``BMEFHIR_TEST_PG_URL`` when set, else a throwaway Debian cluster on loopback
(``scripts/pg-test-server.sh``). A prerequisite that cannot start fails the
session in CI (``CI`` set) and is skipped with its reason elsewhere: CI must
never skip the real-server tests.

Under pytest-xdist (``scripts/test.sh`` runs two workers, ``--dist loadfile``) every worker has
its own sandbox, in its own run directory (``<run dir>-gw0``, ``-gw1``): the server tests write,
search and sync whole-server state (``_lastUpdated`` windows, every patient), so two workers on one
server would see each other's patients. A second JVM start costs less than running all the
server tests on one worker (docs/testing.md has the figures). PostgreSQL and Redis are per worker
too (a few seconds each); the HL7 validator run is shared (tests/validation/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bmefhir import sandbox
from bmefhir.testing.prerequisites import unavailable

ENV_BASE = "BMEFHIR_TEST_FHIR_BASE"
ROOT = Path(__file__).resolve().parents[1]


SERVER_FIXTURE = "fhir_server"
VALIDATOR_FIXTURE = "validated"  # tests/validation/conftest.py: the background HL7 validator run


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and not os.environ.get(ENV_BASE):
        # Set before any sandbox call, and inherited by the CLI processes the tests start.
        run = os.environ.get("BMEFHIR_SANDBOX_RUN_DIR") or str(sandbox.server.cache_dir() / "run")
        os.environ["BMEFHIR_SANDBOX_RUN_DIR"] = f"{run.rstrip(os.sep)}-{worker}"


class SandboxStart:
    """``sandbox.running()`` entered in a background thread: the JVM boots while other tests run.

    ``wait`` joins it (the readiness signal is ``sandbox.start``'s own: the ready line in the log and
    ``/metadata`` answering). ``stop`` leaves the ``with`` block; a start still in progress (the session
    ended before any server test) is ended rather than waited for.
    """

    def __init__(self) -> None:
        self._manager = sandbox.running()
        self._server: sandbox.SandboxServer | None = None
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._enter, name="hapi-sandbox-start", daemon=True)
        self._thread.start()

    def _enter(self) -> None:
        try:
            self._server = self._manager.__enter__()
        except BaseException as exc:  # re-raised in the test session's thread by wait()
            self._error = exc

    def wait(self) -> sandbox.SandboxServer:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._server is not None
        return self._server

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            sandbox.stop()  # the JVM exits, so the start in the thread fails at once
            self._thread.join()
        if self._server is not None:
            self._manager.__exit__(None, None, None)


_early_start: SandboxStart | None = None


def _needs_server(item: pytest.Item) -> bool:
    return SERVER_FIXTURE in getattr(item, "fixturenames", ())


def _unique_node_ids(items: list[pytest.Item]) -> None:
    """Give each test its own node id: pytest-xdist schedules by node id and runs one test of a name.

    Schemathesis' ``@schema.parametrize()`` (tests/web/test_api_fuzz.py) gives all its tests, one
    per API operation, the function's node id; only the item name has the operation. Such items get
    ``<module>::<name>``. (Seen with pytest 9.2 and schemathesis 4.32: xdist ran one of the eight.)
    """
    seen = Counter(item.nodeid for item in items)
    for item in items:
        if seen[item.nodeid] > 1 and item.parent is not None and not item.nodeid.endswith(item.name):
            unique = f"{item.parent.nodeid}::{item.name}"
            if hasattr(item, "_id"):  # pytest >= 9.1 keeps a structured NodeId
                from _pytest.nodeid import coerce_node_id

                item._id = coerce_node_id(unique)
            else:
                item._nodeid = unique


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules that wait for nothing first, then those with a server test, then those that wait
    for the HL7 validator run; in each group the slow modules first.

    The sandbox boots, and the validator runs, behind the modules before theirs. Slow first (a
    module with a ``slow`` test): with two xdist workers taking whole modules, a long module started
    last would keep one worker busy while the other has nothing left. Whole modules move; each group
    keeps its order.
    """
    _unique_node_ids(items)
    if os.environ.get(ENV_BASE) or getattr(config.option, "failedfirst", False):
        return  # an external server boots nothing; --failed-first keeps its own order
    group: dict[Path, int] = {}
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        rank = 2 if VALIDATOR_FIXTURE in fixtures else 1 if SERVER_FIXTURE in fixtures else 0
        group[item.path] = max(group.get(item.path, 0), rank)
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (group[item.path], item.path not in slow))  # stable


def pytest_collection_finish(session: pytest.Session) -> None:
    global _early_start
    if session.config.option.collectonly or os.environ.get(ENV_BASE):
        return
    if any(_needs_server(item) for item in session.items):
        _early_start = SandboxStart()


_worker_warnings: list[str] = []  # in the xdist controller: what the workers' integration tests collected


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    _worker_warnings.extend(getattr(node, "workeroutput", {}).get("validation_warnings", []))


# A test's figures for the end of the run: ``record_property(SUMMARY_SECTION, (title, text))``. They travel with the
# test's report, so they are printed under xdist too (a worker's own output is not shown).
SUMMARY_SECTION = "summary_section"
_summary_sections: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _summary_sections.extend(tuple(value) for name, value in report.user_properties if name == SUMMARY_SECTION)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, text in _summary_sections:
        terminalreporter.section(title)
        terminalreporter.write_line(text)
    if _worker_warnings:
        from tests.integration.conftest import print_validation_warnings

        print_validation_warnings(terminalreporter, _worker_warnings)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _early_start is not None:  # normally already stopped by the fixture's teardown
        _early_start.stop()


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[str]:
    """Base URL of the session's FHIR server (no trailing slash)."""
    external = os.environ.get(ENV_BASE)
    if external:
        yield external.rstrip("/")
        return
    starting = _early_start or SandboxStart()  # none yet: asked for without being in a test's fixtures
    try:
        server = starting.wait()
    except sandbox.SandboxError as exc:
        unavailable(f"the HAPI FHIR sandbox did not start: {exc}")
    try:
        yield server.base_url.rstrip("/")
    finally:
        starting.stop()


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
