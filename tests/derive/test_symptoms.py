"""Symptom and examination facts and the symptom events."""

from __future__ import annotations

from bmefhir.record import Site

from .builders import bme, cond, d, obs, run


def test_fever_from_temperature_or_finding() -> None:
    assert run(obs("body_temperature", 38.4)).facts["fever"].value is True
    assert run(obs("body_temperature", 36.9)).facts["fever"].value is False
    assert run(obs("fever", True)).facts["fever"].value is True
    assert "fever" not in run().facts


def test_symptom_facts_are_tri_state() -> None:
    facts = run(
        obs("weight_bearing_pain", True),
        obs("rest_pain", False),
        obs("joint_warmth", False),
        obs("joint_swelling", True),
        obs("morning_stiffness", True),
        obs("night_sweats", False),
    ).facts
    assert facts["weight_bearing_pain"].value is True
    assert facts["rest_or_night_pain"].value is False
    assert facts["joint_swelling_or_warmth"].value is True  # any yes wins
    assert facts["inflammatory_back_pain"].value is True
    assert facts["constitutional_symptoms"].value is False
    assert "allodynia" not in facts


def test_old_exam_outside_the_window_does_not_count() -> None:
    facts = run(bme("2024-01-10", "talus", "right"), obs("skin_changes", True, "2022-01-01")).facts
    assert "skin_changes" not in facts


def test_symptom_events_are_sorted_and_labelled() -> None:
    derived = run(
        obs("limp", True, "2024-02-01", Site("talus", "right")),
        obs("rest_pain", False, "2024-01-01"),  # negative: not an event
        obs("body_temperature", 38.5, "2024-01-15"),
        cond("joint_pain", "2024-01-05", Site("ankle", "right")),
    )
    events = [(e.concept, e.date, e.site_label) for e in derived.symptoms]
    assert events == [
        ("joint_pain", d("2024-01-05"), "Right ankle joint"),
        ("fever", d("2024-01-15"), None),
        ("limp", d("2024-02-01"), "Right talus"),
    ]
