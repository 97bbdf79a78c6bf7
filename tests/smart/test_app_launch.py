"""SMART App Launch pieces that need no network: scopes (v1 and v2), PKCE, the session store."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from bmefhir.smart.launch import ClientCredentials, PendingLaunch, SmartConfiguration, begin_launch, pkce_challenge
from bmefhir.smart.scopes import READ_TYPES, parse_scopes, requested_scopes
from bmefhir.smart.sessions import MemorySessionStore

NOW = datetime(2025, 1, 1, tzinfo=UTC)
CONFIG = SmartConfiguration("https://ehr.example/authorize", "https://ehr.example/token")


@pytest.mark.parametrize(
    ("granted", "reads", "writes"),
    [
        ("patient/*.read", True, False),
        ("patient/*.rs", True, False),
        ("patient/*.r", False, False),  # read without search: fetch_patient searches
        ("user/*.*", True, True),
        ("patient/*.cruds", True, True),
        ("patient/*.rs patient/*.cu", True, True),
        ("patient/*.read patient/*.write", True, True),
        ("patient/*.sr", False, False),  # v2 letters out of order are not a valid permission
        ("patient/Observation.rs?category=laboratory", False, False),  # only one type
        ("system/*.rs", False, False),  # not an app scope
        ("", False, False),
    ],
)
def test_granted_scopes_in_v1_and_v2_forms(granted: str, reads: bool, writes: bool) -> None:
    grant = parse_scopes(granted)
    assert all(grant.can_read(t) for t in READ_TYPES) is reads
    assert grant.can_write_back is writes


def test_a_query_restricted_v2_scope_still_grants_its_type() -> None:
    grant = parse_scopes("patient/Observation.rs?category=laboratory")
    assert grant.can_read("Observation")
    assert "Observation" not in grant.unreadable
    assert "Condition" in grant.unreadable


def test_requested_scopes_are_minimal() -> None:
    ehr = requested_scopes("ehr", "v2", write=False).split()
    assert "launch" in ehr
    assert "launch/patient" not in ehr
    assert not any(".c" in s or ".u" in s or "*" in s for s in ehr)
    standalone = requested_scopes("standalone", "v1", write=True).split()
    assert "launch/patient" in standalone
    assert "patient/DiagnosticReport.write" in standalone
    assert len(standalone) == len(set(standalone))


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_every_launch_has_its_own_state_and_verifier() -> None:
    client = ClientCredentials("app")
    first, url = begin_launch(
        CONFIG,
        iss="https://ehr.example/fhir",
        launch="L",
        client=client,
        redirect_uri="https://app/callback",
        scope="launch openid",
        now=NOW,
    )
    second, _ = begin_launch(
        CONFIG,
        iss="https://ehr.example/fhir",
        launch="L",
        client=client,
        redirect_uri="https://app/callback",
        scope="launch openid",
        now=NOW,
    )
    assert first.state != second.state
    assert first.verifier != second.verifier
    assert 43 <= len(first.verifier) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(first.verifier.encode()).digest()).rstrip(b"=").decode()
    assert f"code_challenge={digest}" in url
    assert first.verifier not in url
    assert first.verifier not in repr(first)


def _pending(state: str, started: datetime) -> PendingLaunch:
    return PendingLaunch(state, "https://ehr.example/fhir", CONFIG, "v" * 50, "https://app/callback", "", started)


def test_state_is_taken_once_and_expires() -> None:
    store = MemorySessionStore()
    session = store.create(NOW)
    session.add_pending(_pending("s1", NOW))
    session.add_pending(_pending("old", NOW - timedelta(hours=1)))
    assert session.take_pending("s1", NOW, timedelta(minutes=10)) is not None
    assert session.take_pending("s1", NOW, timedelta(minutes=10)) is None  # replay
    assert session.take_pending("old", NOW, timedelta(minutes=10)) is None  # stale


def test_sessions_expire_and_rotate() -> None:
    store = MemorySessionStore(ttl=timedelta(minutes=5))
    session = store.create(NOW)
    assert store.get(session.id, NOW + timedelta(minutes=4)) is session
    rotated = store.rotate(session, NOW)
    assert rotated.id != session.id
    assert rotated.csrf != session.csrf
    assert store.get(session.id, NOW) is None
    assert store.get(rotated.id, NOW + timedelta(minutes=6)) is None
    assert session.id not in repr(session)


def test_client_secret_is_sent_as_basic_auth_and_hidden() -> None:
    from pydantic import SecretStr

    client = ClientCredentials("my app", SecretStr("s3:cr=t"))
    form: dict[str, str] = {}
    headers: dict[str, str] = {}
    client.apply(form, headers, "https://ehr.example/token", NOW)
    assert "client_id" not in form
    assert base64.b64decode(headers["Authorization"].split()[1]).decode() == "my+app:s3%3Acr%3Dt"
    assert "s3" not in repr(client)
