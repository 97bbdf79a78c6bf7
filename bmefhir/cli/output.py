"""How results are shown: a rich table for people, JSON lines for programs."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bmefhir.fhir.files import PatientSource
from bmefhir.pipeline import PatientResult
from bmefhir.render.narrative import DISCLAIMER, pct
from bmefhir.runner import Failure, RunReport

err = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    json = "json"


def print_json(summary: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(summary, option=orjson.OPT_SORT_KEYS) + b"\n")
    sys.stdout.flush()


def print_table(result: PatientResult, console: Console) -> None:
    s = result.summary
    d = result.analysis.differential
    table = Table(title=f"{s['patient']}: differential diagnosis", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Candidate")
    table.add_column("Probability", justify="right")
    table.add_column("Criteria for / against")
    for i, c in enumerate(d.ranking, 1):
        crit = ", ".join(h.criterion_id for h in c.supporting)
        if c.opposing:
            crit += (" / " if crit else "/ ") + ", ".join(h.criterion_id for h in c.opposing)
        table.add_row(str(i), c.display, pct(c.probability), crit)
    console.print(table)
    if d.insufficient_data:
        console.print("[yellow]No bone marrow edema imaging on record: ranking is priors only.[/]")
    for f in d.red_flags:
        console.print(f"[bold red]RED FLAG[/] {f.code}: {f.message} [dim]({f.criterion_id}; {f.citation.text})[/]")
    for step in d.next_steps:
        console.print(f"[cyan]Next step[/] {step.text} [dim]({step.citation.text})[/]")
    issues = result.analysis.record.issues
    if issues:
        console.print(f"[yellow]{len(issues)} data-quality issue(s)[/]; see the OperationOutcome / --format json.")
    console.print()


def print_failure(failure: Failure) -> None:
    err.print(f"[red]failed[/] {failure.patient_id}: {failure.reason}")


def print_source_problems(source: PatientSource) -> None:
    """Issues that belong to no patient (an unreadable file, a resource pointing nowhere)."""
    for p in source.problems:
        i = p.issue
        err.print(f"[yellow]{i.severity}[/] {i.resource} {i.element}: {i.message}")


def print_report(report: RunReport, out_dir: str | None) -> None:
    err.print(
        f"[bold]{report.analysed}[/] analysed, {len(report.failures)} failed, {report.red_flagged} with red flags, "
        f"{report.data_quality_issues} data-quality issues, {report.seconds:.1f} s"
        + (f"; outputs in {out_dir}" if out_dir else "")
    )
    err.print(f"[dim]{DISCLAIMER}[/]")
