"""The audit trail (issue 12, item 4): structured log events for launch, read, sign and refusals
(pseudonyms, no tokens, no patient ids), the sign's FHIR AuditEvent on the EHR validated by HAPI,
and ``bmefhir serve`` showing the events by default."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import httpx
import pytest

from bmefhir.fhir.client import FhirClient
from bmefhir.privacy import pseudonym
from bmefhir.render.audit import write_audit_event
from bmefhir.web.audit import AUDIT_LOGGER

from .client import TestClient, launch, make_client, settings_for
from .harness import ROOT, MockEhr, free_port

pytestmark = pytest.mark.slow  # starts `bmefhir serve`: about 20 s

SEED = "seed-002-to-talus-to-tibia"


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [r.audit for r in caplog.records if r.name == AUDIT_LOGGER]  # type: ignore[attr-defined]


def _csrf(client: TestClient) -> str:
    return client.get("/patient").text.split('name="csrf" value="')[1].split('"')[0]


def test_launch_read_sign_and_refusals_are_audit_events(
    ehr: MockEhr, patients: dict[str, str], practitioner: str, hapi_base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    patient = patients[SEED]
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patient).status_code == 303
        csrf = _csrf(client)
        assert client.post("/sign", data={"csrf": "forged"}).status_code == 403
        signed = client.post("/sign", data={"csrf": csrf, "comment": "audited"})
        assert signed.status_code == 200, signed.text
        assert client.get("/launch", params={"iss": "https://rogue.example/fhir", "launch": "x"}).status_code == 400
        tokens = [s.tokens for s in client.app.state.sessions._sessions.values() if s.tokens]  # type: ignore[attr-defined]
    events = _events(caplog)
    kinds = [(e["event"], e["outcome"]) for e in events]
    for expected in [
        ("launch", "success"),
        ("read", "success"),
        ("sign", "refused"),
        ("sign", "success"),
        ("audit-event", "success"),
        ("launch", "refused"),
    ]:
        assert expected in kinds, kinds
    launched = next(e for e in events if e["event"] == "launch" and e["outcome"] == "success")
    assert launched["user"] == practitioner
    assert launched["patient"] == pseudonym(patient)
    assert next(e for e in events if e["event"] == "sign" and e["outcome"] == "refused")["reason"] == "csrf-or-origin"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert patient not in text
    for secret in (t.access_token for t in tokens):
        assert secret not in text
    # The AuditEvent the sign wrote, on the EHR's server.
    ref = signed.text.split("recorded as ")[1].split(".")[0].split("<")[0]
    assert ref.startswith("AuditEvent/")
    with FhirClient(hapi_base) as fhir:
        event = fhir.read("AuditEvent", ref.split("/")[1])
        outcome = httpx.post(
            f"{hapi_base}/AuditEvent/$validate",
            json=event,
            headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
            timeout=60,
        ).json()
    assert event["outcome"] == "0"
    assert {"reference": f"Patient/{patient}"} in [e["what"] for e in event["entity"]]
    assert any(e["what"]["reference"].startswith("DiagnosticReport/") for e in event["entity"])
    assert any(a.get("who", {}).get("reference") == practitioner and a["requestor"] for a in event["agent"])
    errors = [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
    assert not errors, errors


def test_a_refused_write_is_audited_as_a_failure_too(
    ehr: MockEhr, patients: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    # The EHR refuses the Provenance (its own policy, whatever the token grants): nothing is written.
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patients[SEED]).status_code == 303
        csrf = _csrf(client)
        ehr.control(refuseTypes=["Provenance"])
        answer = client.post("/sign", data={"csrf": csrf})
    assert answer.status_code == 502
    kinds = [(e["event"], e["outcome"]) for e in _events(caplog)]
    assert ("sign", "failed") in kinds
    assert ("audit-event", "success") in kinds  # the failed attempt is on the record


def test_the_audit_event_is_pure_and_names_no_patient_data() -> None:
    from datetime import UTC, datetime

    event = write_audit_event(
        patient_ref="Patient/p1",
        user_ref=None,
        app_url="https://app.example",
        fhir_base="https://ehr.example/fhir",
        written=(),
        action="U",
        outcome="failed",
        recorded=datetime(2025, 1, 1, tzinfo=UTC),
        outcome_text="x" * 500,
    )
    assert event["outcome"] == "8"
    assert len(event["outcomeDesc"]) == 200
    assert [a["requestor"] for a in event["agent"]] == [False, False]  # no user: no requestor agent
    assert event["subtype"][0]["code"] == "update"


def test_bmefhir_serve_shows_audit_events_by_default(ehr: MockEhr, patients: dict[str, str]) -> None:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "BMEFHIR_WEB_ALLOWED_ISSUERS": json.dumps([ehr.iss]),
            "BMEFHIR_WEB_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "BMEFHIR_WEB_DEV": "true",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bmefhir.cli import app; app()", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # serve warms the pipeline up before it opens the port
        while True:  # readiness: the health endpoint answers
            assert proc.poll() is None, "bmefhir serve exited"
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "bmefhir serve did not start"
            time.sleep(0.1)
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as browser:
            start = browser.get("/launch", params={"iss": ehr.iss, "launch": f"patient-{patients[SEED]}"})
            back = httpx.get(start.headers["location"], follow_redirects=False, timeout=10).headers["location"]
            assert browser.get(back).status_code == 303
            assert browser.get("/patient").status_code == 200
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0].decode()
    assert 'audit {"event":"launch","outcome":"success"' in out, out[-2000:]
    assert '"event":"read","outcome":"success"' in out
    assert patients[SEED] not in out
