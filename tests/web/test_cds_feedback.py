"""CDS Hooks feedback: accepted and overridden cards recorded in the state store (SQLite and
PostgreSQL), the client's JWT checked first, malformed bodies refused, ``bmefhir cds feedback`` lists them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from bmefhir.cli import app as cli
from bmefhir.sync.models import CdsFeedback
from bmefhir.sync.store import SyncStore
from bmefhir.web.cds_routes import OVERRIDE_SYSTEM, SERVICE_ID

from .client import PUBLIC, TestClient, make_client, settings_for
from .test_cds_hooks import EHR, SERVICE, assertion, hook, prefetch_of

FEEDBACK = f"{SERVICE}/feedback"
COMMENT = "seen in clinic by Dr Example, patient prefers to wait"


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    url: str = request.getfixturevalue("pg_url")
    store = SyncStore(url)  # one database for the session: start each test without feedback
    with store.engine.begin() as conn:
        conn.execute(delete(CdsFeedback))
    store.close()
    yield url


def cards_for(client: TestClient, prefix: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    patient, prefetch = prefetch_of(prefix)
    answer = client.post(SERVICE, json=hook(patient, prefetch), headers=headers or {})
    assert answer.status_code == 200, answer.text
    cards: list[dict[str, Any]] = answer.json()["cards"]
    return cards


def overridden(
    card: dict[str, Any], code: str = "already-assessed", when: str = "2026-11-01T12:05:00Z"
) -> dict[str, Any]:
    return {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": {"system": OVERRIDE_SYSTEM, "code": code}, "userComment": COMMENT},
        "outcomeTimestamp": when,
    }


def accepted(card: dict[str, Any], when: str = "2026-11-01T12:04:00+01:00") -> dict[str, Any]:
    return {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": when}


def test_accepted_and_overridden_cards_are_recorded_once_without_patient_or_comment(state_url: str) -> None:
    with make_client(settings_for(EHR, state_store=state_url)) as client:
        warning, info = cards_for(client, "seed-004")  # a red flag card, then the differential
        body = {"feedback": [overridden(warning), accepted(info)]}
        first = client.post(FEEDBACK, json=body)
        assert first.status_code == 200, first.text
        assert first.json() == {"received": 2, "recorded": 2}
        again = client.post(FEEDBACK, json=body)  # a client retrying
        assert again.json() == {"received": 2, "recorded": 0}
    store = SyncStore(state_url)
    try:
        rows = store.feedback()
    finally:
        store.close()
    assert [(r.card, r.outcome, r.reason_code) for r in rows] == [
        (warning["uuid"], "overridden", "already-assessed"),  # 12:05Z is after 12:04+01:00 (11:04Z)
        (info["uuid"], "accepted", None),
    ]
    assert rows[0].reason_system == OVERRIDE_SYSTEM
    assert rows[1].outcome_at.isoformat() == "2026-11-01T11:04:00+00:00"
    assert {r.service for r in rows} == {SERVICE_ID}
    assert {r.client for r in rows} == {"dev"}
    if state_url.startswith("sqlite:///"):
        stored = Path(state_url.removeprefix("sqlite:///")).read_bytes()
        patient, _ = prefetch_of("seed-004")
        assert warning["uuid"].encode() in stored
        assert patient.encode() not in stored
        assert b"Dr Example" not in stored, "free-text comments are never stored"


def test_a_registered_clients_feedback_is_accepted_and_an_unauthenticated_one_refused(
    tmp_path: Path, jwks_server: str, client_key: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    settings = settings_for(EHR, dev=False, cds_clients={EHR: jwks_server}, state_store=url)
    with make_client(settings) as client:
        (card,) = cards_for(client, "seed-000", {"Authorization": f"Bearer {assertion(client_key)}"})
        body = {"feedback": [overridden(card, "disagree")]}
        nobody = client.post(FEEDBACK, json=body)
        assert nobody.status_code == 401
        assert nobody.json()["detail"] == "no bearer JWT in the Authorization header"
        malformed_and_anonymous = client.post(FEEDBACK, json={"feedback": "nonsense"})
        assert malformed_and_anonymous.status_code == 401, "the JWT is checked before the body is read"
        wrong_aud = assertion(client_key, aud=PUBLIC + "/cds-services/other")
        refused = client.post(FEEDBACK, json=body, headers={"Authorization": f"Bearer {wrong_aud}"})
        assert refused.status_code == 401
        assert "audience" in refused.json()["detail"]
        for aud in (PUBLIC + FEEDBACK, PUBLIC + SERVICE):  # the feedback URL, or the service's own
            token = assertion(client_key, aud=aud)
            ok = client.post(FEEDBACK, json=body, headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200, ok.text
            assert token not in ok.text
        assert client.app.state.feedback_store.feedback()[0].client == EHR
        assert len(client.app.state.feedback_store.feedback()) == 1, "the same entry twice is kept once"


def test_without_registered_clients_outside_dev_feedback_is_refused(tmp_path: Path) -> None:
    with make_client(settings_for(EHR, dev=False, state_store=f"sqlite:///{tmp_path / 's.db'}")) as client:
        answer = client.post(FEEDBACK, json={"feedback": [accepted({"uuid": "0" * 8 + "-0000-4000-8000-" + "0" * 12})]})
        assert answer.status_code == 401
        assert "no CDS clients are registered" in answer.json()["detail"]
        assert not (tmp_path / "s.db").exists(), "a refused call never opens the store"


CARD = "3f2a6b1e-8c4d-4e5f-9a0b-1c2d3e4f5a6b"


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ({}, ["body", "feedback"], "Field required"),
        ({"feedback": []}, ["body", "feedback"], "at least 1 item"),
        (
            {"feedback": [{"card": CARD, "outcome": "ignored", "outcomeTimestamp": "2026-11-01T12:00:00Z"}]},
            ["body", "feedback", 0, "outcome"],
            "'accepted' or 'overridden'",
        ),
        (
            {"feedback": [{"card": "card-1", "outcome": "accepted", "outcomeTimestamp": "2026-11-01T12:00:00Z"}]},
            ["body", "feedback", 0, "card"],
            "UUID",
        ),
        (
            {"feedback": [{"card": CARD, "outcome": "accepted", "outcomeTimestamp": "2026-11-01T12:00:00"}]},
            ["body", "feedback", 0, "outcomeTimestamp"],
            "timezone",
        ),
        (
            {"feedback": [{"card": CARD, "outcome": "accepted"}]},
            ["body", "feedback", 0, "outcomeTimestamp"],
            "required",
        ),
        (
            {"feedback": [accepted({"uuid": CARD}) | {"overrideReason": {"reason": {"code": "x", "system": "s"}}}]},
            ["body", "feedback", 0],
            "overrideReason is only for outcome 'overridden'",
        ),
        (
            {"feedback": [overridden({"uuid": CARD}) | {"acceptedSuggestions": [{"id": "s1"}]}]},
            ["body", "feedback", 0],
            "acceptedSuggestions are only for outcome 'accepted'",
        ),
        (
            {"feedback": [overridden({"uuid": CARD}, code="<script>")]},
            ["body", "feedback", 0, "overrideReason", "reason", "code"],
            "pattern",
        ),
    ],
)
def test_malformed_feedback_is_422_naming_the_field(
    tmp_path: Path, body: dict[str, Any], where: list[Any], message: str
) -> None:
    with make_client(settings_for(EHR, state_store=f"sqlite:///{tmp_path / 's.db'}")) as client:
        answer = client.post(FEEDBACK, json=body)
        assert answer.status_code == 422
        errors = answer.json()["detail"]
        assert any(e["loc"] == where and message in e["msg"] for e in errors), errors
        assert "<script>" not in answer.text, "input values are not echoed"


def test_not_json_and_unknown_services_are_refused(tmp_path: Path) -> None:
    with make_client(settings_for(EHR, state_store=f"sqlite:///{tmp_path / 's.db'}")) as client:
        not_json = client.post(FEEDBACK, content=b"card=1", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 422
        assert not_json.json()["detail"][0]["msg"].startswith("JSON decode error")
        other = client.post("/cds-services/other-service/feedback", json={"feedback": [accepted({"uuid": CARD})]})
        assert other.status_code == 404
        assert SERVICE_ID in other.json()["detail"]


def test_cli_lists_the_feedback_as_a_table_and_as_json_lines(state_url: str) -> None:
    with make_client(settings_for(EHR, state_store=state_url)) as client:
        warning, info = cards_for(client, "seed-004")
        body = {
            "feedback": [
                overridden(warning, "not-applicable", "2026-11-02T08:00:00Z"),
                accepted(info, "2026-11-02T08:01:00Z") | {"acceptedSuggestions": [{"id": "order-mri"}]},
            ]
        }
        assert client.post(FEEDBACK, json=body).status_code == 200
    runner = CliRunner()
    as_json = runner.invoke(cli, ["cds", "feedback", "--store", state_url, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(x["card"], x["outcome"]) for x in lines] == [(info["uuid"], "accepted"), (warning["uuid"], "overridden")]
    assert lines[0]["acceptedSuggestions"] == ["order-mri"]
    assert lines[1]["reason"] == {"system": OVERRIDE_SYSTEM, "code": "not-applicable"}
    assert lines[1]["outcomeTimestamp"] == "2026-11-02T08:00:00+00:00"
    table = runner.invoke(cli, ["cds", "feedback", "--store", state_url])
    assert table.exit_code == 0, table.output
    assert warning["uuid"] in table.stdout
    assert "not-applicable" in table.stdout
    assert "2026-11-02 08:01:00Z" in table.stdout
    assert "2 feedback entries: 1 accepted, 1 overridden" in table.stderr
    limited = runner.invoke(cli, ["cds", "feedback", "--store", state_url, "--format", "json", "--limit", "1"])
    assert len(limited.stdout.splitlines()) == 1


def test_cli_refuses_a_store_url_it_cannot_use() -> None:
    result = CliRunner().invoke(cli, ["cds", "feedback", "--store", "mysql://x"])
    assert result.exit_code == 2
    assert "state store URL must be" in result.stderr
