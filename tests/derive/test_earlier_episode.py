"""An earlier, resolved painful episode at another joint (RMO told from the history, seed 001/003)."""

from __future__ import annotations

from bmefhir.derive.model import Derived
from bmefhir.differential.engine import run_differential
from bmefhir.differential.model import CandidateResult
from bmefhir.record import ConditionEntry, Site

from .builders import bme, d, run


def _pain(onset: str, end: str | None, structure: str, side: str) -> ConditionEntry:
    return ConditionEntry(f"Condition/pain-{structure}-{onset}", "joint_pain", d(onset), d(end) if end else None,
                          end is None, Site(structure, side))  # type: ignore[arg-type]  # fmt: skip


def test_resolved_pain_at_another_joint_before_the_bme_is_an_earlier_episode() -> None:
    facts = run(_pain("2023-01-01", "2023-06-01", "foot", "right"), bme("2024-01-10", "foot", "left")).facts
    assert facts["earlier_episode_other_joint"].value is True


def test_same_joint_unresolved_or_no_bme_is_not() -> None:
    knee = bme("2024-01-10", "medial_femoral_condyle", "left")
    same = run(_pain("2023-01-01", "2023-06-01", "knee", "left"), knee).facts
    assert "earlier_episode_other_joint" not in same
    ongoing = run(_pain("2023-01-01", None, "knee", "right"), bme("2024-01-10", "foot", "left")).facts
    assert "earlier_episode_other_joint" not in ongoing
    no_bme = run(_pain("2023-01-01", "2023-06-01", "knee", "right")).facts
    assert "earlier_episode_other_joint" not in no_bme


def test_earlier_episode_lifts_the_single_attack_penalty_and_favours_rmo() -> None:
    single = run(bme("2024-01-10", "foot", "left"))
    earlier = run(_pain("2023-01-01", "2023-06-01", "femoral_head", "left"), bme("2024-01-10", "foot", "left"))

    def rmo(derived: Derived) -> CandidateResult:
        return next(c for c in run_differential(derived).ranking if c.code == "regional_migratory_osteoporosis")

    assert {h.criterion_id for h in rmo(single).opposing} >= {"RMO-NO-MIGRATION"}
    hits = rmo(earlier)
    assert "RMO-NO-MIGRATION" not in {h.criterion_id for h in hits.opposing}
    assert "RMO-EARLIER-EPISODE-OTHER-JOINT" in {h.criterion_id for h in hits.supporting}
    assert hits.score > rmo(single).score
