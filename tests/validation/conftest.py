"""The HL7 validator run starts in the background as soon as collection shows a test that needs it.

``scripts/validate_outputs.py --results FILE`` (bmefhir writes the Bundles, then one validator JVM)
runs in its own process group while the other tests run, on the second core; the module fixture of
``test_hl7_validator.py`` waits for it (the process exits) and reads the file. A session that ends
first ends the run.
"""

from __future__ import annotations

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

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "validate_outputs.py"
FIXTURE = "validated"


class ValidatorRun:
    """One background run of ``scripts/validate_outputs.py``."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bmefhir-hl7-validator-"))
        self.inputs = self.folder / "inputs"
        self._results = self.folder / "results.json"
        self._log = self.folder / "stderr.log"
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), "--keep", str(self.inputs), "--results", str(self._results)],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # the JVM is its child: ended with it, as a group
            )

    def result(self) -> tuple[list[Any], dict[str, list[str]]]:
        """(results, types) once the run has ended; RuntimeError with its stderr if it wrote none."""
        code = self._proc.wait()
        if not self._results.is_file():
            tail = self._log.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"scripts/validate_outputs.py exited {code} without results:\n{tail}")
        data = json.loads(self._results.read_text(encoding="utf-8"))
        return data["results"], data["types"]

    def stop(self) -> None:
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_run: ValidatorRun | None = None


def validator_run() -> ValidatorRun:
    """The session's run: the one started after collection, or a new one."""
    global _run
    if _run is None:
        _run = ValidatorRun()
    return _run


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(FIXTURE in getattr(item, "fixturenames", ()) for item in session.items):
        validator_run()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _run is not None:
        _run.stop()
