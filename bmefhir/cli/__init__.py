"""The ``bmefhir`` command line: one Typer app, one module per command group.

A command's module is imported only when that command runs (or ``--help`` lists them all): the analysis
stack (spaCy, SQLAlchemy, ...) takes seconds to import, and ``bmefhir sandbox stop`` needs none of it.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_command, get_group

# name -> (module in bmefhir.cli, attribute): a command function or a Typer app (a command group);
# in the order --help lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("analyze", "analyze"),
    "run": ("analyze", "run_server"),
    "serve": ("serve", "serve"),
    "worker": ("worker", "worker"),
    "synth": ("synth", "synth"),
    "knowledge": ("knowledge", "app"),
    "sandbox": ("sandbox", "app"),
    "sync": ("sync", "app"),
    "keys": ("keys", "app"),
    "cds": ("cds", "app"),
}


class LazyGroup(TyperGroup):
    """Builds a subcommand from its module on first use."""

    # ctx: Typer's click Context (vendored by Typer 0.2x, click's own before): not looked at here.
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = _build(cmd_name)
        return self.commands.get(cmd_name)


def _build(name: str) -> Any:
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(f"bmefhir.cli.{module}"), attribute)
    command: Any
    if isinstance(target, typer.Typer):
        command = get_group(target)  # a group even with one command (cds feedback), as add_typer makes it
    else:  # a command function: a one-command app is that command
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = get_command(single)
    command.name = name
    return command


app = typer.Typer(
    name="bmefhir",
    cls=LazyGroup,
    help="Explainable differential diagnosis of bone marrow edema syndromes over FHIR R4 (decision support).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """A group needs a callback (or two commands registered) for Typer to build it."""


def main() -> None:
    # httpx logs full request URLs at INFO, and search URLs carry patient ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app()
