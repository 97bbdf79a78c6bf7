"""The HL7 validator run starts in the background as soon as collection shows a test that needs it.

``scripts/validate_outputs.py --results FILE`` (bmefhir writes the Bundles, then one validator JVM)
runs in its own process group while the other tests run, on the second core; the module fixture of
``test_hl7_validator.py`` waits for it (the process exits) and reads the file. One run per test run:
under pytest-xdist the first worker to finish collecting starts it in a folder the workers share
(``tests/shared_run.py``), and the worker that gets the module reads it there. The run holds a lock
on ``running.lock`` until it exits, which is what the reader waits on. The last worker out ends a run
still going.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.shared_run import Shared

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "validate_outputs.py"
FIXTURE = "validated"


class ValidatorRun:
    """One background run of ``scripts/validate_outputs.py`` in ``folder``: started here, or attached to."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.inputs = folder / "inputs"
        self._results = folder / "results.json"
        self._log = folder / "stderr.log"
        self._running = folder / "running.lock"
        self._group = folder / "pgid"

    def start(self) -> None:
        """Start the run, detached (any worker may read it or end it); it holds ``running.lock`` while it runs."""
        script = [sys.executable, str(SCRIPT), "--keep", str(self.inputs), "--results", str(self._results)]
        with self._log.open("wb") as log, self._running.open("wb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the script inherits this open file: the lock lasts as long as it
            # sh leads the new process group (its pid is the group's id) and exits at once: no worker
            # holds a child process to reap, and whichever worker is last out can end the group.
            launcher = subprocess.run(
                ["sh", "-c", '"$@" >/dev/null & echo $$', "validator-run", *script],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                pass_fds=(lock.fileno(),),
                start_new_session=True,  # the JVM is the script's child: ended with it, as a group
                check=True,
            )
        self._group.write_text(launcher.stdout.decode().strip())

    def result(self) -> tuple[list[Any], dict[str, list[str]]]:
        """(results, types) once the run has ended; RuntimeError with its stderr if it wrote none."""
        with self._running.open("rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)  # granted when the run's process exits
        if not self._results.is_file():
            tail = self._log.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"scripts/validate_outputs.py ended without results:\n{tail}")
        data = json.loads(self._results.read_text(encoding="utf-8"))
        return data["results"], data["types"]

    def stop(self) -> None:
        """End the run's process group if it is still running."""
        try:
            lock = self._running.open("rb")
        except FileNotFoundError:
            return  # never started
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return  # free: the run has ended (and its group with it)
            except BlockingIOError:
                pass
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(self._group.read_text()), signal.SIGKILL)
            fcntl.flock(lock, fcntl.LOCK_EX)  # released once the script is gone


_share: Shared | None = None
_run: ValidatorRun | None = None


def validator_run() -> ValidatorRun:
    """The session's run: the one started (by this or another worker) after collection, or a new one."""
    global _run
    if _run is None:
        _run = ValidatorRun(Path(tempfile.mkdtemp(prefix="bmefhir-hl7-validator-")))
        _run.start()
    return _run


def pytest_collection_finish(session: pytest.Session) -> None:
    global _run, _share
    if session.config.option.collectonly:
        return
    if any(FIXTURE in getattr(item, "fixturenames", ()) for item in session.items):
        _share = Shared(session.config, "hl7-validator")
        _run = ValidatorRun(_share.folder)
        if _share.join():
            _run.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _share is not None:
        _share.leave(_run.stop if _run is not None else lambda: None)
    elif _run is not None:
        _run.stop()
        shutil.rmtree(_run.folder, ignore_errors=True)
