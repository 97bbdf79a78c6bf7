"""Demo mode, the page's content and hardening, without an EHR."""

from __future__ import annotations

import re

import pytest

from bmefhir.testing.examples import list_examples
from bmefhir.web.patient_routes import source_body

from .client import TestClient, make_client, settings_for


@pytest.fixture(scope="module")
def demo() -> TestClient:
    with make_client(settings_for("https://ehr.example/fhir", demo=True)) as client:
        yield client


def test_demo_lists_every_example(demo: TestClient) -> None:
    page = demo.get("/demo")
    assert page.status_code == 200
    for case in list_examples():
        assert f'href="/demo/{case.name}"' in page.text
    assert demo.get("/").headers.get("location") is None  # followed to /demo


def test_red_flags_come_first_and_evidence_links_to_sources(demo: TestClient) -> None:
    page = demo.get("/demo/synth-septic-arthritis").text
    assert page.index("Red flags: must not miss") < page.index("Differential diagnosis")
    assert 'role="alert"' in page
    links = re.findall(r'href="(/demo/synth-septic-arthritis/source/[A-Za-z]+/[^"]+)"', page)
    assert links
    source = demo.get(links[0])
    assert source.status_code == 200
    assert "resourceType" in source.text


def test_page_has_timeline_with_migrations_and_is_small(demo: TestClient) -> None:
    page = demo.get("/demo/seed-001-rmo-hip-ankle-knee")
    assert page.status_code == 200
    assert len(page.content) < 200_000
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert svg.count('class="episode"') >= 3
    assert 'class="migration"' in svg
    assert re.search(r">\d+ d</text>", svg)
    assert "<script" not in page.text
    assert "Signing" not in page.text or "Demo mode" in page.text


def test_demo_is_off_unless_enabled() -> None:
    with make_client(settings_for("https://ehr.example/fhir")) as client:
        assert client.get("/demo").status_code == 404
        assert client.get("/api/demo/patients").status_code == 404
        home = client.get("/")
        assert "Open this app from a patient" in home.text


def test_unknown_demo_patient_and_pages_are_generic_404(demo: TestClient) -> None:
    answer = demo.get("/demo/../../etc/passwd")
    assert answer.status_code == 404
    assert "Traceback" not in answer.text
    assert demo.get("/demo/nope").status_code == 404
    assert demo.get("/demo/seed-001-rmo-hip-ankle-knee/source/Observation/none").status_code == 404


def test_patient_page_without_session_is_401(demo: TestClient) -> None:
    answer = demo.get("/patient")
    assert answer.status_code == 401
    assert "Launch the app again" in answer.text
    assert demo.get("/api/patient").status_code == 401
    assert demo.post("/sign", data={"csrf": "x"}).status_code == 401


def test_launch_without_parameters_is_400(demo: TestClient) -> None:
    assert demo.get("/launch").status_code == 400
    assert demo.get("/launch", params={"iss": "https://ehr.example/fhir"}).status_code == 400
    assert demo.get("/standalone").status_code == 400


def test_source_view_drops_the_ehr_narrative() -> None:
    body = source_body(
        {
            "resourceType": "Observation",
            "id": "1",
            "text": {"status": "generated", "div": "<div><script>alert(1)</script></div>"},
        }
    )
    assert "script" not in body
    assert '"id": "1"' in body


def test_hostile_names_are_escaped(demo: TestClient) -> None:
    bundle = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"text": "<script>alert(1)</script>"}],
        "birthDate": "1970-01-01",
        "gender": "male",
    }
    answer = demo.post("/api/analyze", json={"resources": [bundle]})
    assert answer.status_code == 200
    assert answer.json()["patient"] == "Patient/p1"


def test_api_refuses_an_analysis_time_outside_the_plausible_range(demo: TestClient) -> None:
    # Found by the schema fuzzer: year 1 made the look-back windows overflow (a 500).
    patient = {"resourceType": "Patient", "id": "p1"}
    answer = demo.post("/api/analyze", json={"resources": [patient], "now": "0001-01-01T00:00:00Z"})
    assert answer.status_code == 422
    assert "between 1800 and 2199" in answer.text


def test_api_demo_analysis_matches_the_openapi_schema(demo: TestClient) -> None:
    schema = demo.get("/api/openapi.json").json()
    assert "/api/demo/patients/{name}" in schema["paths"]
    assert "AnalyzeIn" in schema["components"]["schemas"]
    assert "AnalysisOut" in schema["components"]["schemas"]
    analysis = demo.get("/api/demo/patients/seed-001-rmo-hip-ankle-knee").json()
    assert analysis["ranking"][0]["code"] == "regional_migratory_osteoporosis"
    assert analysis["timeline"]["migrations"]
