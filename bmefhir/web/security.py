"""Response hardening: security headers on every response, and the session cookie's attributes.

Cookie choice (docs/smart-app.md): an EHR shows the app in an iframe, so the
cookie is cross-site there; only ``SameSite=None`` (which browsers accept only
with ``Secure``) reaches it, and ``Partitioned`` (CHIPS) keeps it working where
third-party cookies are blocked, scoped to the EHR's site. Outside a frame
``Lax`` is the stronger choice and still survives the top-level redirect back
from the authorization server. Local development drops ``Secure`` (plain http).
"""

from __future__ import annotations

from typing import Literal

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bmefhir.web.settings import WebSettings

__all__ = ["COOKIE_NAME", "CdsCors", "SecurityHeaders", "content_security_policy", "set_session_cookie"]

COOKIE_NAME = "bmefhir_session"


def content_security_policy(settings: WebSettings) -> str:
    ancestors = " ".join(settings.frame_ancestors) or "'none'"
    return (
        "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
        f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
    )


class SecurityHeaders:
    """Pure ASGI middleware adding the CSP and friends (no buffering of bodies)."""

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(settings).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),  # the callback URL holds the code: never to other sites
            (b"cache-control", b"no-store"),  # pages hold patient data
            (b"cross-origin-opener-policy", b"same-origin-allow-popups"),
        ]
        if not settings.dev:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in existing]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, add_headers)


class CdsCors:
    """CORS for browser-based CDS clients (the CDS Hooks sandbox), on ``/cds-services`` only.

    Starlette's ``CORSMiddleware`` answers preflights and adds the headers for the allow-listed
    origins (``WebSettings.cds_cors_origins``); the SMART pages and ``/api`` stay same-origin.
    No credentials: CDS clients authenticate with their JWT in ``Authorization``, not cookies."""

    PREFIX = "/cds-services"

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == self.PREFIX or path.startswith(self.PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _cookie_policy(settings: WebSettings) -> tuple[bool, Literal["lax", "none"], bool]:
    """(secure, samesite, partitioned)."""
    if settings.framed and not settings.dev:
        return True, "none", True
    return not settings.dev, "lax", False


def set_session_cookie(response: Response, session_id: str, settings: WebSettings) -> None:
    secure, samesite, partitioned = _cookie_policy(settings)
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        max_age=settings.session_idle_minutes * 60,
        path="/",
        secure=secure,
        httponly=True,
        samesite=samesite,
    )
    if partitioned:
        # Starlette sets Partitioned only on Python 3.14+; the attribute is plain text, so add it here.
        raw = response.raw_headers
        for i in range(len(raw) - 1, -1, -1):
            name, value = raw[i]
            if name == b"set-cookie" and value.startswith(COOKIE_NAME.encode() + b"="):
                raw[i] = (name, value + b"; Partitioned")
                break
