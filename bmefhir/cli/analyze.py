"""``bmefhir analyze`` (files, the embedded default) and ``bmefhir run`` (a FHIR server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from bmefhir.cli.output import (
    Format,
    err,
    print_failure,
    print_json,
    print_report,
    print_source_problems,
    print_table,
)
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirError
from bmefhir.fhir.files import PatientSource, open_source
from bmefhir.fhir.patient_fetch import DEFAULT_COUNT, fetch_patient
from bmefhir.fhir.raw import RawPatient
from bmefhir.normalize.dates import EARLIEST, LATEST, plausible
from bmefhir.pipeline import PatientResult
from bmefhir.runner import BundleKind, Failure, run
from bmefhir.sinks import FolderSink, RestSink, Sink

NowOption = Annotated[
    datetime | None,
    typer.Option(
        "--now",
        help="Analysis time (ISO 8601, UTC if no zone); default: the current time.",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table for people, json (one line per patient)")]


def resolve_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(microsecond=0)
    if not plausible(now.date()):
        raise typer.BadParameter(f"must be between {EARLIEST.year} and {LATEST.year}", param_hint="--now")
    return now if now.tzinfo else now.replace(tzinfo=UTC)


WriteFindingsOption = Annotated[
    bool,
    typer.Option(
        "--write-findings",
        help="Also output the imaging findings read from report text as bmefhir-imaging-finding Observations",
    ),
]


def _execute(
    patients: Iterator[RawPatient],
    now: datetime,
    fmt: Format,
    sink: Sink | None,
    kind: BundleKind,
    out_label: str | None,
    write_findings: bool = False,
) -> None:
    console = Console()
    show_progress = err.is_terminal and fmt is Format.table

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not show_progress,
    ) as progress:
        task = progress.add_task("analysing patients", total=None)

        def on_patient(patient_id: str, outcome: PatientResult | Failure) -> None:
            progress.advance(task)
            if isinstance(outcome, Failure):
                print_failure(outcome)
            elif fmt is Format.json:
                print_json(outcome.summary)
            else:
                print_table(outcome, console)

        report = run(patients, now, sink=sink, bundle_kind=kind, on_patient=on_patient, write_findings=write_findings)
    if isinstance(patients, PatientSource):
        print_source_problems(patients)
        if isinstance(sink, FolderSink):
            sink.write_source_problems(patients.problems)
    print_report(report, out_label)
    if report.analysed == 0 and not report.failures:
        err.print("[red]error[/]: the source contained no patients")
        raise typer.Exit(1)
    if not report.ok:
        raise typer.Exit(1)


def analyze(
    source: Annotated[
        Path, typer.Argument(help="A Bundle JSON file, a folder of bundles, or a Bulk Data NDJSON folder")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write one output Bundle per patient and summary.json here")
    ] = None,
    fmt: FormatOption = Format.table,
    now: NowOption = None,
    write_findings: WriteFindingsOption = False,
) -> None:
    """Analyse patients from files (no server needed)."""
    if not source.exists():
        err.print(f"[red]error[/]: {source} does not exist")
        raise typer.Exit(2)
    sink = FolderSink(out) if out else None
    label = str(out) if out else None
    _execute(open_source(source), resolve_now(now), fmt, sink, "collection", label, write_findings)


def run_server(
    fhir_base: Annotated[str, typer.Option("--fhir-base", envvar="BMEFHIR_FHIR_BASE", help="FHIR R4 base URL")],
    patient: Annotated[list[str], typer.Option("--patient", "-p", help="Patient id (repeatable)")],
    write: Annotated[
        bool, typer.Option("--write", help="Write the outputs back as one transaction per patient")
    ] = False,
    count: Annotated[int, typer.Option("--count", help="Search page size (_count; servers cap it)")] = DEFAULT_COUNT,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the output bundles here")] = None,
    fmt: FormatOption = Format.table,
    now: NowOption = None,
    write_findings: WriteFindingsOption = False,
) -> None:
    """Analyse patients read from a FHIR server; with --write, write the results back."""
    token = os.environ.get("BMEFHIR_TOKEN")  # never a CLI argument: it would show in process lists
    try:
        with FhirClient(fhir_base, auth=token) as client:

            def fetched() -> Iterator[RawPatient]:
                for pid in patient:
                    try:
                        yield fetch_patient(client, pid, count=count)
                    except FhirError as exc:
                        print_failure(Failure(pid, str(exc)))
                        raise typer.Exit(1) from exc

            sink: Sink | None = RestSink(client) if write else (FolderSink(out) if out else None)
            kind: BundleKind = "transaction" if write else "collection"
            label = fhir_base if write else (str(out) if out else None)
            _execute(fetched(), resolve_now(now), fmt, sink, kind, label, write_findings)
    except FhirError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from exc
