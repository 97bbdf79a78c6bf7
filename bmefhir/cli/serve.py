"""``bmefhir serve``: run the SMART app and CDS Hooks service (or ``--demo`` with the example patients, no EHR)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Show the example patients; no EHR needed.")] = False,
    log_level: Annotated[
        str, typer.Option(help="Level of the app's log, audit events included (docs/audit.md): info shows them.")
    ] = "info",
) -> None:
    """Serve the SMART-on-FHIR app and the CDS Hooks service (one process; several: docs/smart-app.md).

    Settings come from BMEFHIR_WEB_* variables (docs/smart-app.md, docs/cds-hooks.md).
    """
    import uvicorn

    from bmefhir.pipeline import warm_up
    from bmefhir.web.app import create_app
    from bmefhir.web.settings import WebSettings, get_settings

    overrides: dict[str, object] = {}
    if demo:
        overrides["demo"] = True
        if host in ("127.0.0.1", "localhost"):
            overrides["dev"] = True  # plain http on loopback: no Secure cookie
    settings = WebSettings(**overrides)  # type: ignore[arg-type]
    _log_to_stderr(log_level.upper())
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    # Before the port opens: the first request would otherwise load the models and the report
    # reader's pipelines (seconds to tens of seconds on a busy machine).
    # Its analysis also settles the process (``pipeline.settle``): what start-up loaded (models,
    # pipelines, tables: ~250,000 objects) lives as long as the process, and out of the collector's
    # sight a full collection no longer walks it (~150 ms each, the p95 of CDS calls on
    # 1,000-resource records; benchmarks/cds.py).
    warm_up(datetime.now(UTC))
    if demo:
        typer.echo(f"Demo: open http://{host}:{port}/demo")
    # access_log off: request lines carry launch and callback query strings (codes, state).
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


def _log_to_stderr(level: str) -> None:
    """The app's own loggers (``bmefhir.*``: audit events, warnings) to stderr, one line each.
    uvicorn configures only its own loggers; without this the audit trail would go nowhere."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("bmefhir")
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False
