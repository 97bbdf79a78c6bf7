"""OpenID Connect verified at launch, and refresh through every token-response shape the SMART and
OIDC specs allow (issue 12, items 1 and 3), against the project's test EHR with its quirks.

Time moves by overriding the app's clock: the app sees its access token expired and refreshes;
no test waits for a real token to expire.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from bmefhir.smart.launch import TokenSet
from bmefhir.smart.oidc import IdTokenError, JwksCache, OidcProvider, verify_id_token
from bmefhir.web.deps import get_clock

from .client import TestClient, authorize, callback_path, launch, make_client, settings_for
from .harness import MockEhr

SEED = "seed-000-transient-osteoporosis-hip"


def _tokens(client: TestClient) -> TokenSet:
    store = client.app.state.sessions  # type: ignore[attr-defined]
    (session,) = [s for s in store._sessions.values() if s.tokens is not None]
    return session.tokens


def _later(client: TestClient, hours: float) -> None:
    at = datetime.now(UTC) + timedelta(hours=hours)
    client.app.dependency_overrides[get_clock] = lambda: at  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("id_token", "rotate"),
    [
        ("reissue", True),
        ("reissue", False),
        ("absent", True),
        ("absent", False),
        ("noaud", True),  # smart-launcher-v2
        ("otherClient", False),
        ("badsig", True),
        ("otherSub", True),
    ],
)
def test_refresh_keeps_the_launch_identity(ehr: MockEhr, patients: dict[str, str], id_token: str, rotate: bool) -> None:
    ehr.control(refreshIdToken=id_token, refreshRotate=rotate)
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patients[SEED]).status_code == 303
        at_launch = _tokens(client)
        assert at_launch.fhir_user is not None
        assert at_launch.subject == "johndoe"
        before = ehr.counters()["refresh"]
        for hours in (2, 4):  # twice: the kept (or rotated) refresh token works again
            _later(client, hours)
            page = client.get("/patient")
            assert page.status_code == 200, page.text
            assert 'action="/sign"' in page.text  # the signer is still known
        assert ehr.counters()["refresh"] == before + 2
        now = _tokens(client)
        assert (now.fhir_user, now.subject, now.patient) == (at_launch.fhir_user, "johndoe", at_launch.patient)
        assert now.access_token != at_launch.access_token
        assert (now.refresh_token != at_launch.refresh_token) is rotate


def test_sign_after_a_refresh_without_aud(ehr: MockEhr, patients: dict[str, str]) -> None:
    """The issue's report: after such a refresh the page and sign answered 502."""
    ehr.control(refreshIdToken="noaud")
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patients[SEED]).status_code == 303
        csrf = client.get("/patient").text.split('name="csrf" value="')[1].split('"')[0]
        _later(client, 2)
        signed = client.post("/sign", data={"csrf": csrf, "comment": "after refresh"})
        assert signed.status_code == 200, signed.text
        assert "Signed and saved" in signed.text


@pytest.mark.parametrize("failure", ["invalid_grant", "server_error", "garbage"])
def test_a_failed_refresh_asks_to_launch_again(ehr: MockEhr, patients: dict[str, str], failure: str) -> None:
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patients[SEED]).status_code == 303
        ehr.control(refreshError=failure)
        _later(client, 2)
        page = client.get("/patient")
        assert page.status_code == 401
        assert "Your session has ended" in page.text
        assert "Launch the app again" in page.text
        ehr.control(refreshError=None)
        assert client.get("/patient").status_code == 401  # the session's tokens are gone
        assert client.get("/api/patient").status_code == 401


def test_the_authorize_request_carries_a_fresh_nonce(ehr: MockEhr) -> None:
    with make_client(settings_for(ehr.iss)) as client:
        nonces = {
            httpx.URL(
                client.get("/launch", params={"iss": ehr.iss, "launch": "x"}, follow_redirects=False).headers[
                    "location"
                ]
            ).params["nonce"]
            for _ in range(2)
        }
    assert len(nonces) == 2
    assert all(len(n) >= 32 for n in nonces)


@pytest.mark.parametrize(
    ("quirk", "reason"),
    [
        ("badsig", "signature does not verify"),
        ("nonce", "nonce is not the one this launch sent"),
        ("expired", "has expired"),
        ("aud", "issued to another client"),
        ("iss", "issued by another issuer"),
    ],
)
def test_an_unverifiable_id_token_refuses_the_launch(
    ehr: MockEhr, patients: dict[str, str], quirk: str, reason: str
) -> None:
    ehr.control(idTokenQuirk=quirk)
    with make_client(settings_for(ehr.iss)) as client:
        start = client.get(
            "/launch", params={"iss": ehr.iss, "launch": f"patient-{patients[SEED]}"}, follow_redirects=False
        )
        answer = client.get(callback_path(authorize(start.headers["location"])), follow_redirects=False)
        assert answer.status_code == 401
        assert reason in answer.text
        assert client.get("/patient").status_code == 401


def test_symmetric_and_unsigned_id_tokens_are_refused_before_any_key_lookup() -> None:
    provider = OidcProvider("https://ehr.example", "https://ehr.example/jwks")
    claims = {"iss": provider.issuer, "sub": "u", "aud": "bmefhir", "exp": 2_000_000_000, "iat": 1_700_000_000}
    for token in (jwt.encode(claims, "k" * 32, algorithm="HS256"), jwt.encode(claims, None, algorithm="none")):
        with pytest.raises(IdTokenError, match="not accepted"):
            verify_id_token(token, provider, JwksCache(), client_id="bmefhir", nonce=None)
