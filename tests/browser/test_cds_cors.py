"""CDS Hooks from a browser-based client (issue 12, item 6): a page on another origin in Chromium
calls /cds-services cross-origin, preflight included; an origin not on the list is refused by the
browser. The calling page comes from a second loopback HTTP server, another origin (Chromium's Local
Network Access would block a page from a public or made-up origin first); the app is real."""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bmefhir.web import WebSettings, create_app, get_settings
from bmefhir.web.cds_routes import OVERRIDE_SYSTEM, SERVICE_ID
from tests.web.harness import free_port, serve_app
from tests.web.test_cds_hooks import hook, prefetch_of


@contextlib.contextmanager
def _client_page_server() -> Iterator[str]:
    """A plain page on its own loopback origin (bound before the thread starts: ready at once)."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "index.html").write_text("<!doctype html><h1>CDS client</h1>")
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=folder))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://localhost:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sandbox_origin() -> Iterator[str]:
    with _client_page_server() as origin:
        yield origin


@pytest.fixture(scope="module")
def evil_origin() -> Iterator[str]:
    with _client_page_server() as origin:
        yield origin


CALL = """async ([url, body]) => {
  try {
    const answer = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify(body)});
    return {status: answer.status, body: await answer.json()};
  } catch (err) {
    return {error: String(err)};
  }
}"""


@pytest.fixture(scope="module")
def cds_url(sandbox_origin: str) -> Iterator[str]:
    port = free_port()
    settings = WebSettings(
        _env_file=None,
        public_url=f"http://127.0.0.1:{port}",  # type: ignore[call-arg]
        dev=True,  # no CDS JWT in development (docs/cds-hooks.md)
        cds_cors_origins=[sandbox_origin],
    )
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    with serve_app(app, port) as url:
        yield url


def _open(page: Any, origin: str) -> None:
    assert page.goto(f"{origin}/").status == 200


def test_a_listed_origin_gets_cards_cross_origin(page: Any, cds_url: str, sandbox_origin: str) -> None:
    # A JSON POST is not a "simple" request: Chromium sends a preflight first and posts only when it
    # passes (Playwright does not report preflights; tests/web/test_cds_cors.py checks them directly).
    _open(page, sandbox_origin)
    patient_id, prefetch = prefetch_of("synth-septic")
    answer = page.evaluate(CALL, [f"{cds_url}/cds-services/{SERVICE_ID}", hook(patient_id, prefetch)])
    assert answer.get("status") == 200, answer
    cards = answer["body"]["cards"]
    assert cards[0]["indicator"] == "warning"
    assert all(r["system"] == OVERRIDE_SYSTEM for c in cards for r in c["overrideReasons"])
    discovery = page.evaluate("async (url) => (await fetch(url)).status", f"{cds_url}/cds-services")
    assert discovery == 200


def test_an_unlisted_origin_is_refused_by_the_browser(page: Any, cds_url: str, evil_origin: str) -> None:
    _open(page, evil_origin)
    patient_id, prefetch = prefetch_of("synth-septic")
    answer = page.evaluate(CALL, [f"{cds_url}/cds-services/{SERVICE_ID}", hook(patient_id, prefetch)])
    assert "error" in answer, json.dumps(answer)[:300]


def test_the_smart_pages_get_no_cors_headers(page: Any, cds_url: str, sandbox_origin: str) -> None:
    _open(page, sandbox_origin)
    answer = page.evaluate(CALL, [f"{cds_url}/api/analyze", {}])
    assert "error" in answer  # /api is same-origin only, whatever the CDS allow-list says
