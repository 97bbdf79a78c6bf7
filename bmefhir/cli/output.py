"""How results are shown: a rich table for people, JSON lines for programs."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bmefhir.cli.console import err as err  # re-exported: the commands print through it
from bmefhir.differential.model import CriterionHit
from bmefhir.fhir.files import PatientSource
from bmefhir.pipeline import PatientResult
from bmefhir.render.narrative import DISCLAIMER, pct
from bmefhir.runner import Failure, RunReport
from bmefhir.safetext import bounded


class Format(StrEnum):
    table = "table"
    json = "json"


def print_json(summary: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(summary, option=orjson.OPT_SORT_KEYS) + b"\n")
    sys.stdout.flush()


SHOWN_MIN_PROBABILITY = 0.01
KEY_CRITERIA = 3


def _strongest(hits: tuple[CriterionHit, ...]) -> str:
    ranked = sorted(hits, key=lambda h: (-abs(h.weight), h.criterion_id))[:KEY_CRITERIA]
    text = "; ".join(h.title for h in ranked)
    return text + (f" (+{len(hits) - KEY_CRITERIA})" if len(hits) > KEY_CRITERIA else "")


def print_table(result: PatientResult, console: Console) -> None:
    """Red flags first, then the candidates that matter, each with its strongest criteria."""
    d = result.analysis.differential
    console.print(f"[bold]{result.summary['patient']}[/]: bone marrow edema differential (decision support)")
    for f in d.red_flags:
        console.print(f"  [bold red]RED FLAG[/] {f.code}: {f.message} [dim]({f.criterion_id}; {f.citation.text})[/]")
    if d.insufficient_data:
        console.print("  [yellow]No bone marrow edema imaging on record: ranking is priors only.[/]")
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("Candidate", min_width=24, max_width=34)
    table.add_column("Prob.", justify="right")
    table.add_column("Strongest evidence for", ratio=3)
    table.add_column("Against", ratio=2)
    shown = [c for i, c in enumerate(d.ranking) if i < 3 or c.probability >= SHOWN_MIN_PROBABILITY]
    for i, c in enumerate(shown, 1):
        table.add_row(str(i), c.display, pct(c.probability), _strongest(c.supporting), _strongest(c.opposing))
    console.print(table)
    if hidden := len(d.ranking) - len(shown):
        console.print(f"  [dim]+{hidden} more candidates below 1%[/]")
    for step in d.next_steps:
        console.print(f"  [cyan]Next step[/] {step.text} [dim]({step.citation.text})[/]")
    for held in d.withheld:
        why = "; ".join(f"{r.reason} ({r.citation.text})" for r in held.reasons)
        console.print(f"  [yellow]Withheld[/] {held.id}: {why}")
    issues = result.analysis.record.issues
    if issues:
        console.print(
            f"  [yellow]{len(issues)} data-quality issue(s)[/]: see the output OperationOutcome or --format json"
        )
    console.print()


def print_failure(failure: Failure) -> None:
    # Ids and reasons come from input: escaped (no console markup), bounded, not highlighted.
    shown = escape(bounded(failure.patient_id, 64))
    err.print(f"[red]failed[/] {shown}: {escape(bounded(failure.reason, 600))}", highlight=False)


def print_source_problems(source: PatientSource) -> None:
    """Issues that belong to no patient (an unreadable file, a resource pointing nowhere)."""
    for p in source.problems:
        i = p.issue
        err.print(
            f"[yellow]{i.severity}[/] {escape(i.resource)} {escape(i.element)}: {escape(i.message)}", highlight=False
        )


def print_report(report: RunReport, out_dir: str | None) -> None:
    err.print(
        f"[bold]{report.analysed}[/] analysed, {len(report.failures)} failed, {report.red_flagged} with red flags, "
        f"{report.data_quality_issues} data-quality issues"
        + (f", {report.written - report.unchanged} written, {report.unchanged} unchanged" if report.written else "")
        + f", {report.seconds:.1f} s"
        + (f"; outputs in {out_dir}" if out_dir else "")
    )
    err.print(f"[dim]{DISCLAIMER}[/]")
