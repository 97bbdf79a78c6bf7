"""Who may call the CDS Hooks service: the client's signed JWT (CDS Hooks 2.0, "Trusting CDS Clients").

Each request carries ``Authorization: Bearer <JWT>`` signed by the CDS client
(ES384 or RS384) with ``iss``, ``aud`` (this service's URL), ``exp``, ``iat`` and
``jti``. The issuer must be on the allow-list (``WebSettings.cds_clients``: iss →
JWKS URL, or a JWKS file path), the signature must verify against that JWKS (fetched
with a timeout, cached, fetched again once for an unknown ``kid``), and a ``jti``
is accepted once. Failures say which check failed, never the token.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt

__all__ = ["ALGORITHMS", "CdsAuthError", "CdsClientVerifier"]

ALGORITHMS = ("ES384", "RS384")
_JWKS_TTL = 300.0  # seconds a fetched JWKS is trusted before it is fetched again
_LEEWAY = 30  # seconds of clock skew allowed on exp / iat


class CdsAuthError(Exception):
    """The request is not from an allowed CDS client; the message says which check failed."""


class CdsClientVerifier:
    """Verifies CDS clients' JWTs against their registered JWKS; thread-safe."""

    def __init__(self, clients: Mapping[str, str], http: httpx.Client) -> None:
        self._clients = {iss.rstrip("/"): source for iss, source in clients.items()}
        self._http = http
        self._jwks: dict[str, tuple[float, jwt.PyJWKSet]] = {}
        self._seen_jti: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, authorization: str | None, audience: str | Sequence[str]) -> dict[str, Any]:
        """The verified claims of the bearer JWT (its ``aud`` one of ``audience``), or :class:`CdsAuthError`."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise CdsAuthError("no bearer JWT in the Authorization header")
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise CdsAuthError("the bearer token is not a JWT") from None
        alg, kid, iss = header.get("alg"), header.get("kid"), unverified.get("iss")
        if alg not in ALGORITHMS:
            raise CdsAuthError(f"JWT algorithm {alg!r} is not accepted (ES384 or RS384)")
        if not isinstance(iss, str) or iss.rstrip("/") not in self._clients:
            raise CdsAuthError("the JWT issuer is not a registered CDS client")
        key = self._key(iss.rstrip("/"), kid if isinstance(kid, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=[audience] if isinstance(audience, str) else list(audience),
                issuer=iss,
                leeway=_LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise CdsAuthError("the JWT has expired") from None
        except jwt.InvalidAudienceError:
            raise CdsAuthError("the JWT audience is not this service's URL") from None
        except jwt.MissingRequiredClaimError as exc:
            raise CdsAuthError(f"the JWT lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise CdsAuthError("the JWT signature or claims did not verify") from None
        self._once(str(claims["jti"]), float(claims["exp"]))
        return claims

    def _once(self, jti: str, exp: float) -> None:
        now = time.time()
        with self._lock:
            for old in [j for j, e in self._seen_jti.items() if e + _LEEWAY < now]:
                del self._seen_jti[old]
            if jti in self._seen_jti:
                raise CdsAuthError("the JWT was already used (jti replay)")
            self._seen_jti[jti] = exp

    def _key(self, iss: str, kid: str | None) -> Any:
        for refresh in (False, True):
            keys = self._keyset(iss, refresh)
            for k in keys.keys:
                if kid is None or k.key_id == kid:
                    return k.key
        raise CdsAuthError("no key in the CDS client's JWKS matches the JWT's kid")

    def _keyset(self, iss: str, refresh: bool) -> jwt.PyJWKSet:
        now = time.monotonic()
        with self._lock:
            cached = self._jwks.get(iss)
        if cached is not None and not refresh and now - cached[0] < _JWKS_TTL:
            return cached[1]
        source = self._clients[iss]
        try:
            if source.startswith(("https://", "http://")):
                response = self._http.get(source, headers={"Accept": "application/json"})
                response.raise_for_status()
                data = response.json()
            else:
                data = json.loads(Path(source).read_text())
            keyset = jwt.PyJWKSet.from_dict(data)
        except (httpx.HTTPError, OSError, ValueError, jwt.PyJWTError):
            raise CdsAuthError("the CDS client's JWKS could not be read") from None
        with self._lock:
            self._jwks[iss] = (now, keyset)
        return keyset
