"""Browser tests: headless Debian Chromium via Playwright (no browser download), the mock EHR,
HAPI with the examples and the app under uvicorn on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmefhir.web import WebSettings, create_app, get_settings
from bmefhir.web.deps import get_clock
from tests.web.conftest import ehr, ehr_session, hapi_base, patients, practitioner  # noqa: F401 - shared fixtures
from tests.web.harness import ROOT, AppClock, MockEhr, free_port, missing, serve_app

CHROMIUM = os.environ.get("BMEFHIR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        missing(f"Chromium not found at {CHROMIUM} (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def app_clock() -> AppClock:
    """The app's clock: a test moves it forward instead of waiting (token expiry)."""
    return AppClock()


@pytest.fixture(scope="session")
def app_url(ehr_session: MockEhr, app_clock: AppClock) -> Iterator[str]:  # noqa: F811
    port = free_port()
    settings = WebSettings(
        _env_file=None,
        allowed_issuers=[ehr_session.iss],  # type: ignore[call-arg]
        standalone_iss=ehr_session.iss,
        public_url=f"http://127.0.0.1:{port}",
        dev=True,
        demo=True,
    )
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_clock] = app_clock
    with serve_app(app, port) as url:
        yield url


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
