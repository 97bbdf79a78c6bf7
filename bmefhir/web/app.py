"""The FastAPI application: SMART launch, the patient page, demo mode, the JSON API and CDS Hooks.

Usage::

    app = create_app()                       # settings from BMEFHIR_WEB_* (get_settings)
    app.dependency_overrides[get_settings] = lambda: WebSettings(...)   # tests

The routes live in ``launch_routes``, ``patient_routes``, ``demo_routes``, ``api``, ``cds_routes`` and ``cds_feedback``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from bmefhir import __version__
from bmefhir.differential.knowledge_base import load_knowledge
from bmefhir.smart.oidc import JwksCache
from bmefhir.smart.sessions import MemorySessionStore, SessionStore
from bmefhir.web import api, cds_feedback, cds_routes, demo_routes, launch_routes, patient_routes
from bmefhir.web.errors import install_error_handlers
from bmefhir.web.security import CdsCors, SecurityHeaders
from bmefhir.web.settings import WebSettings, get_settings

__all__ = ["create_app", "session_store"]

SMART_TIMEOUT = httpx.Timeout(10.0)


def session_store(settings: WebSettings) -> SessionStore:
    """In memory for one process; in Redis (encrypted) when ``session_store`` names one."""
    ttl = timedelta(minutes=settings.session_idle_minutes)
    if settings.session_store is None:
        return MemorySessionStore(ttl=ttl)
    if settings.session_key is None:
        raise ValueError("BMEFHIR_WEB_SESSION_STORE is set but BMEFHIR_WEB_SESSION_KEY is not: sessions hold tokens")
    from bmefhir.smart.redis_sessions import RedisSessionStore

    return RedisSessionStore(settings.session_store, settings.session_key.get_secret_value(), ttl=ttl)


def create_app(settings: WebSettings | None = None, *, store: SessionStore | None = None) -> FastAPI:
    """Build the app. ``settings`` fixes what start-up needs (headers, session lifetime); request
    handlers read settings through ``get_settings`` so tests can override them per app."""
    settings = settings or get_settings()
    load_knowledge()  # fail at start-up, not on the first launch, if the knowledge base is broken

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.http.close()
        feedback_store = getattr(app.state, "feedback_store", None)
        if feedback_store is not None:
            feedback_store.close()
        close = getattr(app.state.sessions, "close", None)
        if callable(close):
            close()

    app = FastAPI(
        title="bmefhir SMART app",
        version=__version__,
        description="Explainable differential diagnosis of bone marrow edema syndromes (decision support).",
        openapi_url="/api/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN, which the CSP forbids
        redoc_url=None,
        lifespan=lifespan,
        redirect_slashes=False,  # a slash redirect is built from the Host header: no redirects from it
    )
    app.state.sessions = store or session_store(settings)
    app.state.http = httpx.Client(timeout=SMART_TIMEOUT, follow_redirects=False)
    app.state.jwks = JwksCache()
    # Outermost last: security headers on every answer, then the Host check before any route.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.hosts, www_redirect=False)
    app.add_middleware(CdsCors, origins=settings.cds_cors_origins)
    app.add_middleware(SecurityHeaders, settings=settings)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(launch_routes.router)
    app.include_router(patient_routes.router)
    app.include_router(demo_routes.router)
    app.include_router(api.router)
    app.include_router(cds_routes.router)
    app.include_router(cds_feedback.router)
    return app
