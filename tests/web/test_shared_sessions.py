"""Two app processes behind one load balancer: the launch on one, the page and signing on the other."""

from __future__ import annotations

from bmefhir.smart.redis_sessions import new_session_key

from .client import launch, make_client, settings_for
from .harness import MockEhr

SEED = "seed-001-rmo-hip-ankle-knee"
COOKIE_NAME = "bmefhir_session"


def test_a_launch_on_one_worker_is_signed_in_on_another(ehr: MockEhr, patients: dict[str, str], redis_url: str) -> None:
    settings = settings_for(ehr.iss, session_store=redis_url, session_key=new_session_key())
    with make_client(settings) as first, make_client(settings) as second:
        answer = launch(first, ehr.iss, patients[SEED])
        assert answer.status_code == 303
        second.cookies.set(COOKIE_NAME, first.cookies[COOKIE_NAME])
        page = second.get("/patient")
        assert page.status_code == 200, page.text
        assert "Regional migratory osteoporosis" in page.text
        api = second.get("/api/patient")
        assert api.status_code == 200
        assert api.json()["ranking"][0]["code"] == "regional_migratory_osteoporosis"


def test_without_a_shared_store_the_other_worker_does_not_know_the_session(
    ehr: MockEhr, patients: dict[str, str]
) -> None:
    settings = settings_for(ehr.iss)
    with make_client(settings) as first, make_client(settings) as second:
        assert launch(first, ehr.iss, patients[SEED]).status_code == 303
        second.cookies.set(COOKIE_NAME, first.cookies[COOKIE_NAME])
        assert second.get("/patient").status_code == 401
