"""Treatments are withheld, with the reason shown, when the record matches a contraindication.

One case per contraindication in knowledge/contraindications.yaml (a test fails when one is added
without a case here). Each case starts from seed 000 (transient osteoporosis leads, so the
bisphosphonate, NSAID and vitamin D steps are suggested) and adds the facts that match.
"""

from __future__ import annotations

import pytest

from bmefhir.derive.model import Fact
from bmefhir.differential.engine import run_differential
from bmefhir.differential.knowledge_base import load_knowledge
from bmefhir.differential.safety import contraindications_for

from . import scenarios as s

# contraindication id → (drug class, facts that must trigger it)
CASES: dict[str, tuple[str, s.Facts]] = {
    "CI-BISPHOSPHONATE-PREGNANCY": ("bisphosphonate", {"pregnant": True}),
    "CI-BISPHOSPHONATE-BREASTFEEDING": ("bisphosphonate", {"breastfeeding": True}),
    "CI-BISPHOSPHONATE-POSTPARTUM-LACTATION-UNKNOWN": ("bisphosphonate", {"postpartum_recent": True}),
    "CI-BISPHOSPHONATE-PAEDIATRIC": ("bisphosphonate", {"paediatric": True}),
    "CI-BISPHOSPHONATE-RENAL": ("bisphosphonate", {"egfr_min": 28.0, "renal_disease": True}),
    "CI-BISPHOSPHONATE-HYPOCALCAEMIA": ("bisphosphonate", {"hypocalcaemia": True}),
    "CI-DENOSUMAB-PREGNANCY": ("denosumab", {"pregnant": True}),
    "CI-DENOSUMAB-BREASTFEEDING": ("denosumab", {"breastfeeding": True}),
    "CI-DENOSUMAB-PAEDIATRIC": ("denosumab", {"paediatric": True}),
    "CI-DENOSUMAB-HYPOCALCAEMIA": ("denosumab", {"hypocalcaemia": True}),
    "CI-DENOSUMAB-ADVANCED-CKD": ("denosumab", {"egfr_min": 25.0}),
    "CI-TERIPARATIDE-PREGNANCY": ("teriparatide", {"pregnant": True}),
    "CI-TERIPARATIDE-BREASTFEEDING": ("teriparatide", {"breastfeeding": True}),
    "CI-TERIPARATIDE-OPEN-EPIPHYSES": ("teriparatide", {"paediatric": True}),
    "CI-TERIPARATIDE-HYPERCALCAEMIA": ("teriparatide", {"hypercalcaemia": True}),
    "CI-NSAID-PREGNANCY-20-WEEKS": ("nsaid", {"pregnant": True, "pregnancy_weeks": 24.0}),
    "CI-NSAID-ADVANCED-CKD": ("nsaid", {"egfr_min": 22.0}),
    "CI-VITAMIN-D-HYPERCALCAEMIA": ("vitamin_d", {"hypercalcaemia": True}),
}
# The step that proposes each drug class.
STEP = {"bisphosphonate": "NS-BISPHOSPHONATE", "nsaid": "NS-NSAID", "vitamin_d": "NS-VITAMIN-D-REPLACE"}
BASE: s.Facts = {**s.SEED_000, "low_vitamin_d": True, "vitamin_d_ng_ml": 14.0, "female": True, "male": False}


def _facts(extra: s.Facts) -> dict[str, Fact]:
    return s.derived({**BASE, **extra}).facts


def test_every_contraindication_has_a_case() -> None:
    assert {ci.id for ci in load_knowledge().contraindications} == set(CASES)


def test_every_contraindication_is_cited() -> None:
    for ci in load_knowledge().contraindications:
        assert ci.citation.text, ci.id
        assert ci.citation.document or ci.citation.seed or ci.citation.doi, ci.id
        assert ci.reason, ci.id


def test_without_a_contraindication_the_treatments_are_suggested() -> None:
    result = run_differential(s.derived(BASE))
    shown = {n.id for n in result.next_steps}
    assert {"NS-BISPHOSPHONATE", "NS-NSAID", "NS-VITAMIN-D-REPLACE"} <= shown
    assert result.withheld == ()


@pytest.mark.parametrize("cid", sorted(CASES))
def test_contraindication_matches_its_case(cid: str) -> None:
    drug, extra = CASES[cid]
    kb = load_knowledge()
    assert cid in {r.contraindication_id for r in contraindications_for([drug], kb.contraindications, _facts(extra))}
    # ... and not the base record, so the case is what triggers it.
    assert cid not in {r.contraindication_id for r in contraindications_for([drug], kb.contraindications, _facts({}))}


# In a child TO/RMO no longer lead (test_paediatric.py), so the step is not even suggested: tested below.
END_TO_END = sorted(c for c, (drug, extra) in CASES.items() if drug in STEP and "paediatric" not in extra)


@pytest.mark.parametrize("cid", END_TO_END)
def test_a_contraindicated_treatment_is_withheld_with_its_reason(cid: str) -> None:
    drug, extra = CASES[cid]
    result = run_differential(s.derived({**BASE, **extra}))
    assert STEP[drug] not in {n.id for n in result.next_steps}
    withheld = {w.id: w for w in result.withheld}
    assert STEP[drug] in withheld
    reasons = {r.contraindication_id: r for r in withheld[STEP[drug]].reasons}
    assert cid in reasons
    assert reasons[cid].citation.text
    assert reasons[cid].evidence


def test_any_stage_of_pregnancy_withholds_the_bisphosphonate() -> None:
    """The tester's case: "Pregnancy status = Pregnant", not late pregnancy."""
    result = run_differential(s.derived({**BASE, "pregnant": True, "pregnancy_late_or_postpartum": False}))
    assert "NS-BISPHOSPHONATE" in {w.id for w in result.withheld}


def test_nsaid_before_20_weeks_is_not_withheld_but_unknown_gestation_is() -> None:
    early = run_differential(s.derived({**BASE, "pregnant": True, "pregnancy_weeks": 12.0}))
    assert "NS-NSAID" in {n.id for n in early.next_steps}
    unknown = run_differential(s.derived({**BASE, "pregnant": True}))
    assert "NS-NSAID" in {w.id for w in unknown.withheld}


def test_a_contradicted_pregnancy_record_still_withholds() -> None:
    result = run_differential(s.derived({**BASE, "pregnancy_unverified": True}))
    assert {"NS-BISPHOSPHONATE", "NS-NSAID"} <= {w.id for w in result.withheld}


def test_renal_disease_without_an_egfr_withholds_the_bisphosphonate() -> None:
    result = run_differential(s.derived({**BASE, "renal_disease": True}))
    assert "CI-BISPHOSPHONATE-RENAL" in {r.contraindication_id for w in result.withheld for r in w.reasons}
    fine = run_differential(s.derived({**BASE, "renal_disease": True, "egfr_min": 50.0}))
    assert "NS-BISPHOSPHONATE" in {n.id for n in fine.next_steps}


def test_every_treatment_step_names_drugs_with_contraindications() -> None:
    kb = load_knowledge()
    covered = {d for ci in kb.contraindications for d in ci.drugs}
    treatments = [spec for spec in kb.next_steps if spec.treatment]
    assert {spec.id for spec in treatments} >= set(STEP.values())
    assert all(set(spec.treatment) <= covered for spec in treatments)


def test_a_child_is_never_shown_a_bisphosphonate() -> None:
    result = run_differential(s.derived({**BASE, "paediatric": True, "adult": False, "age_years": 12.0}))
    assert "NS-BISPHOSPHONATE" not in {n.id for n in result.next_steps}
