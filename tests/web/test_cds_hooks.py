"""The CDS Hooks service: discovery, patient-view cards from prefetch or from the real HAPI server, JWT checks."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from bmefhir.fhir.files import read_bundle
from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES
from bmefhir.render.cards import SUMMARY_MAX
from bmefhir.smart.keys import generate_key, signing_key
from bmefhir.testing.examples import list_examples
from bmefhir.web.cds_routes import SERVICE_ID

from .client import PUBLIC, TestClient, make_client, settings_for

SERVICE = f"/cds-services/{SERVICE_ID}"
AUDIENCE = PUBLIC + SERVICE
EHR = "https://ehr.example/fhir"


def case(prefix: str) -> Any:
    return next(c for c in list_examples() if c.name.startswith(prefix))


def prefetch_of(prefix: str) -> tuple[str, dict[str, Any]]:
    """An example patient as a CDS client would prefetch it: the Patient and one searchset per type."""
    (raw,) = list(read_bundle(case(prefix).path))
    prefetch: dict[str, Any] = {
        kind: {"resourceType": "Bundle", "type": "searchset", "entry": []} for kind in PATIENT_SEARCHES
    }
    for resource in raw.resources:
        if resource["resourceType"] == "Patient":
            prefetch["patient"] = resource
        elif resource["resourceType"] in prefetch:
            prefetch[resource["resourceType"]]["entry"].append({"resource": resource, "search": {"mode": "match"}})
    return raw.patient_id, prefetch


def hook(patient_id: str, prefetch: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": patient_id, "userId": "Practitioner/example"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body | extra


@pytest.fixture(scope="module")
def dev_client() -> Iterator[TestClient]:
    """dev mode, no CDS clients registered: calls need no JWT."""
    with make_client(settings_for(EHR)) as client:
        yield client


def test_discovery_lists_the_service_with_the_batch_reads_as_prefetch(dev_client: TestClient) -> None:
    answer = dev_client.get("/cds-services")
    assert answer.status_code == 200
    (service,) = answer.json()["services"]
    assert service["hook"] == "patient-view"
    assert service["id"] == SERVICE_ID
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert set(service["prefetch"]) == {"patient", *PATIENT_SEARCHES}
    assert service["prefetch"]["Observation"] == "Observation?patient={{context.patientId}}&_count=500"


def test_prefetched_patient_gets_a_cited_differential_card(dev_client: TestClient) -> None:
    patient, prefetch = prefetch_of("seed-000")
    answer = dev_client.post(SERVICE, json=hook(patient, prefetch))
    assert answer.status_code == 200, answer.text
    (card,) = answer.json()["cards"]
    assert card["indicator"] == "info"
    assert card["summary"].startswith("Bone marrow edema: Transient osteoporosis")
    assert "most likely (" in card["summary"]
    assert len(card["summary"]) < SUMMARY_MAX
    assert "decision support" in card["summary"]
    assert "Decision support only" in card["detail"]
    assert "seed 000" in card["detail"]  # criteria carry their citations
    assert "Observation/" in card["detail"]  # and the resources behind them
    assert card["links"] == [{"label": "Open the bmefhir differential", "url": PUBLIC + "/launch", "type": "smart"}]
    assert card["source"]["label"] == "bmefhir (decision support)"
    again = dev_client.post(SERVICE, json=hook(patient, prefetch)).json()["cards"]
    assert again[0]["uuid"] == card["uuid"], "the same analysis gives the same card"


def test_red_flags_come_first_as_warning_cards(dev_client: TestClient) -> None:
    patient, prefetch = prefetch_of("seed-004")
    cards = dev_client.post(SERVICE, json=hook(patient, prefetch)).json()["cards"]
    assert [c["indicator"] for c in cards] == ["warning", "info"]
    assert cards[0]["summary"].startswith("Must not miss: Osteonecrosis")
    assert len(cards[0]["summary"]) < SUMMARY_MAX
    assert "Criterion `" in cards[0]["detail"]


def test_no_card_without_bone_marrow_edema_imaging(dev_client: TestClient) -> None:
    patient, prefetch = prefetch_of("seed-000")
    for kind in PATIENT_SEARCHES:
        prefetch[kind]["entry"] = []
    answer = dev_client.post(SERVICE, json=hook(patient, prefetch))
    assert answer.status_code == 200
    assert answer.json() == {"cards": []}


def test_bad_prefetch_entries_are_reported_and_the_rest_is_used(dev_client: TestClient) -> None:
    patient, prefetch = prefetch_of("seed-000")
    prefetch["Condition"]["entry"].append({"fullUrl": "urn:uuid:nothing-here"})
    prefetch["Observation"]["entry"].append(
        {"resource": {"resourceType": "Observation", "id": "broken", "status": "final"}}
    )
    answer = dev_client.post(SERVICE, json=hook(patient, prefetch))
    assert answer.status_code == 200, answer.text
    (card,) = answer.json()["cards"]
    assert card["summary"].startswith("Bone marrow edema: Transient osteoporosis")
    assert "data-quality issue(s) in the input" in card["detail"]


def test_a_prefetch_orjson_refuses_but_json_allows_is_read_without_that_resource(dev_client: TestClient) -> None:
    """A lone surrogate escape is JSON but not Unicode text: the body is parsed by the standard library
    instead of orjson, and only the resource holding it is skipped, with an error naming it."""
    patient, prefetch = prefetch_of("seed-000")
    (plain,) = dev_client.post(SERVICE, json=hook(patient, prefetch)).json()["cards"]
    marker = "lone-surrogate-marker"
    prefetch["Observation"]["entry"].append(
        {"resource": {"resourceType": "Observation", "id": "bad-text", "status": "final", "code": {"text": marker}}}
    )
    body = json.dumps(hook(patient, prefetch)).replace(marker, "\\ud800").encode()
    assert b"\\ud800" in body
    answer = dev_client.post(SERVICE, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    (card,) = answer.json()["cards"]
    assert card["summary"] == plain["summary"]
    assert issue_count(card) == issue_count(plain) + 1  # the skipped resource's error


def issue_count(card: dict[str, Any]) -> int:
    """The count of data-quality issues a card shows (none shown when there are none)."""
    match = re.search(r"(\d+) data-quality issue\(s\) in the input", card["detail"])
    return int(match.group(1)) if match else 0


def test_a_body_that_is_not_json_is_422_naming_the_body(dev_client: TestClient) -> None:
    patient, prefetch = prefetch_of("seed-000")
    truncated = json.dumps(hook(patient, prefetch)).encode()[:-20]
    answer = dev_client.post(SERVICE, content=truncated, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"][0] == "body"
    assert error["msg"] == "JSON decode error"


def test_incomplete_prefetch_without_a_server_is_412_naming_the_gaps(dev_client: TestClient) -> None:
    patient, prefetch = prefetch_of("seed-000")
    del prefetch["Observation"]
    prefetch["Condition"] = None  # the client could not fetch it
    answer = dev_client.post(SERVICE, json=hook(patient, prefetch))
    assert answer.status_code == 412
    assert "Observation" in answer.json()["detail"]
    assert "Condition" in answer.json()["detail"]


def test_requests_it_cannot_serve_are_refused_clearly(dev_client: TestClient) -> None:
    patient, prefetch = prefetch_of("seed-000")
    wrong_hook = dev_client.post(SERVICE, json=hook(patient, prefetch, hook="order-select"))
    assert wrong_hook.status_code == 400
    assert "order-select" in wrong_hook.json()["detail"]
    bad_id = dev_client.post(SERVICE, json=hook("../Practitioner/x", prefetch))
    assert bad_id.status_code == 400
    assert "context.patientId" in bad_id.json()["detail"]
    other_server = dev_client.post(
        SERVICE,
        json=hook(patient, None, fhirServer="http://127.0.0.1:9/fhir", fhirAuthorization={"access_token": "t"}),
    )
    assert other_server.status_code == 412
    assert "not an allowed FHIR server" in other_server.json()["detail"]


def test_without_prefetch_the_patient_is_read_from_the_hapi_server(hapi_base: str, patients: dict[str, str]) -> None:
    name = case("seed-001").name
    with make_client(settings_for(hapi_base)) as client:
        body = hook(patients[name], None, fhirServer=hapi_base, fhirAuthorization={"access_token": "opaque"})
        answer = client.post(SERVICE, json=body)
        assert answer.status_code == 200, answer.text
        main = answer.json()["cards"][-1]
        assert main["summary"].startswith("Bone marrow edema: Regional migratory osteoporosis most likely")
        missing = client.post(
            SERVICE,
            json=hook("no-such-patient", None, fhirServer=hapi_base, fhirAuthorization={"access_token": "opaque"}),
        )
        assert missing.status_code == 412
        assert missing.json()["detail"] == "the FHIR server has no such patient"


# ---------------------------------------------------------------- CDS client JWTs


def assertion(key: Any, *, iss: str = EHR, aud: str = AUDIENCE, exp_in: int = 300, alg: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": iss, "aud": aud, "exp": now + exp_in, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key.private_key, algorithm=alg or key.alg, headers={"kid": key.kid})


@pytest.fixture(scope="module")
def secured(jwks_server: str) -> Iterator[TestClient]:
    with make_client(settings_for(EHR, dev=False, cds_clients={EHR: jwks_server})) as client:
        yield client


def test_a_registered_clients_signed_jwt_is_accepted_once(secured: TestClient, client_key: Any) -> None:
    patient, prefetch = prefetch_of("seed-000")
    token = assertion(client_key)
    headers = {"Authorization": f"Bearer {token}"}
    first = secured.post(SERVICE, json=hook(patient, prefetch), headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["cards"]
    replay = secured.post(SERVICE, json=hook(patient, prefetch), headers=headers)
    assert replay.status_code == 401
    assert replay.json()["detail"] == "the JWT was already used (jti replay)"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda key: None, "no bearer JWT in the Authorization header"),
        (lambda key: "not-a-jwt", "the bearer token is not a JWT"),
        (lambda key: assertion(key, aud=PUBLIC + "/elsewhere"), "the JWT audience is not this service's URL"),
        (lambda key: assertion(key, exp_in=-600), "the JWT has expired"),
        (lambda key: assertion(key, iss="https://other.example/fhir"), "the JWT issuer is not a registered CDS client"),
        (lambda key: jwt.encode({"iss": EHR}, "s" * 32, algorithm="HS256"), "JWT algorithm 'HS256' is not accepted"),
        (
            lambda key: assertion(signing_key(generate_key("ES384"), kid=key.kid)),
            "the JWT signature or claims did not verify",
        ),
    ],
)
def test_calls_that_are_not_from_a_registered_client_are_401_with_the_reason(
    secured: TestClient, client_key: Any, make: Any, reason: str
) -> None:
    patient, prefetch = prefetch_of("seed-000")
    token = make(client_key)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = secured.post(SERVICE, json=hook(patient, prefetch), headers=headers)
    assert answer.status_code == 401
    assert reason in answer.json()["detail"]
    assert token is None or token not in answer.text


def test_without_registered_clients_and_outside_dev_the_service_refuses() -> None:
    with make_client(settings_for(EHR, dev=False)) as client:
        patient, prefetch = prefetch_of("seed-000")
        answer = client.post(SERVICE, json=hook(patient, prefetch))
        assert answer.status_code == 401
        assert "no CDS clients are registered" in answer.json()["detail"]
