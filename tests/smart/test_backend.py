"""SMART Backend Services against a real loopback authorization server and FHIR endpoint.

``AuthServer`` is a small, strict http.server in a thread: it serves
``/.well-known/smart-configuration``, a token endpoint that verifies the
client assertion (signature against the registered JWKS, header, claims, replayed
``jti``) and a FHIR ``Patient`` read that accepts only the tokens it issued.
The real ``FhirClient`` talks to it with ``BackendServicesAuth`` over TCP.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest

from bmefhir.fhir import FhirAuthError, FhirClient, RetryPolicy
from bmefhir.smart.backend import (
    ASSERTION_TYPE,
    BackendServicesAuth,
    SmartAuthError,
    auth_from_config,
    backend_auth_from_env,
)
from bmefhir.smart.keys import SigningKey, generate_key, private_key_pem, signing_key

CLIENT_ID = "bmefhir-sync"
SCOPE = "system/Patient.rs system/DiagnosticReport.cu"


class Clock:
    """Shared by client and server: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class AuthServer:
    clock: Clock
    jwks: dict[str, Any]
    expires_in: int = 300
    algs: tuple[str, ...] = ("RS384", "ES384")
    token_calls: int = 0
    fhir_calls: int = 0
    discovery_calls: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    seen_jti: set[str] = field(default_factory=set)
    assertions: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    forms: list[dict[str, str]] = field(default_factory=list)
    base: str = ""

    @property
    def token_url(self) -> str:
        return f"{self.base}/auth/token"

    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"

    def revoke_all(self) -> None:
        """The server drops every token early (e.g. a restart), while the client still thinks they are valid."""
        self.valid_tokens.clear()

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_calls += 1
        self.forms.append(form)
        if form.get("grant_type") != "client_credentials" or form.get("client_assertion_type") != ASSERTION_TYPE:
            return 400, {"error": "invalid_request"}
        assertion = form.get("client_assertion", "")
        header = jwt.get_unverified_header(assertion)
        keys = {k["kid"]: k for k in self.jwks["keys"]}
        if header.get("typ") != "JWT" or header.get("alg") not in self.algs or header.get("kid") not in keys:
            return 401, {"error": "invalid_client", "error_description": "unknown kid or bad header"}
        public = jwt.PyJWK(keys[header["kid"]]).key
        try:
            claims = jwt.decode(
                assertion,
                public,
                algorithms=list(self.algs),
                audience=self.token_url,
                options={"verify_exp": False, "verify_iat": False},  # checked below against the shared clock
            )
        except jwt.InvalidTokenError as exc:
            return 401, {"error": "invalid_client", "error_description": f"assertion rejected: {type(exc).__name__}"}
        now = self.clock().timestamp()
        if not (claims["iss"] == claims["sub"] == CLIENT_ID):
            return 401, {"error": "invalid_client", "error_description": "iss/sub"}
        if not (now < claims["exp"] <= now + 300) or claims["jti"] in self.seen_jti:
            return 401, {"error": "invalid_client", "error_description": "expired or replayed assertion"}
        self.seen_jti.add(claims["jti"])
        self.assertions.append((header, claims))
        token = f"tok-{self.token_calls}"
        self.valid_tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in, "scope": SCOPE}


def _handler(server: AuthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/fhir/.well-known/smart-configuration":
                server.discovery_calls += 1
                self._send(
                    200,
                    {
                        "token_endpoint": server.token_url,
                        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                        "token_endpoint_auth_signing_alg_values_supported": list(server.algs),
                        "grant_types_supported": ["client_credentials"],
                    },
                )
            elif self.path.startswith("/fhir/Patient/"):
                server.fhir_calls += 1
                auth = self.headers.get("Authorization", "")
                if auth.removeprefix("Bearer ") not in server.valid_tokens:
                    self._send(
                        401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}
                    )
                else:
                    self._send(200, {"resourceType": "Patient", "id": self.path.rsplit("/", 1)[1]})
            else:
                self._send(404, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if self.path == "/auth/token" and self.headers.get("Content-Type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                self._send(*server.issue(form))
            else:
                self._send(404, {})

    return Handler


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _start(state: AuthServer) -> Iterator[AuthServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="module", params=["ES384", "RS384"])
def key(request: pytest.FixtureRequest) -> SigningKey:
    return signing_key(generate_key(request.param))  # RSA 3072 takes a while: one per module


@pytest.fixture
def server(clock: Clock, key: SigningKey) -> Iterator[AuthServer]:
    yield from _start(AuthServer(clock=clock, jwks=key.jwks()))


def _auth(server: AuthServer, key: SigningKey, clock: Clock, **kwargs: Any) -> BackendServicesAuth:
    kwargs.setdefault("token_url", server.token_url)
    return BackendServicesAuth(CLIENT_ID, key, scope=SCOPE, now=clock, **kwargs)


def _client(server: AuthServer, auth: BackendServicesAuth) -> FhirClient:
    return FhirClient(server.fhir_base, auth=auth, retry=RetryPolicy(max_attempts=1))


def test_assertion_header_and_claims_are_what_the_spec_asks(server: AuthServer, key: SigningKey, clock: Clock) -> None:
    auth = _auth(server, key, clock, jku="https://bmefhir.example/jwks.json")
    with _client(server, auth) as fhir:
        assert fhir.read("Patient", "p1")["id"] == "p1"
    assert server.token_calls == 1
    header, claims = server.assertions[0]
    assert header == {"alg": key.alg, "kid": key.kid, "typ": "JWT", "jku": "https://bmefhir.example/jwks.json"}
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == server.token_url
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert abs(claims["iat"] - clock().timestamp()) < 5
    assert server.forms[0]["scope"] == SCOPE
    assert server.forms[0]["grant_type"] == "client_credentials"


def test_token_is_cached_until_shortly_before_expiry(server: AuthServer, key: SigningKey, clock: Clock) -> None:
    auth = _auth(server, key, clock, refresh_margin=timedelta(seconds=30))
    with _client(server, auth) as fhir:
        fhir.read("Patient", "p1")
        fhir.read("Patient", "p2")
        assert server.token_calls == 1  # the second request reused the token
        clock.offset = timedelta(seconds=server.expires_in - 31)
        fhir.read("Patient", "p3")
        assert server.token_calls == 1  # still outside the refresh margin
        clock.offset = timedelta(seconds=server.expires_in - 29)
        fhir.read("Patient", "p4")
        assert server.token_calls == 2  # inside the margin: renewed before the server would refuse it
    assert server.fhir_calls == 4  # and no request was ever refused
    jtis = [claims["jti"] for _, claims in server.assertions]
    assert len(set(jtis)) == len(jtis)


def test_token_dropped_by_the_server_means_exactly_one_reauthentication(
    server: AuthServer, key: SigningKey, clock: Clock
) -> None:
    auth = _auth(server, key, clock)
    with _client(server, auth) as fhir:
        fhir.read("Patient", "p1")
        server.revoke_all()
        assert fhir.read("Patient", "p2")["id"] == "p2"
    assert server.token_calls == 2
    assert server.fhir_calls == 3  # p1, p2 refused (401), p2 resent with the new token


def test_a_second_401_goes_to_the_caller_not_into_a_loop(server: AuthServer, key: SigningKey, clock: Clock) -> None:
    auth = _auth(server, key, clock)
    with _client(server, auth) as fhir:
        fhir.read("Patient", "p1")
        server.valid_tokens = _NeverValid()  # the FHIR server refuses every token from now on
        with pytest.raises(FhirAuthError):
            fhir.read("Patient", "p2")
    assert server.token_calls == 2  # one re-authentication, then the 401 is the caller's
    assert server.fhir_calls == 3


def test_a_401_on_a_token_just_issued_is_not_retried(server: AuthServer, key: SigningKey, clock: Clock) -> None:
    server.valid_tokens = _NeverValid()
    with _client(server, _auth(server, key, clock)) as fhir, pytest.raises(FhirAuthError):
        fhir.read("Patient", "p1")
    assert (server.token_calls, server.fhir_calls) == (1, 1)


class _NeverValid(set[str]):
    def add(self, element: str) -> None:
        pass


def test_async_clients_share_the_same_flow(server: AuthServer, key: SigningKey, clock: Clock) -> None:
    auth = _auth(server, key, clock)

    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=auth) as http:
            first = await http.get(f"{server.fhir_base}/Patient/p1")
            server.revoke_all()
            second = await http.get(f"{server.fhir_base}/Patient/p2")
            return [first.status_code, second.status_code]

    # A fresh loop in its own thread: earlier tests (Playwright's sync API) may leave one running here.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, main()).result(timeout=60) == [200, 200]
    assert server.token_calls == 2  # the revoked token cost exactly one re-authentication


def test_token_endpoint_is_discovered_from_smart_configuration(
    server: AuthServer, key: SigningKey, clock: Clock
) -> None:
    auth = _auth(server, key, clock, token_url=None, fhir_base=server.fhir_base)
    with _client(server, auth) as fhir:
        fhir.read("Patient", "p1")
        fhir.read("Patient", "p2")
    assert server.discovery_calls == 1
    assert server.assertions[0][1]["aud"] == server.token_url


def test_wrong_key_is_a_clear_error_without_the_assertion(server: AuthServer, key: SigningKey, clock: Clock) -> None:
    impostor = signing_key(generate_key(key.alg), kid=key.kid)  # right kid, wrong private key
    auth = _auth(server, impostor, clock)
    with _client(server, auth) as fhir, pytest.raises(SmartAuthError) as caught:
        fhir.read("Patient", "p1")
    message = str(caught.value)
    assert "invalid_client" in message
    assert server.token_url in message
    assert "bmefhir keys jwks" in message
    assert server.forms[0]["client_assertion"] not in message
    assert server.fhir_calls == 0  # nothing was sent to the FHIR server without a token


def test_discovery_rejects_a_server_without_our_algorithm(clock: Clock) -> None:
    key = signing_key(generate_key("ES384"))
    for state in _start(AuthServer(clock=clock, jwks=key.jwks(), algs=("RS384",))):
        auth = _auth(state, key, clock, token_url=None, fhir_base=state.fhir_base)
        with _client(state, auth) as fhir, pytest.raises(SmartAuthError, match="does not accept ES384"):
            fhir.read("Patient", "p1")
        assert state.token_calls == 0


def test_no_smart_configuration_is_a_clear_error(server: AuthServer, key: SigningKey, clock: Clock) -> None:
    auth = _auth(server, key, clock, token_url=None, fhir_base=f"{server.base}/elsewhere")
    with _client(server, auth) as fhir, pytest.raises(SmartAuthError, match="no SMART configuration"):
        fhir.read("Patient", "p1")


def test_plain_http_token_url_is_refused_off_loopback(key: SigningKey) -> None:
    with pytest.raises(ValueError, match="https"):
        BackendServicesAuth(CLIENT_ID, key, token_url="http://ehr.example/token")


def test_repr_never_shows_the_token(server: AuthServer, key: SigningKey, clock: Clock) -> None:
    auth = _auth(server, key, clock)
    with _client(server, auth) as fhir:
        fhir.read("Patient", "p1")
    assert "tok-" not in repr(auth)
    assert "BEGIN" not in repr(key)


@dataclass(frozen=True)
class _Config:
    client_id: str | None = CLIENT_ID
    token_url: str | None = None
    scope: str | None = SCOPE
    alg: str | None = None
    kid: str | None = None
    key_file: str | None = None
    key_env: str | None = "SYNC_KEY"


def test_auth_from_config_reads_the_key_from_a_named_variable(
    server: AuthServer, key: SigningKey, clock: Clock
) -> None:
    env = {"SYNC_KEY": private_key_pem(key.private_key).decode()}
    auth = auth_from_config(_Config(token_url=server.token_url, alg=key.alg, kid=key.kid), environ=env)
    with _client(server, auth) as fhir:
        assert fhir.read("Patient", "p1")["id"] == "p1"
    assert server.assertions[0][0]["kid"] == key.kid


def test_auth_from_config_refuses_a_mismatched_algorithm(key: SigningKey) -> None:
    env = {"SYNC_KEY": private_key_pem(key.private_key).decode()}
    other = "RS384" if key.alg == "ES384" else "ES384"
    with pytest.raises(SmartAuthError, match=f"configured algorithm {other}"):
        auth_from_config(_Config(token_url="https://ehr.example/token", alg=other), environ=env)


def test_backend_auth_from_env(server: AuthServer, key: SigningKey, clock: Clock) -> None:
    assert backend_auth_from_env(server.fhir_base, {}) is None  # no client id: not configured
    env = {
        "BMEFHIR_CLIENT_ID": CLIENT_ID,
        "BMEFHIR_PRIVATE_KEY": private_key_pem(key.private_key).decode(),
        "BMEFHIR_SCOPE": SCOPE,
    }
    auth = backend_auth_from_env(server.fhir_base, env)  # token endpoint discovered
    assert auth is not None
    with _client(server, auth) as fhir:
        assert fhir.read("Patient", "p1")["id"] == "p1"
    assert server.discovery_calls == 1
    assert server.forms[0]["scope"] == SCOPE
