"""SMART App Launch 2.x as the app: discovery, PKCE, the authorize redirect, code exchange, refresh.

    config = discover(http, iss)                           # {iss}/.well-known/smart-configuration
    pending, url = begin_launch(config, iss=iss, launch=launch, client=client,
                                redirect_uri=redirect_uri, scope=scope, now=now)
    ... the browser goes to ``url``; the EHR redirects back with ?code&state ...
    tokens = exchange_code(http, pending, code, client, now=now, keys=jwks)
    tokens = refresh(http, tokens, client, now=now, keys=jwks)   # when tokens.expired(now)

Every launch gets a fresh PKCE verifier (S256) and ``state``; the caller binds
``PendingLaunch`` to the browser session and consumes it once. ``aud`` is the
FHIR base (``iss``), so a token cannot be replayed against another server.
With ``openid`` a ``nonce`` is sent too, and the id_token is verified (signature against the
issuer's JWKS, iss, aud, exp, nonce: ``bmefhir.smart.oidc``); an unverifiable one refuses the
launch. The identity verified at launch is the session's for good: a refresh keeps it whatever
the refresh response carries (no id_token, one without ``aud``, a re-issued one), and a failed
refresh is a 401 asking to launch again, never a 5xx.
Tokens never appear in reprs, errors or logs. The ``iss`` allow-list is the
caller's job and must be checked before ``discover`` sends anything.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import quote_plus

import httpx
import orjson
from pydantic import SecretStr

from bmefhir.smart.backend import ASSERTION_TYPE, build_assertion
from bmefhir.smart.keys import SigningKey
from bmefhir.smart.oidc import IdTokenError, JwksCache, OidcProvider, discover_provider, verify_id_token
from bmefhir.smart.scopes import ScopeGrant, parse_scopes

__all__ = [
    "ClientCredentials",
    "LaunchError",
    "PendingLaunch",
    "SmartConfiguration",
    "TokenSet",
    "begin_launch",
    "discover",
    "exchange_code",
    "pkce_challenge",
    "refresh",
]

log = logging.getLogger("bmefhir.smart")

WELL_KNOWN: Final = ".well-known/smart-configuration"
REFRESH_MARGIN: Final = timedelta(seconds=30)
_MAX_TEXT: Final = 200
_USER_TYPES: Final = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Person")


class LaunchError(Exception):
    """The launch cannot go on. ``status`` is the HTTP status the app should answer with.

    The message is safe to show and log: it never holds a token, code, verifier or patient data.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class SmartConfiguration:
    authorization_endpoint: str
    token_endpoint: str
    capabilities: frozenset[str] = frozenset()
    code_challenge_methods: frozenset[str] = frozenset()
    token_endpoint_auth_methods: frozenset[str] = frozenset()
    issuer: str | None = None  # the OpenID issuer (SMART 2.0 ``issuer``), for id_token verification


@dataclass(frozen=True)
class ClientCredentials:
    """How the app authenticates at the token endpoint: public (id only), secret, or private_key_jwt."""

    client_id: str
    secret: SecretStr | None = None
    key: SigningKey | None = None

    @property
    def kind(self) -> Literal["public", "client_secret_basic", "private_key_jwt"]:
        if self.key is not None:
            return "private_key_jwt"
        return "client_secret_basic" if self.secret is not None else "public"

    def apply(self, form: dict[str, str], headers: dict[str, str], token_url: str, now: datetime) -> None:
        if self.key is not None:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = build_assertion(
                self.key, client_id=self.client_id, token_url=token_url, now=now, jti=str(uuid.uuid4())
            )
        elif self.secret is not None:
            raw = f"{_form_quote(self.client_id)}:{_form_quote(self.secret.get_secret_value())}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode("ascii")
        else:
            form["client_id"] = self.client_id


@dataclass(frozen=True)
class PendingLaunch:
    """One authorize redirect in flight; lives in the server-side session until the callback."""

    state: str
    iss: str
    config: SmartConfiguration
    verifier: str = field(repr=False)
    redirect_uri: str
    scope: str
    started: datetime
    nonce: str = field(default="", repr=False)  # sent with openid; the id_token must echo it


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint granted, with the SMART launch context. Kept server-side only."""

    iss: str
    token_endpoint: str
    access_token: str = field(repr=False)
    use_until: datetime
    grant: ScopeGrant
    refresh_token: str | None = field(default=None, repr=False)
    patient: str | None = None
    fhir_user: str | None = None  # "Practitioner/123", relative to iss when it can be
    user_display: str | None = None
    need_patient_banner: bool = True
    subject: str | None = None  # the verified id_token's iss and sub: who signed in at launch
    oidc_issuer: str | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.use_until


def pkce_challenge(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def discover(http: httpx.Client, iss: str) -> SmartConfiguration:
    """Read ``{iss}/.well-known/smart-configuration`` (call only for an allow-listed ``iss``)."""
    url = iss.rstrip("/") + "/" + WELL_KNOWN
    try:
        response = http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError:
        raise LaunchError("the EHR's SMART configuration could not be fetched; try again", status=502) from None
    doc = _json_object(response.content)
    if response.status_code != 200 or doc is None:
        raise LaunchError(
            f"the EHR's SMART configuration answered HTTP {response.status_code} without a usable document",
            status=502,
        )
    auth_url, token_url = doc.get("authorization_endpoint"), doc.get("token_endpoint")
    if not isinstance(auth_url, str) or not isinstance(token_url, str):
        raise LaunchError("the EHR's SMART configuration names no authorization or token endpoint", status=502)
    methods = _strings(doc.get("code_challenge_methods_supported"))
    if methods and "S256" not in methods:
        raise LaunchError("the EHR does not support PKCE S256, which this app requires", status=502)
    return SmartConfiguration(
        authorization_endpoint=_secure_endpoint(auth_url, "authorization_endpoint"),
        token_endpoint=_secure_endpoint(token_url, "token_endpoint"),
        capabilities=_strings(doc.get("capabilities")),
        code_challenge_methods=methods,
        token_endpoint_auth_methods=_strings(doc.get("token_endpoint_auth_methods_supported")),
        issuer=doc.get("issuer") if isinstance(doc.get("issuer"), str) else None,
    )


def begin_launch(
    config: SmartConfiguration,
    *,
    iss: str,
    launch: str | None,
    client: ClientCredentials,
    redirect_uri: str,
    scope: str,
    now: datetime,
) -> tuple[PendingLaunch, str]:
    """A fresh ``state`` and PKCE verifier, and the authorize URL to send the browser to."""
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters of the RFC 7636 alphabet
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "aud": iss,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if launch is not None:
        params["launch"] = launch
    if "openid" in scope.split():
        params["nonce"] = nonce
    url = httpx.URL(config.authorization_endpoint).copy_merge_params(params)
    return PendingLaunch(state, iss, config, verifier, redirect_uri, scope, now, nonce), str(url)


def exchange_code(
    http: httpx.Client,
    pending: PendingLaunch,
    code: str,
    client: ClientCredentials,
    *,
    now: datetime,
    keys: JwksCache,
) -> TokenSet:
    """The code for tokens; an id_token in the answer must verify, or the launch is refused (401)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": pending.redirect_uri,
        "code_verifier": pending.verifier,
    }
    doc = _token_request(http, pending.config.token_endpoint, form, client, now)
    id_token = doc.get("id_token")
    claims: dict[str, Any] = {}
    if id_token is not None:
        try:
            if not isinstance(id_token, str):
                raise IdTokenError("the id_token is not a JWT")
            provider = discover_provider(http, pending.config.issuer)
            claims = verify_id_token(id_token, provider, keys, client_id=client.client_id, nonce=pending.nonce)
        except IdTokenError as exc:
            raise LaunchError(f"the sign-in was refused: {exc}", status=401) from None
    return _token_set(doc, pending.iss, pending.config.token_endpoint, now, claims=claims, previous=None)


def refresh(
    http: httpx.Client, tokens: TokenSet, client: ClientCredentials, *, now: datetime, keys: JwksCache
) -> TokenSet:
    """New tokens from the refresh token; the launch context and the user verified at launch carry over.

    Any failure (no refresh token, a refusal, an unreachable or odd token endpoint) is a
    ``LaunchError`` with status 401: the user launches again. An id_token in the answer is
    checked against the launch identity and otherwise ignored; it never sinks the refresh.
    """
    if tokens.refresh_token is None:
        raise LaunchError("the session expired and the EHR gave no refresh token; launch the app again", status=401)
    form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
    try:
        doc = _token_request(http, tokens.token_endpoint, form, client, now)
        fresh = _token_set(doc, tokens.iss, tokens.token_endpoint, now, claims={}, previous=tokens)
    except LaunchError as exc:
        raise LaunchError(f"the EHR did not renew the session ({exc}); launch the app again", status=401) from None
    _check_refreshed_identity(http, doc.get("id_token"), tokens, client.client_id, keys)
    return fresh


def _check_refreshed_identity(
    http: httpx.Client, id_token: object, tokens: TokenSet, client_id: str, keys: JwksCache
) -> None:
    """OIDC Core §12.2: a refreshed id_token names the same iss, sub and aud. EHRs vary (no id_token,
    no ``aud``, another signature), so a token that does not verify is logged and ignored: the
    identity verified at launch stays the session's."""
    if not isinstance(id_token, str) or tokens.oidc_issuer is None:
        return
    try:
        provider = OidcProvider(tokens.oidc_issuer, discover_provider(http, tokens.oidc_issuer).jwks_uri)
        claims = verify_id_token(id_token, provider, keys, client_id=client_id, nonce=None)
    except IdTokenError as exc:
        log.info("refreshed id_token not used (%s); the launch identity is kept", exc)
        return
    if claims.get("sub") != tokens.subject:
        log.warning("refreshed id_token names another subject; ignored, the launch identity is kept")


# ---------------------------------------------------------------- internals


def _token_request(
    http: httpx.Client, token_url: str, form: dict[str, str], client: ClientCredentials, now: datetime
) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    client.apply(form, headers, token_url, now)
    try:
        response = http.post(token_url, data=form, headers=headers)
    except httpx.HTTPError:
        raise LaunchError("the EHR's token endpoint could not be reached; try again", status=502) from None
    doc = _json_object(response.content)
    if response.status_code != 200 or doc is None:
        code = doc.get("error") if doc else None
        reason = code if isinstance(code, str) else f"HTTP {response.status_code}"
        status = 401 if reason in ("invalid_grant", "invalid_client", "unauthorized_client") else 502
        raise LaunchError(f"the EHR's token endpoint refused the request: {_one_line(reason)}", status=status)
    return doc


def _token_set(
    doc: dict[str, Any],
    iss: str,
    token_url: str,
    now: datetime,
    *,
    claims: dict[str, Any],
    previous: TokenSet | None,
) -> TokenSet:
    """The token response as a TokenSet. ``claims`` are the verified id_token's (launch only); on a
    refresh (``previous``) the launch patient and identity carry over unchanged."""
    token, token_type = doc.get("access_token"), doc.get("token_type")
    if not isinstance(token, str) or not token or not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise LaunchError("the EHR's token endpoint answered without a usable bearer token", status=502)
    expires_in = doc.get("expires_in")
    seconds = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 60.0
    life = timedelta(seconds=seconds)
    scope = doc.get("scope")
    grant = parse_scopes(scope) if isinstance(scope, str) else (previous.grant if previous else parse_scopes(None))
    refresh_token = doc.get("refresh_token")
    refresh_token = refresh_token if isinstance(refresh_token, str) and refresh_token else None
    if previous is not None:
        return replace(
            previous,
            access_token=token,
            use_until=now + life - min(REFRESH_MARGIN, life / 2),
            grant=grant,
            refresh_token=refresh_token or previous.refresh_token,
        )
    user = claims.get("fhirUser") or claims.get("profile")
    patient = doc.get("patient")
    return TokenSet(
        iss=iss,
        token_endpoint=token_url,
        access_token=token,
        use_until=now + life - min(REFRESH_MARGIN, life / 2),
        grant=grant,
        refresh_token=refresh_token,
        patient=patient if isinstance(patient, str) and patient else None,
        fhir_user=_relative_ref(user, iss) if isinstance(user, str) else None,
        user_display=_display(claims),
        need_patient_banner=doc.get("need_patient_banner") is not False,
        subject=claims.get("sub") if isinstance(claims.get("sub"), str) else None,
        oidc_issuer=claims.get("iss") if isinstance(claims.get("iss"), str) else None,
    )


def _display(claims: dict[str, Any]) -> str | None:
    for key in ("name", "preferred_username"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:_MAX_TEXT]
    return None


def _relative_ref(user: str, iss: str) -> str | None:
    """``Practitioner/123`` from a fhirUser on this server (absolute URLs elsewhere kept as they are)."""
    base = iss.rstrip("/") + "/"
    ref = user.removeprefix(base)
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] in _USER_TYPES and parts[-1]:
        return ref
    return None


def _secure_endpoint(url: str, name: str) -> str:
    parsed = httpx.URL(url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and _is_loopback(parsed.host)):
        return str(parsed)
    raise LaunchError(f"the EHR's {name} must be https (plain http only on loopback)", status=502)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _strings(value: object) -> frozenset[str]:
    return frozenset(v for v in value if isinstance(v, str)) if isinstance(value, list) else frozenset()


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _form_quote(text: str) -> str:
    # RFC 6749 §2.3.1: client_secret_basic form-encodes id and secret before base64.
    return quote_plus(text)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_TEXT else flat[: _MAX_TEXT - 1] + "…"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
