"""SMART Backend Services: unattended ``client_credentials`` with a ``private_key_jwt`` assertion.

``BackendServicesAuth`` is an ``httpx.Auth``, so it plugs into ``FhirClient(auth=...)``:

    key = load_signing_key(Path("key.pem"))
    auth = BackendServicesAuth("my-client-id", key, fhir_base="https://ehr.example/fhir")
    with FhirClient("https://ehr.example/fhir", auth=auth) as fhir:
        fhir.read("Patient", "123")

Flow (https://hl7.org/fhir/smart-app-launch/backend-services.html): find the token
endpoint (configured, or ``{fhir_base}/.well-known/smart-configuration``), sign a
short-lived JWT (``iss`` = ``sub`` = client id, ``aud`` = token URL, unique ``jti``),
exchange it for an access token, and cache that until shortly before it expires.
A 401 on a cached token means the server dropped it early: fetch one new token
and resend once; a second 401 is returned to the caller (no loop).

The decisions live in one generator (:meth:`BackendServicesAuth._flow`) that the
sync and async httpx drivers share; it yields the discovery and token requests
itself, so they travel over the caller's client and transport.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import uuid
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

import httpx
import jwt
import orjson

from bmefhir.smart.keys import SigningKey, load_signing_key, signing_key
from bmefhir.smart.scopes import READ_TYPES, SHARED_WRITE_TYPES, WRITE_TYPES

__all__ = [
    "ASSERTION_TYPE",
    "DEFAULT_SCOPE",
    "AccessToken",
    "BackendConfig",
    "BackendServicesAuth",
    "SmartAuthError",
    "auth_from_config",
    "backend_auth_from_env",
    "build_assertion",
    "parse_token_response",
]

log = logging.getLogger("bmefhir.smart")

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME: Final = timedelta(minutes=5)  # the spec's ceiling for ``exp``
# Read+search of every input type; create+update of the outputs and the shared authoring Device.
DEFAULT_SCOPE: Final = " ".join(
    [f"system/{t}.rs" for t in READ_TYPES] + [f"system/{t}.cu" for t in (*WRITE_TYPES, *SHARED_WRITE_TYPES)]
)
_MAX_DESCRIPTION: Final = 200
_LOOPBACK_NAMES: Final = {"localhost"}


class SmartAuthError(Exception):
    """The authorization server refused or could not be used. Never carries the assertion, key or token."""


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when to stop using it (already shortened by the refresh margin)."""

    value: str = field(repr=False)
    use_until: datetime
    scope: str | None = None

    def fresh(self, now: datetime) -> bool:
        return now < self.use_until


def build_assertion(
    key: SigningKey,
    *,
    client_id: str,
    token_url: str,
    now: datetime,
    jti: str,
    lifetime: timedelta = timedelta(minutes=4),
    jku: str | None = None,
) -> str:
    """The signed client assertion: header ``alg``/``kid``/``typ`` (+ ``jku``), claims iss, sub, aud, exp, iat, jti."""
    if not timedelta(0) < lifetime <= MAX_ASSERTION_LIFETIME:
        raise ValueError("assertion lifetime must be positive and at most 5 minutes")
    issued = int(now.timestamp())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": issued,
        "exp": issued + int(lifetime.total_seconds()),
        "jti": jti,
    }
    headers: dict[str, Any] = {"kid": key.kid, "typ": "JWT"}
    if jku is not None:
        headers["jku"] = jku
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)


def parse_token_response(status: int, body: bytes, *, token_url: str, now: datetime, margin: timedelta) -> AccessToken:
    """The token from a token-endpoint answer, or a ``SmartAuthError`` naming the OAuth error code."""
    doc = _json_object(body)
    if status != 200:
        code = doc.get("error") if doc else None
        description = doc.get("error_description") if doc else None
        reason = f"{code}" if isinstance(code, str) else f"HTTP {status}"
        if isinstance(description, str) and description:
            reason += f" ({_one_line(description)})"
        hint = {
            "invalid_client": "check the client id, and that the EHR has this key's public JWKS (bmefhir keys jwks)",
            "invalid_scope": "ask the EHR to grant the requested system/ scopes or request fewer",
            "unauthorized_client": "the EHR has not enabled client_credentials for this client",
        }.get(str(code), "see the authorization server's logs")
        raise SmartAuthError(f"token endpoint {token_url} refused the client_credentials grant: {reason}; {hint}")
    if doc is None:
        raise SmartAuthError(f"token endpoint {token_url} answered 200 without a JSON object")
    token, token_type = doc.get("access_token"), doc.get("token_type")
    if not isinstance(token, str) or not token or any(c in token for c in "\r\n "):
        raise SmartAuthError(f"token endpoint {token_url} answered without a usable access_token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise SmartAuthError(f"token endpoint {token_url} issued token_type {token_type!r}; only bearer is supported")
    expires_in = doc.get("expires_in")
    # The spec requires expires_in; without it assume the shortest sensible life rather than forever.
    seconds = expires_in if isinstance(expires_in, int | float) and expires_in > 0 else 60
    life = timedelta(seconds=seconds)
    use_until = now + life - min(margin, life / 2)
    scope = doc.get("scope")
    return AccessToken(token, use_until, scope if isinstance(scope, str) else None)


class BackendServicesAuth(httpx.Auth):
    """``httpx.Auth`` for SMART Backend Services. Give ``token_url``, or ``fhir_base`` to discover it.

    ``now`` and ``new_jti`` are injected for tests. ``refresh_margin`` is how long
    before ``expires_in`` runs out a new token is fetched. Concurrent callers on a
    cold cache may each fetch a token once; that is harmless and needs no lock.
    """

    def __init__(
        self,
        client_id: str,
        key: SigningKey,
        *,
        token_url: str | None = None,
        fhir_base: str | None = None,
        scope: str = DEFAULT_SCOPE,
        jku: str | None = None,
        assertion_lifetime: timedelta = timedelta(minutes=4),
        refresh_margin: timedelta = timedelta(seconds=60),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_jti: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        if not client_id:
            raise ValueError("client_id is required")
        if token_url is None and fhir_base is None:
            raise ValueError("give token_url, or fhir_base to discover it from .well-known/smart-configuration")
        if not timedelta(0) < assertion_lifetime <= MAX_ASSERTION_LIFETIME:
            raise ValueError("assertion_lifetime must be positive and at most 5 minutes")
        self.client_id = client_id
        self.scope = scope
        self.token_requests = 0  # how many times a token was fetched (for tests and metrics)
        self._key = key
        self._token_url = _checked_endpoint(token_url, "token_url") if token_url else None
        self._fhir_base = fhir_base.rstrip("/") if fhir_base else None
        self._jku = jku
        self._lifetime = assertion_lifetime
        self._margin = refresh_margin
        self._now = now
        self._new_jti = new_jti
        self._token: AccessToken | None = None

    def __repr__(self) -> str:
        return f"BackendServicesAuth(client_id={self.client_id!r}, kid={self._key.kid!r}, token=<hidden>)"

    def invalidate(self) -> None:
        """Forget the cached token (the next request fetches a new one)."""
        self._token = None

    # -- httpx drivers: the same decisions, sync and async ----------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._flow(request)
        outgoing = next(flow)
        while True:
            response = yield outgoing
            if outgoing is not request:  # discovery and token answers are read here; FHIR bodies stay streamed
                response.read()
            try:
                outgoing = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._flow(request)
        outgoing = next(flow)
        while True:
            response = yield outgoing
            if outgoing is not request:
                await response.aread()
            try:
                outgoing = flow.send(response)
            except StopIteration:
                return

    def _flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        cached = self._token is not None and self._token.fresh(self._now())
        token = yield from self._current_token()
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code != 401 or not cached:
            return
        # The server dropped a token we still thought valid: one new token, one resend.
        log.info("FHIR server rejected the cached SMART token; re-authenticating once")
        if self._token is token:
            self._token = None
        token = yield from self._current_token()
        request.headers["Authorization"] = f"Bearer {token.value}"
        yield request

    def _current_token(self) -> Generator[httpx.Request, httpx.Response, AccessToken]:
        token = self._token
        if token is not None and token.fresh(self._now()):
            return token
        token_url = self._token_url
        if token_url is None:
            token_url = yield from self._discover()
            self._token_url = token_url
        now = self._now()
        assertion = build_assertion(
            self._key,
            client_id=self.client_id,
            token_url=token_url,
            now=now,
            jti=self._new_jti(),
            lifetime=self._lifetime,
            jku=self._jku,
        )
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        self.token_requests += 1
        response = yield httpx.Request("POST", token_url, data=form, headers={"Accept": "application/json"})
        token = parse_token_response(
            response.status_code, response.content, token_url=token_url, now=now, margin=self._margin
        )
        self._token = token
        log.info("obtained a SMART backend access token (usable until %s)", token.use_until.isoformat())
        return token

    def _discover(self) -> Generator[httpx.Request, httpx.Response, str]:
        url = f"{self._fhir_base}/.well-known/smart-configuration"
        response = yield httpx.Request("GET", url, headers={"Accept": "application/json"})
        doc = _json_object(response.content) if response.status_code == 200 else None
        if doc is None:
            raise SmartAuthError(
                f"no SMART configuration at {url} (HTTP {response.status_code}); configure the token URL explicitly"
            )
        endpoint = doc.get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise SmartAuthError(f"the SMART configuration at {url} names no token_endpoint")
        methods = doc.get("token_endpoint_auth_methods_supported")
        if isinstance(methods, list) and "private_key_jwt" not in methods:
            raise SmartAuthError(f"the server at {url} does not support private_key_jwt client authentication")
        algs = doc.get("token_endpoint_auth_signing_alg_values_supported")
        if isinstance(algs, list) and self._key.alg not in algs:
            raise SmartAuthError(
                f"the server at {url} does not accept {self._key.alg} assertions (it lists {', '.join(map(str, algs))})"
            )
        return _checked_endpoint(endpoint, "token_endpoint", error=SmartAuthError)


def backend_auth_from_env(
    fhir_base: str, environ: Mapping[str, str] | None = None, *, key_file: Path | None = None
) -> BackendServicesAuth | None:
    """Backend Services auth configured by the environment, or None when ``BMEFHIR_CLIENT_ID`` is unset.

    ``BMEFHIR_CLIENT_ID``; the key from ``key_file``, ``BMEFHIR_PRIVATE_KEY_FILE`` or
    ``BMEFHIR_PRIVATE_KEY`` (PEM); optional ``BMEFHIR_TOKEN_URL`` (else discovered),
    ``BMEFHIR_SCOPE`` and ``BMEFHIR_JKU``.
    """
    env = os.environ if environ is None else environ
    client_id = env.get("BMEFHIR_CLIENT_ID")
    if not client_id:
        return None
    path = key_file or (Path(env["BMEFHIR_PRIVATE_KEY_FILE"]) if env.get("BMEFHIR_PRIVATE_KEY_FILE") else None)
    return BackendServicesAuth(
        client_id,
        load_signing_key(path, environ=env),
        token_url=env.get("BMEFHIR_TOKEN_URL") or None,
        fhir_base=fhir_base,
        scope=env.get("BMEFHIR_SCOPE") or DEFAULT_SCOPE,
        jku=env.get("BMEFHIR_JKU") or None,
    )


class BackendConfig(Protocol):
    """The settings ``auth_from_config`` reads (``bmefhir.sync.spec.AuthConfig`` has them): names, never secrets."""

    @property
    def client_id(self) -> str | None: ...
    @property
    def token_url(self) -> str | None: ...
    @property
    def scope(self) -> str | None: ...
    @property
    def alg(self) -> str | None: ...
    @property
    def kid(self) -> str | None: ...
    @property
    def key_file(self) -> str | None: ...
    @property
    def key_env(self) -> str | None: ...


def auth_from_config(config: BackendConfig, *, environ: Mapping[str, str] | None = None) -> BackendServicesAuth:
    """Backend Services auth from a job's settings: the key from ``key_file`` or the variable ``key_env``.

    A given ``alg`` must match the key; a given ``kid`` replaces the thumbprint (it is what the EHR registered).
    """
    if not config.client_id or not config.token_url:
        raise SmartAuthError("SMART backend auth needs a client id and a token URL")
    path = Path(config.key_file) if config.key_file else None
    key = load_signing_key(path, environ=environ, env_var=config.key_env or "BMEFHIR_PRIVATE_KEY")
    if config.alg and config.alg != key.alg:
        raise SmartAuthError(f"the configured algorithm {config.alg} does not match the key, which signs {key.alg}")
    if config.kid:
        key = signing_key(key.private_key, config.kid)
    return BackendServicesAuth(config.client_id, key, token_url=config.token_url, scope=config.scope or DEFAULT_SCOPE)


# ---------------------------------------------------------------- internals


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_DESCRIPTION else flat[: _MAX_DESCRIPTION - 1] + "…"


def _checked_endpoint(url: str, name: str, *, error: type[Exception] = ValueError) -> str:
    """Only https, except on loopback: the assertion is a credential and must not cross a network in clear."""
    parsed = httpx.URL(url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and _is_loopback(parsed.host)):
        return str(parsed)
    raise error(f"{name} must be an https URL (plain http only on loopback): {parsed.scheme}://{parsed.host}")


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
