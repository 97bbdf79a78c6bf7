"""CORS on /cds-services only, for the allow-listed origins (issue 12, item 6); the real app."""

from __future__ import annotations

from bmefhir.web.cds_routes import SERVICE_ID

from .client import make_client, settings_for

SANDBOX = "https://sandbox.cds-hooks.org"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def test_preflight_answers_listed_origins_only() -> None:
    with make_client(settings_for("https://ehr.example/fhir", cds_cors_origins=[SANDBOX])) as client:
        ok = client.options(f"/cds-services/{SERVICE_ID}", headers={"Origin": SANDBOX, **PREFLIGHT})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == SANDBOX
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in ok.headers
        other = client.options(f"/cds-services/{SERVICE_ID}", headers={"Origin": "https://evil.example", **PREFLIGHT})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        discovery = client.get("/cds-services", headers={"Origin": SANDBOX})
        assert discovery.headers["access-control-allow-origin"] == SANDBOX
        # The SMART pages and /api stay same-origin, whatever the CDS allow-list says.
        api = client.get("/api/health", headers={"Origin": SANDBOX})
        assert "access-control-allow-origin" not in api.headers


def test_no_cors_without_an_allow_list() -> None:
    with make_client(settings_for("https://ehr.example/fhir")) as client:
        answer = client.get("/cds-services", headers={"Origin": SANDBOX})
        assert answer.status_code == 200
        assert "access-control-allow-origin" not in answer.headers
