"""A real HAPI FHIR R4 JPA server on loopback, for integration tests and demos.

The server is the small Maven project in ``sandbox/hapi`` (HAPI FHIR 8 JPA,
embedded Jetty).  Its database is an in-memory H2, so every start is clean, or a
PostgreSQL database given by URL (``start(database="postgresql://user@host/db")``),
which keeps its data across restarts and stays fast with tens of thousands of
resources (H2 slows down as the database grows).  It serves
``http://127.0.0.1:<port>/fhir``.  Java 17+ and Maven are required; the first
build downloads about 300 MB from Maven Central into ``~/.m2``.

Public API::

    build() -> Path                        # build (or reuse) the server; returns its dir
    start(port=None, timeout=240, database=None) -> SandboxServer
    stop() -> bool                         # True if a server was stopped
    status() -> SandboxServer | None
    running(port=None, timeout=240, database=None)  # context manager: start ... stop
    SandboxServer(base_url, pid, port, log_path, database)
    SandboxError

``start``/``stop``/``status`` share a state file, so they work across separate
processes (e.g. CLI invocations).  One server per run directory
(``BMEFHIR_SANDBOX_RUN_DIR``, default ``$BMEFHIR_CACHE/hapi/run``): give another
run directory to run a second, independent server from the same build.

pytest::

    @pytest.fixture(scope="session")
    def fhir_base_url() -> Iterator[str]:
        with running() as server:
            yield server.base_url

Files live under ``$BMEFHIR_CACHE/hapi`` (default ``~/.cache/bmefhir/hapi``):
``builds/``, ``current`` (see ``scripts/hapi-build.sh``), ``run/state.json`` and
``run/server.log``.  Environment: ``BMEFHIR_CACHE``; ``BMEFHIR_HAPI_JAVA_OPTS``
(JVM options, default ``-Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1``);
``JAVA_HOME``.  A database password is handed to the JVM in its environment, never
on its command line, and is not written to the state file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

__all__ = [
    "SandboxError",
    "SandboxServer",
    "build",
    "running",
    "start",
    "status",
    "stop",
]

MAIN_CLASS = "io.bmefhir.sandbox.SandboxMain"
DEFAULT_JAVA_OPTS = "-Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
_LOG_TAIL_LINES = 60
IN_MEMORY = "h2:mem"
_READY_MARKER = "bmefhir sandbox ready at"  # logged by SandboxMain once Jetty serves /fhir

# Popen handles of servers started by this process, so they are reaped on stop().
_children: dict[int, subprocess.Popen[bytes]] = {}


class SandboxError(RuntimeError):
    """The sandbox server could not be built, started or stopped."""


@dataclass(frozen=True)
class SandboxServer:
    """A running sandbox server."""

    base_url: str
    pid: int
    port: int
    log_path: Path
    database: str = IN_MEMORY  # "h2:mem", or the PostgreSQL URL without its password


@dataclass(frozen=True)
class _Database:
    """How the JVM reaches its database: system properties and environment."""

    label: str
    properties: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


def _database(url: str | None) -> _Database:
    """Translate a ``postgresql://user:pw@host:port/db`` URL into JDBC settings for the JVM."""
    if url is None or url == IN_MEMORY:
        return _Database(IN_MEMORY)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SandboxError("database must be a URL like postgresql://user@127.0.0.1:5432/hapi") from None
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        raise SandboxError(
            f"unsupported sandbox database {parsed.get_backend_name()!r}: "
            "use postgresql://user@host:port/dbname (or none, for in-memory H2)"
        )
    query = "&".join(f"{k}={v}" for k, v in sorted(parsed.query.items()) if isinstance(v, str))
    jdbc = f"jdbc:postgresql://{parsed.host or '127.0.0.1'}:{parsed.port or 5432}/{parsed.database}"
    props = [f"-Dsandbox.db.url={jdbc}{'?' + query if query else ''}"]
    if parsed.username:
        props.append(f"-Dsandbox.db.username={parsed.username}")
    env = (("SANDBOX_DB_PASSWORD", parsed.password),) if parsed.password else ()
    # URL.set() leaves a None field unchanged, so the password is dropped with the tuple's _replace.
    label = parsed.set(drivername="postgresql")._replace(password=None).render_as_string(hide_password=False)
    return _Database(label, tuple(props), env)


def cache_dir() -> Path:
    """Directory holding builds and run state (``$BMEFHIR_CACHE/hapi``)."""
    root = os.environ.get("BMEFHIR_CACHE")
    if root:
        return Path(root).expanduser() / "hapi"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "bmefhir" / "hapi"


def _run_dir() -> Path:
    # A separate run directory is a separate sandbox sharing the same build.
    run = os.environ.get("BMEFHIR_SANDBOX_RUN_DIR")
    return Path(run).expanduser() if run else cache_dir() / "run"


def _state_path() -> Path:
    return _run_dir() / "state.json"


def _build_script() -> Path:
    return Path(__file__).resolve().parents[2] / "scripts" / "hapi-build.sh"


def build() -> Path:
    """Build the server (``scripts/hapi-build.sh``) unless an up-to-date build exists.

    Returns the build directory (with ``classes/`` and ``lib/``).  Without the
    repository's script (e.g. an installed wheel) the last build in the cache is used.
    """
    script = _build_script()
    if script.is_file():
        env = dict(os.environ)
        env.setdefault("BMEFHIR_CACHE", str(cache_dir().parent))
        proc = subprocess.run(
            ["bash", str(script)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")
            raise SandboxError(f"HAPI sandbox build failed:\n{_tail(err)}")
        out = proc.stdout.decode().strip().splitlines()
        if not out:
            raise SandboxError("HAPI sandbox build printed no build directory")
        return Path(out[-1])
    current = cache_dir() / "current"
    if (current / ".complete").is_file():
        return current.resolve()
    raise SandboxError(f"no HAPI sandbox build in {cache_dir()} and no build script at {script}")


def status() -> SandboxServer | None:
    """The server recorded in the state file, if its process is still alive."""
    server = _read_state()
    if server is None:
        return None
    if not _is_sandbox_process(server.pid):
        _state_path().unlink(missing_ok=True)
        return None
    return server


def start(port: int | None = None, timeout: float = 240, database: str | None = None) -> SandboxServer:
    """Start the server and wait until ``GET /fhir/metadata`` answers 200.

    ``port`` defaults to a free loopback port.  ``database`` is a PostgreSQL URL
    (``postgresql://user[:password]@host[:port]/dbname``, the database must exist;
    HAPI creates its tables) or None for a fresh in-memory H2.  If a server is
    already running (see :func:`status`) on the same database it is returned as it
    is; on another one, :class:`SandboxError` is raised.  Raises
    :class:`SandboxError`, with the tail of the server log, if the JVM exits or
    ``timeout`` passes.
    """
    db = _database(database)
    existing = status()
    if existing is not None:
        _check_same_database(existing, db)
        return existing
    build_dir = build()
    java = _java()
    if port is None:
        port = _free_port()
    elif _port_in_use(port):
        raise SandboxError(f"port {port} on 127.0.0.1 is already in use")
    run_dir = _run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    # Read the run directory once: a start may run in a background thread (tests/conftest.py) while the
    # environment changes under it, and its state file must stay where its log is.
    state_path = run_dir / "state.json"
    log_path = run_dir / "server.log"
    if log_path.exists():
        log_path.replace(run_dir / "server.log.1")

    java_opts = shlex.split(os.environ.get("BMEFHIR_HAPI_JAVA_OPTS", DEFAULT_JAVA_OPTS))
    classpath = f"{build_dir / 'classes'}{os.pathsep}{build_dir / 'lib'}{os.sep}*"
    cmd = [java, *java_opts, *db.properties, "-cp", classpath, MAIN_CLASS, "--port", str(port)]
    with log_path.open("wb") as log:
        log.write(f"$ {shlex.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=run_dir,
            env={**os.environ, **dict(db.env)},
            start_new_session=True,  # survives the CLI process; not hit by its Ctrl-C
        )
    _children[proc.pid] = proc
    server = SandboxServer(
        base_url=f"http://127.0.0.1:{port}/fhir",
        pid=proc.pid,
        port=port,
        log_path=log_path,
        database=db.label,
    )
    _write_state(server, state_path)
    try:
        _wait_ready(server, proc, timeout)
    except BaseException:
        _terminate(proc.pid)
        state_path.unlink(missing_ok=True)
        raise
    return server


def stop(timeout: float = 30) -> bool:
    """Stop the recorded server (SIGTERM, then SIGKILL). True if one was running."""
    server = status()
    _state_path().unlink(missing_ok=True)
    if server is None:
        return False
    _terminate(server.pid, timeout)
    return True


@contextlib.contextmanager
def running(port: int | None = None, timeout: float = 240, database: str | None = None) -> Iterator[SandboxServer]:
    """Start a server for the ``with`` block and stop it afterwards.

    If a server is already running (e.g. started from the CLI) on the same
    database it is reused and left running; its database then holds whatever
    earlier runs stored.
    """
    existing = status()
    if existing is not None:
        _check_same_database(existing, _database(database))
        yield existing
        return
    server = start(port=port, timeout=timeout, database=database)
    try:
        yield server
    finally:
        stop()


# ---------------------------------------------------------------- internals


def _check_same_database(server: SandboxServer, db: _Database) -> None:
    if server.database != db.label:
        raise SandboxError(
            f"a sandbox is already running at {server.base_url} on database {server.database}, "
            f"not {db.label}; stop it first (bmefhir sandbox stop)"
        )


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise SandboxError("java not found: install Java 17+ or set JAVA_HOME")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_ready(server: SandboxServer, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"{server.base_url}/metadata"
    with httpx.Client(timeout=10.0) as client:
        while True:
            code = proc.poll()
            if code is not None:
                raise SandboxError(
                    f"HAPI sandbox exited with code {code} during start-up; "
                    f"log {server.log_path}:\n{_log_tail(server.log_path)}"
                )
            if _READY_MARKER in _read_text(server.log_path):
                try:
                    if client.get(url).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"HAPI sandbox not ready after {timeout:.0f}s; log {server.log_path}:\n{_log_tail(server.log_path)}"
                )
            time.sleep(0.5)


def _terminate(pid: int, timeout: float = 30) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
        time.sleep(0.2)
    _children.pop(pid, None)


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _is_sandbox_process(pid: int) -> bool:
    """Alive and (where /proc exists) really our JVM, not a recycled pid."""
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return MAIN_CLASS.encode() in cmdline


def _read_state() -> SandboxServer | None:
    try:
        data = json.loads(_state_path().read_text())
        return SandboxServer(
            base_url=str(data["base_url"]),
            pid=int(data["pid"]),
            port=int(data["port"]),
            log_path=Path(data["log_path"]),
            database=str(data.get("database", IN_MEMORY)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(server: SandboxServer, path: Path | None = None) -> None:
    path = path or _state_path()
    data = asdict(server)
    data["log_path"] = str(server.log_path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _log_tail(path: Path) -> str:
    return _tail(_read_text(path)) or f"(log {path} is empty or unreadable)"
