"""``bmefhir cds feedback``: what clinicians did with the CDS Hooks cards (accepted, overridden and why)."""

from __future__ import annotations

import os
from collections import Counter
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bmefhir.cli.output import Format, err, print_json
from bmefhir.sync.store import StoreError, SyncStore

app = typer.Typer(help="CDS Hooks: the feedback clients sent on the cards.", no_args_is_help=True)


@app.command("feedback")
def feedback(
    store_url: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="State store: sqlite:///PATH or postgresql://… (default BMEFHIR_WEB_STATE_STORE, "
            "BMEFHIR_SYNC_STATE, else ~/.local/state/bmefhir/sync.db)",
        ),
    ] = None,
    service: Annotated[str | None, typer.Option("--service", help="only this CDS service id")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="the latest N entries")] = 100,
    fmt: Annotated[Format, typer.Option("--format", help="table, or json (one line per entry)")] = Format.table,
) -> None:
    """The latest feedback first: card, outcome, override reason, accepted suggestions, time and client."""
    url = store_url or os.environ.get("BMEFHIR_WEB_STATE_STORE") or os.environ.get("BMEFHIR_SYNC_STATE")
    try:
        store = SyncStore(url)
    except StoreError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        records = store.feedback(service, limit=limit)
    finally:
        store.close()
    if fmt is Format.json:
        for record in records:
            print_json(record.as_dict())
        return
    table = Table("when (UTC)", "service", "card", "outcome", "reason", "suggestions", "client")
    for r in records:
        cells = (
            f"{r.outcome_at:%Y-%m-%d %H:%M:%SZ}",
            r.service,
            r.card,
            r.outcome,
            r.reason_code or "-",
            " ".join(r.accepted_suggestions) or "-",
            r.client,
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: what a client sent is never read as markup
    Console(width=200).print(table)
    counts = Counter(r.outcome for r in records)
    err.print(
        f"{len(records)} feedback entries: {counts['accepted']} accepted, {counts['overridden']} overridden",
        markup=False,
    )
