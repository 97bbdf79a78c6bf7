"""Withhold treatment steps whose drug class is contraindicated for this patient.

Pure: the suggested steps, the knowledge base and the derived facts in; the steps to show and
the withheld ones (each with every matching contraindication, its citation and its evidence)
out. A treatment step is never silently dropped: it moves to ``Differential.withheld`` so the
clinician sees what was not suggested and why. Contraindications are data
(``knowledge/contraindications.yaml``), each cited to a product label or a guideline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bmefhir.derive.model import Fact
from bmefhir.differential.knowledge_base import Contraindication, KnowledgeBase
from bmefhir.differential.model import NextStep, WithheldStep, WithholdReason


def contraindications_for(
    drugs: Iterable[str], contraindications: Iterable[Contraindication], facts: Mapping[str, Fact]
) -> tuple[WithholdReason, ...]:
    """Every contraindication of any of ``drugs`` that the facts match, in file order."""
    wanted = set(drugs)
    out: list[WithholdReason] = []
    for ci in contraindications:
        if not wanted & set(ci.drugs):
            continue
        matched, used = ci.when.matches(facts)
        if not matched:
            continue
        refs = sorted({ref for name in used if (fact := facts.get(name)) is not None for ref in fact.evidence})
        out.append(WithholdReason(ci.id, ci.reason, ci.citation, tuple(refs)))
    return tuple(out)


def screen_steps(
    kb: KnowledgeBase, steps: Iterable[NextStep], facts: Mapping[str, Fact]
) -> tuple[tuple[NextStep, ...], tuple[WithheldStep, ...]]:
    """Split suggested steps into those shown and the treatments withheld for a contraindication."""
    specs = {spec.id: spec for spec in kb.next_steps}
    shown: list[NextStep] = []
    withheld: list[WithheldStep] = []
    for step in steps:
        spec = specs.get(step.id)
        drugs = spec.treatment if spec is not None else ()
        reasons = contraindications_for(drugs, kb.contraindications, facts) if drugs else ()
        if reasons:
            withheld.append(WithheldStep(step.id, step.text, drugs, reasons))
        else:
            shown.append(step)
    return tuple(shown), tuple(withheld)
