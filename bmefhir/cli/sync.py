"""``bmefhir sync``: keep every patient's assessment current; ``sync status`` and ``sync failures``."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from datetime import timedelta
from typing import Annotated, Literal

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bmefhir.fhir.errors import FhirError
from bmefhir.fhir.patient_fetch import DEFAULT_COUNT
from bmefhir.sync.discovery import iso, parse_instant
from bmefhir.sync.executors import Executor, LocalExecutor, PatientOutcome
from bmefhir.sync.runner import LeaseHeld, SyncOptions, SyncSummary, server_key, sync_once
from bmefhir.sync.schedule import parse_duration, repeat, stop_on_signals
from bmefhir.sync.spec import AuthConfig
from bmefhir.sync.store import StoreError, SyncStore

app = typer.Typer(help="Scheduled sync: re-analyse patients whose data changed, write back only changes.")
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("bmefhir.sync")

StateOption = Annotated[
    str | None,
    typer.Option(
        "--state", help="State store: sqlite:///PATH or postgresql://… (default ~/.local/state/bmefhir/sync.db)"
    ),
]


READY_LINE = "sync ready: SIGTERM or SIGINT now stops after the patients in progress"


def _store(state: str | None) -> SyncStore:
    try:
        return SyncStore(state or os.environ.get("BMEFHIR_SYNC_STATE"))
    except StoreError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def _auth(
    token_env: str | None,
    client_id: str | None,
    token_url: str | None,
    key_file: str | None,
    key_env: str | None,
    kid: str | None,
    alg: str | None,
    scope: str | None,
) -> AuthConfig:
    if client_id or token_url:
        return AuthConfig(
            kind="smart-backend",
            client_id=client_id,
            token_url=token_url,
            key_file=key_file,
            key_env=key_env,
            kid=kid,
            alg=alg,
            scope=scope,
        )
    if token_env:
        return AuthConfig(kind="bearer-env", token_env=token_env)
    if os.environ.get("BMEFHIR_TOKEN"):
        return AuthConfig(kind="bearer-env", token_env="BMEFHIR_TOKEN")
    return AuthConfig()


def _executor(kind: str, workers: int) -> Executor:
    if kind == "local":
        return LocalExecutor(workers)
    try:
        celery_app = importlib.import_module("bmefhir.sync.celery_app")
    except ImportError:
        err.print("[red]error:[/] the Celery executor is not installed (bmefhir.sync.celery_app)")
        raise typer.Exit(2) from None
    executor: Executor = celery_app.CeleryExecutor()
    return executor


def _print_summary(summary: SyncSummary, as_json: bool) -> None:
    for note in summary.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(summary.as_dict()) + b"\n")
        sys.stdout.flush()
        return
    state = "complete" if summary.complete else "stopped (resumes on the next run)"
    resumed = " (resumed)" if summary.resumed else ""
    err.print(
        f"sync {summary.server} run {summary.run_id}{resumed} ({summary.method}): discovered {summary.discovered}, "
        f"inputs unchanged {summary.inputs_unchanged} (not analysed), "
        f"analysed {summary.analysed}, unchanged {summary.unchanged}, written {summary.written}, "
        f"failed {summary.failed}, {summary.requests} requests, {summary.seconds:.1f}s; {state}; "
        f"cursor {summary.cursor or '-'}",
        markup=False,
    )


@app.callback(invoke_without_command=True)
def sync(
    ctx: typer.Context,
    fhir_base: Annotated[str | None, typer.Option("--fhir-base", help="FHIR server base URL")] = None,
    state: StateOption = None,
    executor: Annotated[str, typer.Option("--executor", help="local (a thread pool) or celery")] = "local",
    workers: Annotated[int, typer.Option("--workers", min=1, help="local pool size")] = 4,
    every: Annotated[str | None, typer.Option("--every", help="repeat every interval (1h, 30m); until SIGTERM")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ignore the cursor: changes since this instant")] = None,
    overlap: Annotated[str, typer.Option("--overlap", help="look back this much before the cursor")] = "5m",
    discovery: Annotated[str, typer.Option("--discovery", help="auto ($export if offered), search or export")] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="analyse but write nothing back")] = False,
    reanalyse: Annotated[
        bool, typer.Option("--reanalyse", help="analyse every discovered patient, even one whose inputs did not change")
    ] = False,
    write_findings: Annotated[
        bool, typer.Option("--write-findings", help="also write the imaging findings read from report text")
    ] = False,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, help="search page size (_count; servers cap it)")
    ] = DEFAULT_COUNT,
    lock_ttl: Annotated[str, typer.Option("--lock-ttl", help="lease length; renewed every third of it")] = "2m",
    export_poll_max: Annotated[
        str, typer.Option("--export-poll-max", help="longest wait between $export status polls")
    ] = "120s",
    export_fallback: Annotated[
        str,
        typer.Option(
            "--export-fallback", help="search: discover by _lastUpdated search after repeated $export failure; none"
        ),
    ] = "search",
    export_fallback_after: Annotated[
        int,
        typer.Option(
            "--export-fallback-after", min=1, help="consecutive failed $export discoveries before the fallback"
        ),
    ] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON line on stdout")] = False,
    token_env: Annotated[str | None, typer.Option("--token-env", help="env var holding a bearer token")] = None,
    smart_client_id: Annotated[str | None, typer.Option("--smart-client-id")] = None,
    smart_token_url: Annotated[str | None, typer.Option("--smart-token-url")] = None,
    smart_key_file: Annotated[str | None, typer.Option("--smart-key-file", help="private key PEM")] = None,
    smart_key_env: Annotated[str | None, typer.Option("--smart-key-env", help="env var holding the key PEM")] = None,
    smart_kid: Annotated[str | None, typer.Option("--smart-kid")] = None,
    smart_alg: Annotated[str | None, typer.Option("--smart-alg", help="RS384 or ES384")] = None,
    smart_scope: Annotated[str | None, typer.Option("--smart-scope")] = None,
) -> None:
    """Discover patients changed since the last successful run, re-analyse them, write back what changed."""
    if ctx.invoked_subcommand is not None:
        return
    if not fhir_base:
        err.print("[red]error:[/] --fhir-base is required")
        raise typer.Exit(2)
    if (
        executor not in ("local", "celery")
        or discovery not in ("auto", "search", "export")
        or export_fallback not in ("search", "none")
    ):
        err.print(
            "[red]error:[/] --executor is local or celery; --discovery is auto, search or export; "
            "--export-fallback is search or none"
        )
        raise typer.Exit(2)
    try:
        server_key(fhir_base)
        if since is not None:
            since = iso(parse_instant(since if "T" in since else f"{since}T00:00:00+00:00"))
        options = SyncOptions(
            auth=_auth(
                token_env,
                smart_client_id,
                smart_token_url,
                smart_key_file,
                smart_key_env,
                smart_kid,
                smart_alg,
                smart_scope,
            ),
            overlap=parse_duration(overlap),
            since=since,
            discovery=_mode(discovery),
            page_size=page_size,
            dry_run=dry_run,
            write_findings=write_findings,
            lease_ttl=max(parse_duration(lock_ttl), timedelta(seconds=3)),
            export_poll_max=parse_duration(export_poll_max),
            export_fallback="none" if export_fallback == "none" else "search",
            export_fallback_after=export_fallback_after,
            reanalyse=reanalyse,
        )
        interval = parse_duration(every) if every else None
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    store = _store(state)
    pool = _executor(executor, workers)
    stop = threading.Event()
    failed = False

    def once() -> None:
        nonlocal failed
        try:
            summary = _run_with_progress(store, fhir_base, options, pool, stop)
        except LeaseHeld as exc:
            err.print(f"[yellow]skipped:[/] {exc}", markup=True)
            return
        except (FhirError, StoreError, RuntimeError) as exc:  # the run resumes from the store next time
            err.print(f"[red]sync failed:[/] {escape(str(exc))}")
            failed = True
            return
        _print_summary(summary, as_json)
        failed = summary.failed > 0

    with stop_on_signals(stop):
        # The readiness line: from here on SIGTERM/SIGINT end the run gracefully (tests wait for it).
        err.print(READY_LINE, highlight=False, markup=False)
        if interval is None:
            once()
        else:
            repeat(once, interval, stop)
    store.close()
    if failed and interval is None:
        raise typer.Exit(1)


def _mode(text: str) -> Literal["auto", "search", "export"]:
    if text == "search":
        return "search"
    return "export" if text == "export" else "auto"


def _run_with_progress(
    store: SyncStore, base: str, options: SyncOptions, pool: Executor, stop: threading.Event
) -> SyncSummary:
    if not err.is_terminal:
        return sync_once(store, base, options=options, executor=pool, stop=stop)
    with Progress(
        TextColumn("sync"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("patients", total=None)

        def discovered(n: int) -> None:
            bar.update(task, total=n)

        def done(_outcome: PatientOutcome) -> None:
            bar.advance(task)

        return sync_once(
            store, base, options=options, executor=pool, stop=stop, on_discovered=discovered, on_outcome=done
        )


@app.command("status")
def status(state: StateOption = None) -> None:
    """Per server: the cursor, the last run and how many patients wait in the dead-letter table."""
    store = _store(state)
    table = Table("server", "cursor", "last run", "state", "patients", "dead letters")
    for server, cursor, run, dead in store.iter_servers_status():
        counts = ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items())) if run else "-"
        started = f"{run.id} at {run.started_at:%Y-%m-%d %H:%M:%SZ}" if run else "-"
        table.add_row(server, cursor or "-", started, run.state if run else "-", counts, str(dead))
    Console(width=200).print(table)
    store.close()


@app.command("failures")
def failures(
    state: StateOption = None,
    fhir_base: Annotated[str | None, typer.Option("--fhir-base", help="only this server")] = None,
) -> None:
    """Patients in the dead-letter table: why they failed, how often, when they are retried."""
    store = _store(state)
    rows = store.failures(server_key(fhir_base) if fhir_base else None)
    table = Table("server", "patient", "attempts", "last failed", "next retry", "reason")
    for row in rows:
        table.add_row(
            row.server,
            row.patient_id,
            str(row.attempts),
            f"{row.last_failed_at:%Y-%m-%d %H:%M:%SZ}",
            f"{row.next_attempt_at:%Y-%m-%d %H:%M:%SZ}",
            row.reason,
        )
    Console(width=200).print(table)
    store.close()
