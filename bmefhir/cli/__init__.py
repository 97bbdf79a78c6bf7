"""The ``bmefhir`` command line: one Typer app, one module per command group."""

from __future__ import annotations

import logging

import typer

from bmefhir.cli import analyze, cds, keys, knowledge, sandbox, serve, sync, synth, worker

app = typer.Typer(
    name="bmefhir",
    help="Explainable differential diagnosis of bone marrow edema syndromes over FHIR R4 (decision support).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("analyze")(analyze.analyze)
app.command("run")(analyze.run_server)
app.add_typer(knowledge.app, name="knowledge")
app.add_typer(sandbox.app, name="sandbox")
app.command("serve")(serve.serve)
app.add_typer(sync.app, name="sync")
app.command("worker")(worker.worker)
app.command("synth")(synth.synth)
app.add_typer(keys.app, name="keys")
app.add_typer(cds.app, name="cds")


def main() -> None:
    # httpx logs full request URLs at INFO, and search URLs carry patient ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app()
