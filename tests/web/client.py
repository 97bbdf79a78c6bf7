"""Driving the app's launch the way a browser would: app → EHR authorize → app callback."""

from __future__ import annotations

import warnings
from typing import Any

import httpx

with warnings.catch_warnings():
    # Starlette nudges towards httpx2; the TestClient still works on httpx (the project's client).
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from bmefhir.web import WebSettings, create_app, get_settings

PUBLIC = "http://testserver"


def make_client(settings: WebSettings) -> TestClient:
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app, base_url=PUBLIC, raise_server_exceptions=False)


def settings_for(iss: str, **extra: Any) -> WebSettings:
    values: dict[str, Any] = {"allowed_issuers": [iss], "public_url": PUBLIC, "dev": True, "client_id": "bmefhir"}
    values.update(extra)
    return WebSettings(_env_file=None, **values)  # type: ignore[call-arg]


def authorize(location: str) -> httpx.URL:
    """The EHR's authorize step (it approves at once, or denies when told to): where it sends the browser."""
    answer = httpx.get(location, follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return httpx.URL(answer.headers["location"])


def callback_path(url: httpx.URL) -> str:
    assert str(url).startswith(PUBLIC + "/callback"), "the EHR must redirect to the registered redirect_uri"
    return url.raw_path.decode()


def launch(client: TestClient, iss: str, patient: str | None, *, standalone: bool = False) -> httpx.Response:
    """EHR launch (or standalone) through to the app's answer to the callback."""
    if standalone:
        start = client.get("/standalone", params={"iss": iss}, follow_redirects=False)
    else:
        start = client.get("/launch", params={"iss": iss, "launch": f"patient-{patient}"}, follow_redirects=False)
    assert start.status_code == 302, start.text
    return client.get(callback_path(authorize(start.headers["location"])), follow_redirects=False)
