"""One background resource for all the pytest-xdist workers of a run: the first to ask starts it, the last out ends it.

``scripts/test.sh`` runs pytest with two xdist workers. Each worker collects every test, so a
resource started "after collection" would otherwise start once per worker. :class:`Shared` keeps
a folder per run (``$TMPDIR/bmefhir-xdist-<testrunuid>/<name>``) with an election lock: the
first worker to :meth:`Shared.join` is told to start the resource, the others attach to it, and
:meth:`Shared.leave` tells the last worker out to end it. Without xdist the folder is private to
the process and the one process is both first and last.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def worker_id() -> str | None:
    """``gw0``, ``gw1``… in an xdist worker, None otherwise."""
    return os.environ.get("PYTEST_XDIST_WORKER")


class Shared:
    """The folder, election and users of one resource of a test run."""

    def __init__(self, config: pytest.Config, name: str) -> None:
        workerinput = getattr(config, "workerinput", None)
        if workerinput is None:
            self.folder = Path(tempfile.mkdtemp(prefix=f"bmefhir-{name}-"))
        else:
            self.folder = Path(tempfile.gettempdir()) / f"bmefhir-xdist-{workerinput['testrunuid']}" / name
            self.folder.mkdir(parents=True, exist_ok=True)
        self._me = worker_id() or "main"
        self._users = self.folder / "users"

    @contextmanager
    def _election(self) -> Iterator[None]:
        with (self.folder / "election.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while another worker joins or leaves
            yield

    def join(self) -> bool:
        """Register this worker; True if it is the first and must start the resource."""
        with self._election():
            first = not self._users.exists()
            self._users.mkdir(exist_ok=True)
            (self._users / self._me).touch()
            return first

    def leave(self, end: Callable[[], None]) -> None:
        """Unregister this worker; the last one out calls ``end`` and removes the folder."""
        with self._election():
            (self._users / self._me).unlink(missing_ok=True)
            last = not any(self._users.iterdir())
            if last:
                end()
        if last:
            shutil.rmtree(self.folder, ignore_errors=True)
            if worker_id():
                with contextlib.suppress(OSError):  # the run's folder, once its last resource is gone
                    self.folder.parent.rmdir()
