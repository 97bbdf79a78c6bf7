"""The ``bmefhir`` command line: one Typer app, one module per command group."""

from __future__ import annotations

import logging

import typer

from bmefhir.cli import analyze, knowledge, sandbox
from bmefhir.cli import keys as keys_cli
from bmefhir.cli import sync as sync_cli
from bmefhir.cli import synth as synth_cli
from bmefhir.cli import worker as worker_cli

app = typer.Typer(
    name="bmefhir",
    help="Explainable differential diagnosis of bone marrow edema syndromes over FHIR R4 (decision support).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("analyze")(analyze.analyze)
app.command("run")(analyze.run_server)
app.command("serve")(__import__("bmefhir.cli.serve", fromlist=["serve"]).serve)
app.add_typer(knowledge.app, name="knowledge")
app.add_typer(keys_cli.app, name="keys")
app.command("worker")(worker_cli.worker)
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(sync_cli.app, name="sync")
app.command("synth")(synth_cli.synth)


def main() -> None:
    # httpx logs full request URLs at INFO, and search URLs carry patient ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app()
