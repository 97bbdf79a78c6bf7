"""``bmefhir sandbox``: a local HAPI FHIR server to try bmefhir on (start, stop, status, load data)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bmefhir import sandbox
from bmefhir.cli.console import err

if TYPE_CHECKING:
    from bmefhir.fhir.client import FhirClient

# The FHIR client and the loaders are imported by the commands that use them: importing bmefhir.fhir
# loads the analysis stack (seconds), which start, stop and status do not need.

app = typer.Typer(
    help="A local HAPI FHIR R4 server (Java 17 + Maven; no Docker) to load examples into and run bmefhir against.",
    no_args_is_help=True,
)

FhirBaseOption = Annotated[
    str | None,
    typer.Option("--fhir-base", envvar="BMEFHIR_FHIR_BASE", help="FHIR R4 base URL; default: the running sandbox"),
]


@app.command("start")
def start(
    port: Annotated[int | None, typer.Option("--port", help="Port on 127.0.0.1; default: a free one")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server")] = 240,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            envvar="BMEFHIR_SANDBOX_DATABASE",
            help="PostgreSQL URL (postgresql://user@host:port/db, existing database) instead of in-memory H2; "
            "keeps data across restarts and scales to large cohorts",
        ),
    ] = None,
) -> None:
    """Build (first time: downloads from Maven Central) and start the sandbox; prints its base URL."""
    already = sandbox.status()
    try:
        server = sandbox.start(port=port, timeout=timeout, database=database)
    except sandbox.SandboxError as exc:
        err.print(f"[red]error[/]: the sandbox did not start:\n{exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    note = "already running" if already else "started"
    in_memory = server.database == sandbox.IN_MEMORY
    typer.echo(server.base_url)
    err.print(
        f"HAPI FHIR sandbox {note} at {server.base_url} (pid {server.pid}; database {server.database}; "
        f"log {server.log_path}).\n"
        f"Load the examples: bmefhir sandbox load examples/ --profiles\n"
        f"Analyse from it:   bmefhir run --fhir-base {server.base_url} --patient seed-001\n"
        "Stop it:           bmefhir sandbox stop   "
        + ("(the database is in memory: stopping empties it)" if in_memory else "(the database keeps its data)"),
        markup=False,
        highlight=False,
    )


@app.command("stop")
def stop() -> None:
    """Stop the sandbox (an in-memory database is lost; a PostgreSQL one keeps its data)."""
    if sandbox.stop():
        err.print("sandbox stopped")
    else:
        err.print("no sandbox was running")


@app.command("status")
def status() -> None:
    """Print the running sandbox's base URL; exit status 1 when none runs."""
    server = sandbox.status()
    if server is None:
        err.print("no sandbox running (start one: bmefhir sandbox start)")
        raise typer.Exit(1)
    typer.echo(server.base_url)
    err.print(f"pid {server.pid}, database {server.database}, log {server.log_path}", markup=False, highlight=False)


@app.command("load")
def load(
    path: Annotated[Path, typer.Argument(help="A transaction/batch Bundle JSON file, or a folder of them")],
    fhir_base: FhirBaseOption = None,
    profiles: Annotated[bool, typer.Option("--profiles", help="First upload bmefhir's profiles/")] = False,
) -> None:
    """POST every transaction Bundle in PATH to the sandbox (or --fhir-base), with a summary."""
    from bmefhir.sandbox.loading import bundle_files, load_bundles

    if not path.exists():
        err.print(f"[red]error[/]: {path} does not exist")
        raise typer.Exit(2)
    files = bundle_files(path)
    with _client(fhir_base) as client:
        if profiles:
            _upload_profiles(client)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as progress:
            task = progress.add_task("loading bundles", total=len(files))

            def on_file(file: Path, problem: str | None) -> None:
                progress.advance(task)
                if problem is not None:
                    err.print(f"[red]failed[/] {file.name}: {problem}", highlight=False)

            report = load_bundles(client, files, on_file=on_file)
    for skipped in report.skipped:
        err.print(f"skipped {skipped}", markup=False, highlight=False)
    err.print(
        f"loaded {report.bundles} of {len(files)} bundle(s), {report.entries} entries, into {client.base} "
        f"in {report.seconds:.1f}s; {len(report.failures)} failed, {len(report.skipped)} skipped",
        markup=False,
        highlight=False,
    )
    if not report.ok:
        raise typer.Exit(1)


@app.command("load-profiles")
def load_profiles(fhir_base: FhirBaseOption = None) -> None:
    """PUT bmefhir's profiles/ (CodeSystems, ValueSets, StructureDefinitions, ...) by id, in dependency order."""
    with _client(fhir_base) as client:
        _upload_profiles(client)


def _upload_profiles(client: FhirClient) -> None:
    from bmefhir.fhir.errors import FhirError
    from bmefhir.sandbox.loading import upload_conformance

    try:
        uploaded = list(upload_conformance(client))
    except FhirError as exc:
        err.print(f"[red]error[/]: uploading profiles failed: {exc}", highlight=False)
        raise typer.Exit(1) from None
    err.print(f"uploaded {len(uploaded)} conformance resources to {client.base}", markup=False, highlight=False)


def _client(fhir_base: str | None) -> FhirClient:
    if fhir_base is None:
        server = sandbox.status()
        if server is None:
            err.print("[red]error[/]: no sandbox running; start one (bmefhir sandbox start) or pass --fhir-base")
            raise typer.Exit(2)
        fhir_base = server.base_url
    from bmefhir.fhir.client import FhirClient

    # Loading is a write; a token for a protected server comes from the environment, never an argument.
    return FhirClient(fhir_base, auth=os.environ.get("BMEFHIR_TOKEN"), timeout=120.0)
