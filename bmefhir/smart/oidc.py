"""OpenID Connect for the SMART launch: the id_token verified, not just read (OIDC Core §3.1.3.7).

    provider = discover_provider(http, config.issuer)   # {issuer}/.well-known/openid-configuration
    claims = verify_id_token(id_token, provider, keys, client_id=..., nonce=pending.nonce)

The signature is checked against the issuer's JWKS (``jwks_uri`` from its discovery document,
fetched and cached by PyJWT's ``PyJWKClient``, fetched again for an unknown ``kid``); ``iss`` must be
the discovered issuer, ``aud`` must hold this client (``azp`` too when there are several
audiences), ``exp``/``iat`` current (60 s leeway), and ``nonce`` the one sent with the authorize
request. Every refusal is an :class:`IdTokenError` saying which check failed, never the token.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from typing import Any, Final

import httpx
import jwt
import orjson

__all__ = ["ID_TOKEN_ALGORITHMS", "IdTokenError", "JwksCache", "OidcProvider", "discover_provider", "verify_id_token"]

ID_TOKEN_ALGORITHMS: Final = ("RS256", "RS384", "ES256", "ES384", "PS256")  # asymmetric only: no HS*, no "none"
OIDC_WELL_KNOWN: Final = ".well-known/openid-configuration"
LEEWAY_SECONDS: Final = 60
_JWKS_LIFESPAN: Final = 300.0
_JWKS_TIMEOUT: Final = 10.0


class IdTokenError(Exception):
    """The id_token (or the issuer's discovery) failed a check; the message names the check."""


@dataclass(frozen=True, slots=True)
class OidcProvider:
    issuer: str
    jwks_uri: str


def discover_provider(http: httpx.Client, issuer: str | None) -> OidcProvider:
    """The issuer's OpenID discovery document: its ``jwks_uri``, after checking it names the same issuer."""
    if not issuer:
        raise IdTokenError("the EHR's SMART configuration names no OpenID issuer, so its id_token cannot be verified")
    url = issuer.rstrip("/") + "/" + OIDC_WELL_KNOWN
    try:
        response = http.get(url, headers={"Accept": "application/json"})
        doc = orjson.loads(response.content) if response.status_code == 200 else None
    except (httpx.HTTPError, orjson.JSONDecodeError):
        doc = None
    if not isinstance(doc, dict):
        raise IdTokenError("the EHR's OpenID discovery document could not be read")
    if doc.get("issuer") != issuer:
        raise IdTokenError("the EHR's OpenID discovery document names another issuer")
    jwks_uri = doc.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not _safe_url(jwks_uri):
        raise IdTokenError("the EHR's OpenID discovery document has no usable jwks_uri (https, or http on loopback)")
    return OidcProvider(issuer, jwks_uri)


class JwksCache:
    """One ``PyJWKClient`` per JWKS URL, shared by the app's requests (thread-safe)."""

    def __init__(self) -> None:
        self._clients: dict[str, jwt.PyJWKClient] = {}
        self._lock = threading.Lock()

    def signing_key(self, jwks_uri: str, token: str) -> Any:
        with self._lock:
            client = self._clients.get(jwks_uri)
            if client is None:
                client = jwt.PyJWKClient(jwks_uri, lifespan=_JWKS_LIFESPAN, timeout=_JWKS_TIMEOUT)
                self._clients[jwks_uri] = client
        try:
            return client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise IdTokenError("the EHR's JWKS could not be fetched") from None
        except jwt.PyJWKClientError:
            raise IdTokenError("no key in the EHR's JWKS matches the id_token's kid") from None
        except jwt.PyJWTError:
            raise IdTokenError("the id_token is not a readable JWT") from None


def verify_id_token(
    token: str, provider: OidcProvider, keys: JwksCache, *, client_id: str, nonce: str | None
) -> dict[str, Any]:
    """The id_token's verified claims. ``nonce=None`` (a refresh): a nonce is not required."""
    try:
        alg = jwt.get_unverified_header(token).get("alg")
    except jwt.PyJWTError:
        raise IdTokenError("the id_token is not a readable JWT") from None
    if alg not in ID_TOKEN_ALGORITHMS:
        raise IdTokenError(f"the id_token's algorithm {str(alg)[:20]!r} is not accepted (asymmetric signatures only)")
    key = keys.signing_key(provider.jwks_uri, token)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[str(alg)],
            audience=client_id,
            issuer=provider.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.InvalidSignatureError:
        raise IdTokenError("the id_token's signature does not verify with the EHR's keys") from None
    except jwt.ExpiredSignatureError:
        raise IdTokenError("the id_token has expired") from None
    except jwt.InvalidAudienceError:
        raise IdTokenError("the id_token was issued to another client") from None
    except jwt.InvalidIssuerError:
        raise IdTokenError("the id_token was issued by another issuer") from None
    except jwt.MissingRequiredClaimError as exc:
        raise IdTokenError(f"the id_token lacks the {exc.claim!r} claim") from None
    except jwt.PyJWTError:
        raise IdTokenError("the id_token's claims did not verify") from None
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise IdTokenError("the id_token has several audiences and its azp is not this client")
    if nonce is not None:
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise IdTokenError("the id_token's nonce is not the one this launch sent")
    return claims


def _safe_url(url: str) -> bool:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.scheme == "https" or (parsed.scheme == "http" and parsed.host in ("127.0.0.1", "localhost", "::1"))
