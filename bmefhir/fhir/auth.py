"""Authentication plug-ins for ``FhirClient``: any ``httpx.Auth`` works (SMART adds its own)."""

from __future__ import annotations

from collections.abc import Generator

import httpx

__all__ = ["BearerAuth"]


class BearerAuth(httpx.Auth):
    """A fixed bearer token. Its repr hides the token so it cannot leak into logs or tracebacks."""

    def __init__(self, token: str) -> None:
        if not token or any(c in token for c in "\r\n"):
            raise ValueError("bearer token must be a non-empty single line")
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token=<hidden>)"
