"""The body map is pure: lesion timeline in, SVG out (joints, sides, order numbers, migration arrows, escaping)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

from bmefhir.derive.model import Episode, LesionTimeline, Migration
from bmefhir.fhir.files import read_bundle
from bmefhir.pipeline import process_patient
from bmefhir.testing.examples import examples_dir
from bmefhir.web.body_map_svg import MID, body_map_svg, map_sites

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def ep(structure: str, side: str | None, joint: str | None, first: date, resolved: date | None = None) -> Episode:
    return Episode(structure, side, joint, first, first, resolved, (f"Observation/{structure}",))  # type: ignore[arg-type]


def sites_of(root: ET.Element) -> list[tuple[int, float, float]]:
    out = []
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "site":
            circle = g.find(f"{SVG}circle")
            assert circle is not None
            assert g.findtext(f"{SVG}text") == g.get("data-order")
            out.append((int(g.get("data-order", "0")), float(circle.get("cx", "0")), float(circle.get("cy", "0"))))
    return out


HIP_KNEE = LesionTimeline(
    episodes=(
        ep("medial_femoral_condyle", "left", "knee", date(2024, 5, 1)),  # listed first, seen second
        ep("femoral_head", "left", "hip", date(2024, 1, 10), resolved=date(2024, 4, 1)),
        ep("femoral_head", "right", "hip", date(2024, 9, 1)),
    ),
    migrations=(
        Migration(1, 0, 112, "adjacent_joint", True, ()),
        Migration(0, 2, 123, "distant", None, ()),
    ),
)


def test_sites_are_numbered_in_the_order_first_seen_on_their_joint_and_side() -> None:
    root = ET.fromstring(body_map_svg(HIP_KNEE))
    marks = sorted(sites_of(root))
    assert [m[0] for m in marks] == [1, 2, 3]
    (_, x1, y1), (_, _x2, y2), (_, x3, y3) = marks
    assert x1 > MID, "the patient's left hip is on the reader's right (front view)"
    assert x3 < MID, "the right hip on the reader's left"
    assert y1 == y3 < y2, "hips above the knee"
    assert x3 == 2 * MID - x1, "the two hips mirror each other"
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "side"]
    assert labels == ["R", "L"]


def test_migrations_are_arrows_between_the_numbered_sites_and_described() -> None:
    root = ET.fromstring(body_map_svg(HIP_KNEE))
    arrows = [p for p in root.iter(f"{SVG}path") if p.get("class") == "migration"]
    assert len(arrows) == 2
    assert all(a.get("marker-end") == "url(#bm-arrow)" for a in arrows)
    titles = [a.findtext(f"{SVG}title") for a in arrows]
    assert titles[0] == (
        "Migration 1 → 2: Left femoral head to left medial femoral condyle after 112 days "
        "(adjacent joint, proximal to distal)"
    )
    assert titles[1] is not None
    assert titles[1].startswith("Migration 2 → 3: Left medial femoral condyle to right")
    marks = {n: (x, y) for n, x, y in sites_of(root)}
    start = arrows[0].get("d", "").split()[0].removeprefix("M").split(",")
    assert abs(float(start[1]) - marks[1][1]) < 12, "the first arrow leaves the hip"


def test_title_and_desc_list_the_joints_in_order_for_screen_readers() -> None:
    root = ET.fromstring(body_map_svg(HIP_KNEE))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "bm-title bm-desc"
    assert root.findtext(f"{SVG}title", "").startswith("Body map")
    desc = root.findtext(f"{SVG}desc", "")
    first, second, third = (desc.index(s) for s in ("1. Left femoral head", "2. Left medial", "3. Right femoral head"))
    assert first < second < third
    assert "resolved by 2024-04-01" in desc
    assert "Migration 1 → 2" in desc


def test_bilateral_sites_are_marked_on_both_sides_and_unknown_sides_on_the_midline() -> None:
    timeline = LesionTimeline(
        episodes=(
            ep("femoral_head", "bilateral", "hip", date(2024, 1, 1)),
            ep("talus", None, "ankle", date(2024, 2, 1)),
        )
    )
    bilateral, unsided = map_sites(timeline)
    assert len(bilateral.points) == 2
    assert {round(x) for x, _ in bilateral.points} == {
        round(2 * MID - bilateral.points[0][0]),
        round(bilateral.points[0][0]),
    }
    assert unsided.points == ((MID, unsided.points[0][1]),)
    assert "side not recorded" in unsided.label
    root = ET.fromstring(body_map_svg(timeline))
    assert sorted(n for n, _, _ in sites_of(root)) == [1, 1, 2]


def test_two_sites_on_one_joint_do_not_hide_each_other_and_still_get_an_arrow() -> None:
    timeline = LesionTimeline(
        episodes=(
            ep("talus", "right", "ankle", date(2024, 1, 1)),
            ep("distal_tibia", "right", "ankle", date(2024, 4, 1)),
        ),
        migrations=(Migration(0, 1, 91, "same_joint", None, ()),),
    )
    root = ET.fromstring(body_map_svg(timeline))
    (_, xa, ya), (_, xb, yb) = sorted(sites_of(root))
    assert (xa - xb) ** 2 + (ya - yb) ** 2 >= 14**2
    assert [p.get("class") for p in root.iter(f"{SVG}path")].count("migration") == 1


def test_text_from_the_record_is_escaped_and_there_is_no_script() -> None:
    timeline = LesionTimeline(episodes=(ep('<script>alert("x")</script>&', "left", "knee", date(2024, 1, 1)),))
    svg = body_map_svg(timeline)
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    root = ET.fromstring(svg)  # well-formed despite the markup in the name
    assert 'alert("x")' in root.findtext(f"{SVG}desc", "")
    assert not any("http" in (e.get("href") or "") for e in root.iter())


def test_structures_the_map_cannot_place_are_still_listed() -> None:
    timeline = LesionTimeline(episodes=(ep("mandible", "left", None, date(2024, 1, 1)),))
    root = ET.fromstring(body_map_svg(timeline))
    assert sites_of(root) == []
    assert "not shown: no place on the map" in root.findtext(f"{SVG}desc", "")


def test_an_empty_timeline_says_so() -> None:
    root = ET.fromstring(body_map_svg(LesionTimeline()))
    assert root.findtext(f"{SVG}desc") == "No bone marrow edema site on record."


def test_the_seed_rmo_case_maps_four_sites_and_both_migrations() -> None:
    (raw,) = list(read_bundle(examples_dir() / "seed-001-rmo-hip-ankle-knee.json"))
    result = process_patient(raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues)
    root = ET.fromstring(body_map_svg(result.analysis.derived.timeline))
    assert sorted(n for n, _, _ in sites_of(root)) == [1, 2, 3, 4]
    assert all(x < MID for _, x, _ in sites_of(root)), "every site is on the patient's right"
    assert [p.get("class") for p in root.iter(f"{SVG}path")].count("migration") == 2
