"""Negated mentions in free text are not read as the concept they name (NegEx-style)."""

from __future__ import annotations

import pytest

from bmefhir import terminology
from bmefhir.terminology.negation import negation_cue


def cue(text: str, term: str) -> str | None:
    start = text.lower().index(term.lower())
    return negation_cue(text, start, start + len(term))


@pytest.mark.parametrize(
    ("text", "term", "expected"),
    [
        ("No evidence of avascular necrosis", "avascular necrosis", "No evidence of"),
        ("no osteonecrosis", "osteonecrosis", "no"),
        ("Rule out osteomyelitis", "osteomyelitis", "Rule out"),
        ("r/o septic arthritis", "septic arthritis", "r/o"),
        ("Hip pain without osteonecrosis", "osteonecrosis", "without"),
        ("Negative for marrow edema", "marrow edema", "Negative for"),
        ("There is no sign of marrow edema in the femoral head", "marrow edema", "no sign of"),
        ("Avascular necrosis ruled out", "avascular necrosis", "ruled out"),
        ("Subchondral fracture: not seen", "subchondral fracture", "not seen"),
        ("osteomyelitis is absent", "osteomyelitis", "is absent"),
    ],
)
def test_negated_mentions_name_their_trigger(text: str, term: str, expected: str) -> None:
    assert cue(text, term) == expected


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("Osteonecrosis without collapse", "osteonecrosis"),  # the trigger follows the mention
        ("No fracture; bone marrow oedema of the femoral head", "bone marrow oedema"),  # another clause
        ("No fracture but bone marrow oedema", "bone marrow oedema"),  # contrast ends the scope
        ("No change in osteonecrosis of the left hip", "osteonecrosis"),  # pseudo-negation
        ("No trauma reported by the patient in recent years osteonecrosis", "osteonecrosis"),  # > 5 words
        ("Transient osteoporosis of the hip, not otherwise specified", "transient osteoporosis"),
        ("Knotty bone marrow edema", "bone marrow edema"),  # "not" only as a word
    ],
)
def test_affirmed_mentions_have_no_cue(text: str, term: str) -> None:
    assert cue(text, term) is None


def test_a_negated_keyword_does_not_map_and_says_why() -> None:
    text = "No evidence of avascular necrosis"
    assert terminology.concept_for_text(text, "condition") is None
    hit = terminology.negated_concept_for_text(text, "condition")
    assert hit is not None
    assert (hit[0].concept, hit[1]) == ("osteonecrosis", "No evidence of")


def test_an_affirmed_mention_wins_over_a_negated_one() -> None:
    text = "No osteonecrosis. Transient osteoporosis of the hip"
    found = terminology.concept_for_text(text, "condition")
    assert found is not None
    assert found.concept == "transient_osteoporosis"
    assert terminology.negated_concept_for_text(text, "condition") is None


def test_the_same_keyword_negated_once_and_affirmed_later_is_affirmed() -> None:
    text = "no osteonecrosis on the right; osteonecrosis of the left femoral head"
    found = terminology.concept_for_text(text, "condition")
    assert found is not None
    assert found.concept == "osteonecrosis"
