"""Symptoms and examination: the symptom facts and the dated symptom events."""

from __future__ import annotations

from datetime import date

from bmefhir.anatomy import lane_label
from bmefhir.derive.factset import FactSet, Votes
from bmefhir.derive.history import is_flag
from bmefhir.derive.model import SymptomEvent
from bmefhir.derive.recordindex import RecordIndex
from bmefhir.derive.registry import THRESHOLDS
from bmefhir.record import Site

# fact → observation concepts that say it (True/False); any True wins.
SYMPTOM_FACTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fever", ("fever",)),
    ("weight_bearing_pain", ("weight_bearing_pain",)),
    ("rest_or_night_pain", ("rest_pain", "night_pain_nsaid_relief")),
    ("night_pain_nsaid_relief", ("night_pain_nsaid_relief",)),
    ("sudden_onset_pain", ("sudden_onset_pain",)),
    ("rom_disproportionately_preserved", ("rom_limitation_mild",)),
    ("rom_limited", ("rom_limited",)),
    ("joint_swelling_or_warmth", ("joint_swelling", "joint_warmth")),
    ("skin_changes", ("skin_changes",)),
    ("allodynia", ("allodynia",)),
    ("inflammatory_back_pain", ("inflammatory_back_pain", "morning_stiffness")),
    ("constitutional_symptoms", ("weight_loss", "night_sweats", "constitutional_symptoms")),
)
# Observation concepts drawn as symptom events when present.
EVENT_OBSERVATIONS = frozenset({c for _, concepts in SYMPTOM_FACTS for c in concepts} | {"limp"})
# Presenting-complaint conditions drawn as symptom events at their onset.
EVENT_CONDITIONS = ("joint_pain", "low_back_pain", "crps")
# What dates the onset of symptoms (for the early-imaging caveats).
ONSET_OBSERVATIONS = ("sudden_onset_pain",)


def _label(site: Site | None) -> str | None:
    return lane_label(site.structure, site.side) if site else None


def symptom_events(index: RecordIndex) -> tuple[SymptomEvent, ...]:
    events: list[SymptomEvent] = []
    today = index.today
    for concept in EVENT_OBSERVATIONS:
        for obs in index.observations.get(concept, ()):
            if obs.value is not False and is_flag(obs.value) and (obs.date is None or obs.date <= today):
                events.append(SymptomEvent(concept, obs.date, _label(obs.site), obs.ref))
    fever_limit = THRESHOLDS["fever_celsius"][0]
    for obs in index.observations.get("body_temperature", ()):
        value, when = obs.value, obs.date
        if not is_flag(value) and value is not None and value >= fever_limit and (when is None or when <= today):
            events.append(SymptomEvent("fever", when, None, obs.ref))
    for cond in index.conditions_of(*EVENT_CONDITIONS):
        events.append(SymptomEvent(cond.concept, cond.onset, _label(cond.site), cond.ref))
    events.sort(key=lambda e: (e.date or date.min, e.concept, e.ref))
    return tuple(events)


def onset_dates(index: RecordIndex, events: tuple[SymptomEvent, ...]) -> list[tuple[date, str]]:
    """Dated symptom onsets (date, ref), sorted: complaint conditions and sudden-onset pain."""
    onset = {*EVENT_CONDITIONS, *ONSET_OBSERVATIONS}
    return sorted({(e.date, e.ref) for e in events if e.date is not None and e.concept in onset})


def derive_symptoms(index: RecordIndex, bme_start: date | None, facts: FactSet) -> None:
    start = index.window_start(bme_start)
    for name, concepts in SYMPTOM_FACTS:
        votes = Votes()
        for concept in concepts:
            for obs in index.observations.get(concept, ()):
                if is_flag(obs.value) and index.in_window(obs.date, start):
                    when = obs.date.isoformat() if obs.date else "undated"
                    votes.vote(obs.value is not False, obs.ref, f"{concept} {when}")
        if name == "fever":
            limit = THRESHOLDS["fever_celsius"][0]
            for obs in index.observations.get("body_temperature", ()):
                if not is_flag(obs.value) and obs.value is not None and index.in_window(obs.date, start):
                    when = obs.date.isoformat() if obs.date else "undated"
                    votes.vote(obs.value >= limit, obs.ref, f"temperature {obs.value:g} Cel {when}")
        facts.decide(name, votes)
