"""``bmefhir serve``: run the SMART app and CDS Hooks service (or ``--demo`` with the example patients, no EHR)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Show the example patients; no EHR needed.")] = False,
) -> None:
    """Serve the SMART-on-FHIR app and the CDS Hooks service (one process; several: docs/smart-app.md).

    Settings come from BMEFHIR_WEB_* variables (docs/smart-app.md, docs/cds-hooks.md).
    """
    import uvicorn

    from bmefhir.web.app import create_app
    from bmefhir.web.settings import WebSettings, get_settings

    overrides: dict[str, object] = {}
    if demo:
        overrides["demo"] = True
        if host in ("127.0.0.1", "localhost"):
            overrides["dev"] = True  # plain http on loopback: no Secure cookie
    settings = WebSettings(**overrides)  # type: ignore[arg-type]
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    if demo:
        typer.echo(f"Demo: open http://{host}:{port}/demo")
    # access_log off: request lines carry launch and callback query strings (codes, state).
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")
