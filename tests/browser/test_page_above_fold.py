"""The page a clinician reads in 30 seconds (issue 12, item 7), in real Chromium at 1280x800: the
patient line, the red flags (one line per candidate), the leading candidates and the timeline and
body map lie above the fold; the details below; the sign form one click away. Demo pages: the
example patients, no EHR needed. Each page's screenshot is kept in test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bmefhir.web import WebSettings, create_app, get_settings
from tests.web.harness import free_port, serve_app

FOLD = 800
VIEWPORT = {"width": 1280, "height": FOLD}
ABOVE = ("#patient-line", "#leading", "#timeline svg.timeline", "#body-map svg.body-map")
BELOW = ("#dd-h", "#ev-h", "#ns-h", "#dq-h", "#sign")
# No red flag; seven red flags on two candidates; six on one; a migrating case; text-only findings.
CASES = {
    "seed-001-rmo-hip-ankle-knee": 0,
    "synth-septic-arthritis": 2,
    "synth-metastasis": 1,
    "synth-steroid-osteonecrosis": 1,
    "seed-003-rmo-sacroiliac": 0,
}


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    port = free_port()
    settings = WebSettings(_env_file=None, public_url=f"http://127.0.0.1:{port}", dev=True, demo=True)  # type: ignore[call-arg]
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    with serve_app(app, port) as url:
        yield url


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    yield page
    context.close()


def box(page: Any, selector: str) -> dict[str, float]:
    element = page.locator(selector)
    assert element.count() == 1, f"{selector}: {element.count()} elements"
    found: dict[str, float] | None = element.bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return found


@pytest.mark.parametrize(("name", "flagged"), CASES.items())
def test_the_30_second_view_is_above_the_fold(
    tab: Any, demo_url: str, artifacts: Path, name: str, flagged: int
) -> None:
    tab.goto(f"{demo_url}/demo/{name}")
    tab.screenshot(path=str(artifacts / f"above-fold-{name}.png"))
    assert tab.evaluate("window.scrollY") == 0
    for selector in ABOVE + (("#red-flags",) if flagged else (".no-flags",)):
        b = box(tab, selector)
        assert b["y"] >= 0, selector
        assert b["y"] + b["height"] <= FOLD, f"{selector} ends at {b['y'] + b['height']:.0f} px, below the fold"
        assert b["height"] > 10, selector
    for selector in BELOW:
        assert box(tab, selector)["y"] >= FOLD - 60, f"{selector} belongs below the fold"
    assert box(tab, "#body-map svg.body-map")["width"] >= 150, "the body map is legible"
    assert box(tab, "#timeline svg.timeline")["width"] >= 560, "the timeline is legible"
    leading = tab.locator("#leading tr")
    assert leading.count() == 3
    assert all("%" in leading.nth(i).inner_text() for i in range(3)), "each leading candidate has its probability"


@pytest.mark.parametrize("name", ["synth-septic-arthritis", "synth-steroid-osteonecrosis"])
def test_red_flags_are_one_line_per_candidate_with_the_criteria_behind_details(
    tab: Any, demo_url: str, artifacts: Path, name: str
) -> None:
    tab.goto(f"{demo_url}/demo/{name}")
    lines = tab.locator("#red-flags li.flag-line")
    candidates = lines.evaluate_all("els => els.map(e => e.dataset.candidate)")
    assert candidates, "the case raises red flags"
    assert len(candidates) == len(set(candidates)), "one line per candidate, however many criteria"
    line_height = tab.evaluate("parseFloat(getComputedStyle(document.querySelector('#red-flags summary')).lineHeight)")
    first = lines.nth(0)
    summary = first.locator("summary")
    assert summary.bounding_box()["height"] <= 1.5 * line_height, "a candidate's flags take one line"
    criteria = first.locator(".flag-criteria > li")
    count = criteria.count()
    assert f"{count} criteri" in summary.inner_text()
    assert not criteria.first.is_visible(), "the criteria are behind the summary"
    summary.click()
    assert criteria.first.is_visible()
    assert criteria.nth(count - 1).locator(".cite").count() == 1, "each criterion keeps its citation"
    tab.screenshot(path=str(artifacts / f"red-flags-open-{name}.png"))


def test_the_sign_form_is_one_click_from_the_top(tab: Any, demo_url: str) -> None:
    tab.goto(f"{demo_url}/demo/seed-000-transient-osteoporosis-hip")
    link = tab.locator("#patient-line a.to-sign")
    assert box(tab, "#patient-line a.to-sign")["y"] < 120
    assert box(tab, "#sign")["y"] > FOLD
    link.click()
    tab.wait_for_function("window.scrollY > 0")
    sign = box(tab, "#sign")
    assert 0 <= sign["y"] < FOLD, "after the click the sign section is in view"
    assert tab.url.endswith("#sign")
