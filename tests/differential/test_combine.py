"""The combination model: grouped criteria count with diminishing weight; no probability is 0 or 1."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bmefhir.differential.combine import diminishing, probabilities
from bmefhir.differential.confidence import confidence_band
from bmefhir.differential.engine import run_differential
from bmefhir.differential.knowledge_base import load_knowledge

from . import scenarios as s


def test_diminishing_counts_the_strongest_fully_and_halves_the_rest_per_sign() -> None:
    assert diminishing([1.0, 2.0, 0.5, -1.0, -3.0], 0.5) == [0.5, 2.0, 0.125, -0.5, -3.0]
    assert diminishing([1.0, 2.0], 1.0) == [1.0, 2.0]  # ratio 1: the plain sum
    assert diminishing([1.0, 2.0], 0.0) == [0.0, 2.0]  # ratio 0: the strongest only


def test_probabilities_stay_inside_0_and_1_and_sum_to_one() -> None:
    p = probabilities({"a": 50.0, "b": 0.0, "c": -50.0}, uncertainty=0.02)
    assert min(p.values()) > 0.0
    assert max(p.values()) < 1.0
    assert sum(p.values()) == pytest.approx(1.0, abs=1e-3)
    assert probabilities({"a": 50.0, "b": 0.0}, uncertainty=0.0)["a"] == 1.0  # what the floor prevents


def test_correlated_crp_levels_no_longer_add_as_if_independent() -> None:
    kb = load_knowledge()
    facts = {**s.SEED_000, "crp_mg_l": 150.0, "crp_elevated": True, "crp_high": True}
    grouped = run_differential(s.derived(facts), kb)
    independent = run_differential(s.derived(facts), replace(kb, combination_ratio=1.0))
    score = {r.code: r.score for r in grouped.ranking}["infection"]
    plain = {r.code: r.score for r in independent.ranking}["infection"]
    # CRP > 10 (0.7), > 50 (1.5), > 100 (1.0) are one measurement: 1.5 + 1.0 r + 0.7 r^2, not 3.2.
    r = kb.combination_ratio
    assert plain - score == pytest.approx((1.0 - 1.0 * r) + (0.7 - 0.7 * r * r), abs=1e-3)
    assert plain - score > 0.5
    hit = next(
        h for r in grouped.ranking if r.code == "infection" for h in r.supporting if h.criterion_id == "INF-CRP-HIGH"
    )
    assert hit.weight == 1.5  # the strongest of the group counts fully


def test_no_example_scenario_is_shown_as_certain() -> None:
    for scenario in (s.SEED_000, s.SEED_001, s.METASTASIS, s.SPONDYLOARTHRITIS, s.PREGNANCY_HIP):
        ranking = run_differential(s.derived(scenario)).ranking
        assert ranking[-1].probability > 0.0
        assert ranking[0].probability < 0.99


def test_every_criterion_has_a_group_and_groups_are_shared() -> None:
    kb = load_knowledge()
    assert all(c.group for c in kb.criteria)
    sizes: dict[str, int] = {}
    for c in kb.criteria:
        sizes[c.group] = sizes.get(c.group, 0) + 1
    assert sizes["inflammatory_labs"] >= 3
    assert sizes["subchondral_mri"] >= 5
    assert 0.0 < kb.combination_ratio < 1.0
    assert 0.0 < kb.uncertainty < 0.1


@pytest.mark.parametrize(
    ("p", "leading", "words"),
    [
        (0.9, True, "leading, high confidence"),
        (0.6, True, "leading, moderate confidence"),
        (0.3, True, "leading, low confidence"),
        (0.2, False, "plausible alternative"),
        (0.05, False, "less likely"),
        (0.01, False, "unlikely"),
    ],
)
def test_confidence_bands(p: float, leading: bool, words: str) -> None:
    assert confidence_band(p, leading) == words
