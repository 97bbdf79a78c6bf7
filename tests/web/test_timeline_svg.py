"""The timeline picture is pure: analysis in, SVG out."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from bmefhir.fhir.files import read_bundle
from bmefhir.pipeline import process_patient
from bmefhir.testing.examples import examples_dir
from bmefhir.web.timeline_svg import timeline_svg

NOW = datetime(2025, 1, 1, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def _svg(name: str) -> ET.Element:
    (raw,) = list(read_bundle(examples_dir() / f"{name}.json"))
    result = process_patient(raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues)
    return ET.fromstring(timeline_svg(result.analysis))


def test_one_lane_per_site_and_a_bar_per_episode() -> None:
    root = _svg("seed-001-rmo-hip-ankle-knee")
    bars = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "episode"]
    lanes = [e for e in root.iter(f"{SVG}text") if e.get("class") == "lane"]
    assert len(bars) >= 3
    assert len(lanes) >= len({b.findtext(f"{SVG}title", "").split(":")[0] for b in bars})
    arrows = [e for e in root.iter(f"{SVG}path") if e.get("class") == "migration"]
    assert arrows
    assert all(a.get("marker-end") == "url(#arrow)" for a in arrows)


def test_glucocorticoid_exposure_is_a_band() -> None:
    root = _svg("synth-steroid-osteonecrosis")
    bands = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "exposure"]
    assert bands
    assert any(b.get("fill") == "#e67e22" for b in bands)


def test_no_scripts_or_external_references() -> None:
    for name in ("seed-000-transient-osteoporosis-hip", "synth-metastasis"):
        root = _svg(name)
        assert not list(root.iter(f"{SVG}script"))
        assert all("http" not in (e.get("href") or "") for e in root.iter())


def test_empty_record_renders_a_message() -> None:
    result = process_patient([{"resourceType": "Patient", "id": "x"}], NOW)
    svg = timeline_svg(result.analysis)
    assert "No bone marrow edema imaging" in svg
    ET.fromstring(svg)
