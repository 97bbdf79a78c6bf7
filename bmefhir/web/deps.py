"""FastAPI dependencies: settings, the session store, the outgoing HTTP client, the clock, the session,
the state store (CDS Hooks feedback)."""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from typing import Annotated, cast

import httpx
from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from bmefhir.smart.oidc import JwksCache
from bmefhir.smart.sessions import SessionStore, WebSession
from bmefhir.sync.store import StoreError, SyncStore
from bmefhir.web.errors import AppError
from bmefhir.web.security import COOKIE_NAME
from bmefhir.web.settings import WebSettings, get_settings

__all__ = [
    "ClockDep",
    "FeedbackStoreDep",
    "HttpDep",
    "JwksDep",
    "SessionDep",
    "SettingsDep",
    "StoreDep",
    "get_clock",
    "get_feedback_store",
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
log = logging.getLogger("bmefhir.web")
_store_lock = threading.Lock()


def get_feedback_store(request: Request, settings: SettingsDep) -> SyncStore:
    """The state store that keeps CDS Hooks feedback: ``state_store``, else ``BMEFHIR_SYNC_STATE``, else
    the sync default. Opened on first use (an app that gets no feedback never touches a database),
    closed with the app."""
    with _store_lock:
        opened: SyncStore | None = getattr(request.app.state, "feedback_store", None)
        if opened is None:
            try:
                opened = SyncStore(settings.state_store or os.environ.get("BMEFHIR_SYNC_STATE") or None)
            except (StoreError, OSError, SQLAlchemyError) as exc:  # the URL may hold a password: type only
                log.warning("the state store could not be opened: %s", type(exc).__name__)
                raise AppError(503, "Feedback store unavailable", "the state store could not be opened") from None
            request.app.state.feedback_store = opened
        return opened


FeedbackStoreDep = Annotated[SyncStore, Depends(get_feedback_store)]


def get_session(request: Request, store: StoreDep, now: ClockDep) -> WebSession | None:
    session_id = request.cookies.get(COOKIE_NAME)
    return store.get(session_id, now) if session_id else None


SessionDep = Annotated[WebSession | None, Depends(get_session)]
