"""Every criterion in the knowledge base can fire, and moves its candidates the way it says."""

from __future__ import annotations

import pytest

from bmefhir.derive.model import FactValue
from bmefhir.derive.registry import FACTS
from bmefhir.differential.combine import diminishing
from bmefhir.differential.conditions import AllOf, AnyOf, Condition, FactCompare, FactIs, NotOf
from bmefhir.differential.engine import run_differential
from bmefhir.differential.knowledge_base import Criterion, load_knowledge
from bmefhir.differential.model import CandidateResult
from tests.differential.scenarios import derived

KB = load_knowledge()
# An imaging fact no criterion reads, so the engine never treats the patient as "no imaging".
NEUTRAL_IMAGING = "follow_up_mri_done"


def satisfy(cond: Condition, facts: dict[str, FactValue]) -> None:
    """Add facts to ``facts`` that make ``cond`` true (a small generic satisfier)."""
    if isinstance(cond, FactIs):
        if cond.state == "true":
            facts[cond.fact] = True
        elif cond.state == "false":
            facts[cond.fact] = False
        elif cond.state == "known":
            facts[cond.fact] = True if FACTS[cond.fact].kind == "bool" else 1.0
        else:  # not_true: leave it unknown
            facts.pop(cond.fact, None)
    elif isinstance(cond, FactCompare):
        step = {"gt": 1.0, "ge": 0.0, "lt": -1.0, "le": 0.0}[cond.op]
        facts[cond.fact] = cond.threshold + step
    elif isinstance(cond, AllOf):
        for item in cond.items:
            satisfy(item, facts)
    elif isinstance(cond, AnyOf):
        satisfy(cond.items[0], facts)
    elif isinstance(cond, NotOf):
        falsify(cond.item, facts)
    else:  # pragma: no cover - a new node type needs a rule here
        raise TypeError(type(cond))


def falsify(cond: Condition, facts: dict[str, FactValue]) -> None:
    """Add facts to ``facts`` that make ``cond`` false."""
    if isinstance(cond, FactIs):
        if cond.state == "known":
            facts.pop(cond.fact, None)
        else:
            facts[cond.fact] = cond.state != "true"
    elif isinstance(cond, FactCompare):
        step = {"gt": 0.0, "ge": -1.0, "lt": 0.0, "le": 1.0}[cond.op]
        facts[cond.fact] = cond.threshold + step
    elif isinstance(cond, AllOf):
        falsify(cond.items[0], facts)
    elif isinstance(cond, AnyOf):
        for item in cond.items:
            falsify(item, facts)
    elif isinstance(cond, NotOf):
        satisfy(cond.item, facts)
    else:  # pragma: no cover
        raise TypeError(type(cond))


def _effective(criterion: Criterion, code: str, ranking: tuple[CandidateResult, ...]) -> float:
    """The weight the criterion should show: its own, diminished by stronger fired criteria of its group."""
    result = next(r for r in ranking if r.code == code)
    fired = {h.criterion_id for h in (*result.supporting, *result.opposing)}
    group = [c for c in KB.criteria if c.group == criterion.group and c.id in fired]
    raw = [dict(c.effects)[code] for c in group]
    return diminishing(raw, KB.combination_ratio)[[c.id for c in group].index(criterion.id)]


@pytest.mark.parametrize("criterion", KB.criteria, ids=lambda c: c.id)
def test_criterion_fires_with_its_signs(criterion: Criterion) -> None:
    facts: dict[str, FactValue] = {}
    satisfy(criterion.when, facts)
    assert criterion.when.matches(derived(facts).facts)[0], f"satisfier failed for {criterion.id}"
    facts.setdefault(NEUTRAL_IMAGING, True)

    result = run_differential(derived(facts), KB)
    by_code = {r.code: r for r in result.ranking}
    for code, weight in criterion.effects:
        hits = by_code[code].supporting if weight > 0 else by_code[code].opposing
        hit = next((h for h in hits if h.criterion_id == criterion.id), None)
        assert hit is not None, f"{criterion.id} did not move {code}"
        assert hit.weight == pytest.approx(_effective(criterion, code, result.ranking), abs=1e-4)
        assert hit.citation == criterion.citation
        assert set(hit.facts) <= set(facts)
    if criterion.red_flag is not None:
        assert any(f.criterion_id == criterion.id and f.code == criterion.red_flag.candidate for f in result.red_flags)


def test_fired_hits_carry_the_evidence_of_the_facts_they_used() -> None:
    crit = next(c for c in KB.criteria if c.id == "ON-GC-HIP")
    facts: dict[str, FactValue] = {}
    satisfy(crit.when, facts)
    result = run_differential(derived(facts), KB)
    on = next(r for r in result.ranking if r.code == "osteonecrosis")
    hit = next(h for h in on.supporting if h.criterion_id == "ON-GC-HIP")
    assert hit.evidence == ("Observation/bme_hip", "Observation/glucocorticoid_exposure")
    assert hit.facts == ("glucocorticoid_exposure", "bme_hip")
