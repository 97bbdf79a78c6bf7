"""``bmefhir knowledge validate|show``: the knowledge base is data a clinician reviews."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bmefhir.cli.output import err
from bmefhir.differential.knowledge_base import KnowledgeError, knowledge_rows, load_knowledge
from bmefhir.reporttext.lexicon import LexiconError, validate_lexicons

app = typer.Typer(help="Validate or show the knowledge base.", no_args_is_help=True)
PathOption = Annotated[Path | None, typer.Option("--path", help="A knowledge base folder other than the built-in one")]
LexiconOption = Annotated[
    Path | None, typer.Option("--lexicons", help="A report-text lexicon folder other than the built-in one")
]


@app.command()
def validate(path: PathOption = None, lexicons: LexiconOption = None) -> None:
    """Load and check the knowledge base (unknown facts or candidates, missing citations, weights out of range)
    and the report-text lexicons (unknown concepts, structures, ConText categories, missing sources)."""
    try:
        kb = load_knowledge(path)
    except KnowledgeError as exc:
        err.print(f"[red]invalid knowledge base[/]\n{exc}")
        raise typer.Exit(1) from exc
    err.print(
        f"[green]ok[/]: knowledge base {kb.version}: {len(kb.criteria)} criteria, "
        f"{len(kb.candidates)} candidates, {len(kb.next_steps)} next steps, every criterion cited"
    )
    try:
        found = validate_lexicons(lexicons) if lexicons is not None else validate_lexicons()
    except LexiconError as exc:
        err.print(f"[red]invalid report-text lexicon[/]\n{exc}")
        raise typer.Exit(1) from exc
    for language, lexicon in found.items():
        err.print(
            f"[green]ok[/]: report-text lexicon {language}: {len(lexicon.targets)} finding entries, "
            f"{len(lexicon.sites)} sites, {len(lexicon.context)} ConText rules, every entry sourced"
        )


@app.command()
def show(path: PathOption = None) -> None:
    """Print every criterion: what it looks for, what it moves, and its source."""
    try:
        kb = load_knowledge(path)
    except KnowledgeError as exc:
        err.print(f"[red]invalid knowledge base[/]\n{exc}")
        raise typer.Exit(1) from exc
    table = Table(title=f"bmefhir knowledge base {kb.version}", show_lines=True)
    rows = knowledge_rows(kb)
    for column in rows[0] if rows else ():
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console(width=200).print(table)
