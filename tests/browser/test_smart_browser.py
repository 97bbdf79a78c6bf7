"""The SMART app in a real browser: EHR and standalone launch, sign & write back, and the refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bmefhir.fhir.client import FhirClient
from tests.web.harness import AppClock, MockEhr

SEED = "seed-001-rmo-hip-ankle-knee"


def _ehr_launch(page: Any, app_url: str, ehr: MockEhr, patient: str) -> Any:
    return page.goto(f"{app_url}/launch?iss={ehr.iss}&launch=patient-{patient}")


def test_ehr_launch_page_sign_and_report_on_hapi(
    page: Any, app_url: str, ehr: MockEhr, patients: dict[str, str], hapi_base: str, artifacts: Path
) -> None:
    patient = patients[SEED]
    answer = _ehr_launch(page, app_url, ehr, patient)
    assert answer.status == 200
    assert page.url == f"{app_url}/patient"
    assert page.get_by_role("heading", name="Differential diagnosis").is_visible()
    assert page.locator("svg.timeline").is_visible()
    page.screenshot(path=str(artifacts / "ehr-launch-page.png"), full_page=True)
    page.set_viewport_size({"width": 420, "height": 900})  # a narrow EHR side panel
    page.screenshot(path=str(artifacts / "ehr-launch-narrow.png"), full_page=False)
    page.get_by_label("Comment").fill("Agree: regional migratory osteoporosis.")
    page.get_by_role("button", name="Sign and write to the record").click()
    page.screenshot(path=str(artifacts / "signed.png"))
    assert page.get_by_role("heading", name="Signed and saved").is_visible(), page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "signed.png"))
    with FhirClient(hapi_base) as fhir:
        reports = list(fhir.search("DiagnosticReport", {"subject": f"Patient/{patient}", "status": "final"}))
    assert len(reports) == 1
    assert "Agree" in str(reports[0])


def test_standalone_launch(page: Any, app_url: str, ehr: MockEhr, patients: dict[str, str]) -> None:
    ehr.control(patient=patients["synth-septic-arthritis"])
    answer = page.goto(f"{app_url}/standalone")
    assert answer.status == 200
    assert page.get_by_role("alert").first.is_visible()  # red flags first
    assert "Red flags" in page.locator("section.red-flags h2").inner_text()


def test_forged_and_replayed_state(page: Any, app_url: str, ehr: MockEhr, patients: dict[str, str]) -> None:
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/callback?" in r.url else None)
    assert _ehr_launch(page, app_url, ehr, patients[SEED]).status == 200
    replay = page.goto(callbacks[0])
    assert replay.status == 400
    assert "already used" in page.content()
    assert page.goto(f"{app_url}/callback?state=forged&code=x").status == 400


def test_unlisted_iss(page: Any, app_url: str) -> None:
    answer = page.goto(f"{app_url}/launch?iss=https://rogue.example/fhir&launch=x")
    assert answer.status == 400
    assert page.get_by_role("heading", name="Unknown EHR").is_visible()


def test_denied_consent(page: Any, app_url: str, ehr: MockEhr, patients: dict[str, str], artifacts: Path) -> None:
    ehr.control(deny=True)
    answer = _ehr_launch(page, app_url, ehr, patients[SEED])
    assert answer.status == 403
    assert page.get_by_role("heading", name="Access not granted").is_visible()
    page.screenshot(path=str(artifacts / "denied.png"))


def test_expired_token_is_refreshed(
    page: Any, app_url: str, app_clock: AppClock, ehr: MockEhr, patients: dict[str, str]
) -> None:
    assert _ehr_launch(page, app_url, ehr, patients[SEED]).status == 200
    refreshes = ehr.counters()["refresh"]
    app_clock.advance(hours=2)  # past the token's life (1 h at the mock EHR), within the session's 8 h idle limit
    try:
        assert page.reload().status == 200
    finally:
        app_clock.offset = timedelta(0)
    assert ehr.counters()["refresh"] == refreshes + 1


def test_write_scope_not_granted(page: Any, app_url: str, ehr: MockEhr, patients: dict[str, str]) -> None:
    ehr.control(withhold=[".crus", ".cu", ".write"])
    assert _ehr_launch(page, app_url, ehr, patients[SEED]).status == 200
    assert "Write-back is disabled" in page.locator("section.sign").inner_text()
    assert page.get_by_role("button", name="Sign and write to the record").count() == 0


def test_demo_mode(page: Any, app_url: str, artifacts: Path) -> None:
    assert page.goto(f"{app_url}/demo").status == 200
    page.get_by_role("link", name="synth-steroid-osteonecrosis").click()
    assert page.get_by_role("heading", name="Timeline").is_visible()
    page.emulate_media(media="print")
    page.screenshot(path=str(artifacts / "demo-print.png"), full_page=True)
