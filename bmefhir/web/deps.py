"""FastAPI dependencies: settings, the session store, the outgoing HTTP client, the clock, the session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, cast

import httpx
from fastapi import Depends, Request

from bmefhir.smart.oidc import JwksCache
from bmefhir.smart.sessions import SessionStore, WebSession
from bmefhir.web.security import COOKIE_NAME
from bmefhir.web.settings import WebSettings, get_settings

__all__ = [
    "ClockDep",
    "HttpDep",
    "JwksDep",
    "SessionDep",
    "SettingsDep",
    "StoreDep",
    "get_clock",
    "get_http",
    "get_jwks",
    "get_store",
]


def get_clock() -> datetime:
    return datetime.now(UTC)


def get_store(request: Request) -> SessionStore:
    return cast(SessionStore, request.app.state.sessions)


def get_http(request: Request) -> httpx.Client:
    """The client for SMART discovery and token requests (no redirects: a redirect could leak a code)."""
    return cast(httpx.Client, request.app.state.http)


def get_jwks(request: Request) -> JwksCache:
    """The EHRs' signing keys (id_token verification), cached for the app."""
    return cast(JwksCache, request.app.state.jwks)


SettingsDep = Annotated[WebSettings, Depends(get_settings)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
HttpDep = Annotated[httpx.Client, Depends(get_http)]
ClockDep = Annotated[datetime, Depends(get_clock)]
JwksDep = Annotated[JwksCache, Depends(get_jwks)]


def get_session(request: Request, store: StoreDep, now: ClockDep) -> WebSession | None:
    session_id = request.cookies.get(COOKIE_NAME)
    return store.get(session_id, now) if session_id else None


SessionDep = Annotated[WebSession | None, Depends(get_session)]
