"""SMART launch, page, refresh and sign & write back against the real app, a real loopback
authorization server (oauth2-mock-server) and HAPI loaded with the examples."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import httpx
import pytest

from bmefhir.fhir.client import FhirClient
from bmefhir.smart.keys import generate_key, private_key_pem, signing_key
from bmefhir.smart.launch import TokenSet
from bmefhir.web.deps import get_clock

from .client import PUBLIC, TestClient, authorize, callback_path, launch, make_client, settings_for
from .harness import AppClock, MockEhr

SEED = "seed-001-rmo-hip-ankle-knee"


def _csrf(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


def _tokens(client: TestClient) -> TokenSet:
    store = client.app.state.sessions  # type: ignore[attr-defined]
    (session,) = [s for s in store._sessions.values() if s.tokens is not None]
    return session.tokens


def test_ehr_launch_shows_the_patient_and_keeps_tokens_server_side(
    ehr: MockEhr, patients: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with make_client(settings_for(ehr.iss)) as client:
        answer = launch(client, ehr.iss, patients[SEED])
        assert answer.status_code == 303
        assert answer.headers["location"] == "/patient"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie  # dev mode
        page = client.get("/patient")
        assert page.status_code == 200
        assert "Regional migratory osteoporosis" in page.text
        assert "<svg" in page.text
        assert 'action="/sign"' in page.text
        tokens = _tokens(client)
        for secret in (tokens.access_token, tokens.refresh_token or "-"):
            assert secret not in page.text
            assert secret not in cookie
            assert all(secret not in r.getMessage() for r in caplog.records)


def test_authorize_request_uses_pkce_s256_fresh_state_and_aud(ehr: MockEhr) -> None:
    with make_client(settings_for(ehr.iss)) as client:
        urls = [
            httpx.URL(
                client.get("/launch", params={"iss": ehr.iss, "launch": "x"}, follow_redirects=False).headers[
                    "location"
                ]
            )
            for _ in range(2)
        ]
    first, second = (u.params for u in urls)
    assert first["code_challenge_method"] == "S256"
    assert first["aud"] == ehr.iss
    assert first["redirect_uri"] == PUBLIC + "/callback"
    assert first["launch"] == "x"
    assert first["state"] != second["state"]
    assert first["code_challenge"] != second["code_challenge"]
    scopes = first["scope"].split()
    assert {"launch", "openid", "fhirUser", "patient/Observation.rs", "patient/DiagnosticReport.crus"} <= set(scopes)
    assert not any(s.startswith("system/") or s.startswith("patient/*") for s in scopes)


def test_unlisted_iss_is_refused_without_contacting_it(ehr: MockEhr) -> None:
    with socket.socket() as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen()
        trap.settimeout(0.3)
        rogue = f"http://127.0.0.1:{trap.getsockname()[1]}/fhir"
        with make_client(settings_for(ehr.iss)) as client:
            answer = client.get("/launch", params={"iss": rogue, "launch": "x"}, follow_redirects=False)
        assert answer.status_code == 400
        assert "not registered" in answer.text
        with pytest.raises(TimeoutError):
            trap.accept()


def test_replayed_and_unknown_state_are_rejected(ehr: MockEhr, patients: dict[str, str]) -> None:
    with make_client(settings_for(ehr.iss)) as client:
        start = client.get(
            "/launch", params={"iss": ehr.iss, "launch": f"patient-{patients[SEED]}"}, follow_redirects=False
        )
        path = callback_path(authorize(start.headers["location"]))
        assert client.get(path, follow_redirects=False).status_code == 303
        replay = client.get(path, follow_redirects=False)
        assert replay.status_code == 400
        assert "already used" in replay.text
        assert client.get("/callback", params={"state": "forged", "code": "c"}).status_code == 400
        assert client.get("/callback").status_code == 400
    with make_client(settings_for(ehr.iss)) as other_browser:  # state bound to the browser that launched
        assert other_browser.get(path, follow_redirects=False).status_code == 400


def test_denied_consent_gives_403(ehr: MockEhr, patients: dict[str, str]) -> None:
    ehr.control(deny=True)
    with make_client(settings_for(ehr.iss)) as client:
        answer = launch(client, ehr.iss, patients[SEED])
        assert answer.status_code == 403
        assert "Access not granted" in answer.text
        assert client.get("/patient").status_code == 401


def test_expired_token_is_refreshed(ehr: MockEhr, patients: dict[str, str]) -> None:
    with make_client(settings_for(ehr.iss)) as client:
        clock = AppClock()
        client.app.dependency_overrides[get_clock] = clock  # type: ignore[attr-defined]
        assert launch(client, ehr.iss, patients[SEED]).status_code == 303
        before = ehr.counters()["refresh"]
        assert client.get("/patient").status_code == 200
        assert ehr.counters()["refresh"] == before  # still valid: no refresh
        clock.advance(hours=2)  # past the token's life (1 h at the mock EHR), within the session's 8 h idle limit
        page = client.get("/patient")
        assert page.status_code == 200
        assert ehr.counters()["refresh"] == before + 1


def test_without_write_scope_signing_is_disabled(ehr: MockEhr, patients: dict[str, str]) -> None:
    ehr.control(withhold=[".crus", ".cu", ".write"])
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patients[SEED]).status_code == 303
        page = client.get("/patient")
        assert page.status_code == 200
        assert "Write-back is disabled" in page.text
        assert 'action="/sign"' not in page.text
        store = client.app.state.sessions  # type: ignore[attr-defined]
        (session,) = [s for s in store._sessions.values() if s.tokens is not None]
        refused = client.post("/sign", data={"csrf": session.csrf})  # a valid form still cannot sign
        assert refused.status_code == 403
        assert "Write-back is disabled" in refused.text


def _reports(hapi_base: str, patient: str) -> list[dict]:
    with FhirClient(hapi_base) as fhir:
        return list(
            fhir.search(
                "DiagnosticReport",
                {"subject": f"Patient/{patient}", "_tag": "http://bmefhir.org/fhir/CodeSystem/tags|"},
            )
        )


def test_sign_writes_a_final_report_and_resigning_updates_it(
    ehr: MockEhr, patients: dict[str, str], hapi_base: str, practitioner: str
) -> None:
    patient = patients["seed-000-transient-osteoporosis-hip"]
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patient).status_code == 303
        page = client.get("/patient")
        assert client.post("/sign", data={"comment": "agree"}).status_code == 403  # no CSRF token
        signed = client.post("/sign", data={"csrf": _csrf(page.text), "comment": "agree"})
        assert signed.status_code == 200, signed.text
        assert "Signed and saved" in signed.text
        again = client.post("/sign", data={"csrf": _csrf(page.text), "comment": "agree, on review"})
        assert again.status_code == 200
        assert "updated" in again.text
    with FhirClient(hapi_base) as fhir:
        reports = [
            r for r in fhir.search("DiagnosticReport", {"subject": f"Patient/{patient}"}) if r.get("status") == "final"
        ]
        provenance = list(fhir.search("Provenance", {"target": f"DiagnosticReport/{reports[0]['id']}"}))
    assert len(reports) == 1
    assert any(practitioner in str(p.get("agent")) for p in provenance)


def test_sign_from_another_origin_is_refused(ehr: MockEhr, patients: dict[str, str]) -> None:
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patients[SEED]).status_code == 303
        page = client.get("/patient")
        answer = client.post("/sign", data={"csrf": _csrf(page.text)}, headers={"Origin": "https://evil.example"})
        assert answer.status_code == 403


def test_standalone_launch_uses_the_patient_the_ehr_picked(ehr: MockEhr, patients: dict[str, str]) -> None:
    ehr.control(patient=patients["synth-septic-arthritis"])
    with make_client(settings_for(ehr.iss, standalone_iss=ehr.iss)) as client:
        start = client.get("/standalone", follow_redirects=False)
        assert "launch%2Fpatient" in start.headers["location"] or "launch/patient" in start.headers["location"]
        answer = client.get(callback_path(authorize(start.headers["location"])), follow_redirects=False)
        assert answer.status_code == 303
        page = client.get("/patient")
        assert page.status_code == 200
        assert "Red flags" in page.text


def test_v1_scopes_are_requested_and_honoured(ehr: MockEhr, patients: dict[str, str]) -> None:
    with make_client(settings_for(ehr.iss, scope_style="v1")) as client:
        start = client.get(
            "/launch", params={"iss": ehr.iss, "launch": f"patient-{patients[SEED]}"}, follow_redirects=False
        )
        scope = httpx.URL(start.headers["location"]).params["scope"].split()
        assert "patient/Observation.read" in scope
        assert "patient/DiagnosticReport.write" in scope
        back = client.get(callback_path(authorize(start.headers["location"])), follow_redirects=False)
        assert back.status_code == 303
        page = client.get("/patient")
        assert page.status_code == 200
        assert 'action="/sign"' in page.text


def test_confidential_client_with_secret(ehr: MockEhr, patients: dict[str, str]) -> None:
    ehr.control(clientSecret="s3cret")
    with make_client(settings_for(ehr.iss, client_secret="s3cret")) as client:
        assert launch(client, ehr.iss, patients[SEED]).status_code == 303
    with make_client(settings_for(ehr.iss, client_secret="wrong")) as client:
        answer = launch(client, ehr.iss, patients[SEED])
        assert answer.status_code == 401
        assert "invalid_client" in answer.text


def test_confidential_client_with_private_key_jwt(ehr: MockEhr, patients: dict[str, str], tmp_path: Path) -> None:
    key = generate_key("ES384")
    (tmp_path / "key.pem").write_bytes(private_key_pem(key))
    ehr.control(clientJwk=signing_key(key).public_jwk())
    with make_client(settings_for(ehr.iss, private_key_file=tmp_path / "key.pem")) as client:
        assert launch(client, ehr.iss, patients[SEED]).status_code == 303
        assert client.get("/patient").status_code == 200
    other = generate_key("ES384")
    (tmp_path / "other.pem").write_bytes(private_key_pem(other))
    with make_client(settings_for(ehr.iss, private_key_file=tmp_path / "other.pem")) as client:
        assert launch(client, ehr.iss, patients[SEED]).status_code == 401


def test_framed_deployment_cookie_and_headers(ehr: MockEhr) -> None:
    settings = settings_for(ehr.iss, dev=False, framed=True, frame_ancestors=["https://ehr.example"])
    with make_client(settings) as client:
        start = client.get("/launch", params={"iss": ehr.iss, "launch": "x"}, follow_redirects=False)
    cookie = start.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=none", "Partitioned"):
        assert attribute in cookie
    csp = start.headers["content-security-policy"]
    assert "frame-ancestors https://ehr.example" in csp
    assert "object-src 'none'" in csp
    assert "default-src 'self'" in csp
