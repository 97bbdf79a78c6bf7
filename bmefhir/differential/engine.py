"""Score the candidates: prior + matching criteria's weights, softmax, explain.

Pure and deterministic: the same ``Derived`` and knowledge base give the same
``Differential``. Each candidate's score is its prior plus the log-likelihood
ratio weights of every criterion whose ``when`` matched, correlated criteria (one
``group``) counting with diminishing weight; probabilities are the softmax of the
scores with a small uniform share (combine.py, docs/knowledge-model.md). Red flags
are raised whatever the candidate's rank.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from bmefhir.derive.model import Derived, Fact
from bmefhir.differential.combine import diminishing
from bmefhir.differential.combine import probabilities as combined_probabilities
from bmefhir.differential.knowledge_base import KnowledgeBase, NextStepSpec, load_knowledge
from bmefhir.differential.model import CandidateResult, CriterionHit, Differential, NextStep, RedFlag
from bmefhir.differential.safety import screen_steps

# Facts that say an imaging study (or a biopsy) was looked at. With none of them on record the
# differential has nothing to work from: the ranking is the priors alone.
IMAGING_FACTS: Final[frozenset[str]] = frozenset(
    {
        "bme_present", "bme_episode_count", "bme_joint_count", "bme_lower_limb", "bme_hip",
        "bme_femoral_head_neck_diffuse", "bme_knee", "bme_ankle_foot", "bme_sacroiliac",
        "bme_sacroiliac_both_sides_of_joint", "bme_subchondral_site", "bme_bilateral_same_joint",
        "bme_multifocal_simultaneous", "bme_resolved", "bme_all_resolved", "episode_duration_days_max",
        "migration", "migration_count", "migration_adjacent_joint", "migration_same_joint",
        "migration_contralateral", "migration_proximal_to_distal", "migration_interval_days_min",
        "recurrence_same_site", "subchondral_low_signal_band", "subchondral_changes_absent",
        "subchondral_fracture_line", "double_line_sign", "band_like_t1_lesion", "crescent_sign",
        "articular_collapse", "marrow_reconversion_pattern", "marrow_replacement", "focal_enhancing_lesion",
        "cortical_destruction", "soft_tissue_mass", "periosteal_reaction", "metaphyseal_diaphyseal_lesion",
        "joint_effusion", "synovitis", "erosions", "periarticular_bme_both_sides", "cartilage_loss",
        "osteophytes", "abscess", "sinus_tract", "enthesitis", "fracture_line", "bone_contusion_pattern",
        "periarticular_osteopenia", "scintigraphy_diffuse_uptake", "scintigraphy_cold_spot",
        "delayed_enhancement", "rim_enhancement", "contrast_mri_done", "follow_up_mri_done",
        "sif_band", "osteonecrosis_reported", "subchondral_cyst", "focal_lesion", "lytic_lesion", "meniscal_tear",
        "meniscal_extrusion", "scintigraphy_increased_uptake", "scintigraphy_decreased_uptake", "contrast_enhancement",
        # a histology result is decisive evidence even without imaging on record
        "histology_malignancy", "histology_osteonecrosis", "histology_osteomyelitis", "histology_fracture",
        "histology_marrow_edema",
    }
)  # fmt: skip


def run_differential(derived: Derived, kb: KnowledgeBase | None = None) -> Differential:
    """Rank the candidates for one patient's derived facts."""
    kb = kb if kb is not None else load_knowledge()
    facts = derived.facts
    insufficient = not any(name in facts for name in IMAGING_FACTS)

    scores = {c.code: c.prior for c in kb.candidates}
    supporting: dict[str, list[CriterionHit]] = {c.code: [] for c in kb.candidates}
    opposing: dict[str, list[CriterionHit]] = {c.code: [] for c in kb.candidates}
    flags: dict[tuple[str, str], RedFlag] = {}

    # (candidate, group) -> the matched criteria's hits with their raw weights (combine.py)
    grouped: dict[tuple[str, str], list[CriterionHit]] = {}
    present = facts.keys()
    for crit in kb.criteria:
        if not present >= crit.requires:
            continue  # a fact it needs is not on record: it cannot match (conditions.required_facts)
        matched, used = crit.when.matches(facts)
        if not matched:
            continue
        names = _unique(used)
        evidence = _evidence(facts, names)
        hedged = _hedged(facts, names)
        if crit.red_flag is not None:
            key = (crit.red_flag.candidate, crit.id)
            flags.setdefault(key, RedFlag(crit.red_flag.candidate, crit.id, crit.red_flag.message,
                                          crit.citation, evidence, names, hedged))  # fmt: skip
        if insufficient:
            continue  # without imaging the ranking stays at the priors; red flags still count
        for code, full_weight in crit.effects:
            # Hedged report text counts less, before grouping: correlated hedged findings are discounted once each.
            weight = round(full_weight * kb.uncertain_weight, 4) if hedged else full_weight
            hit = CriterionHit(crit.id, crit.title, weight, crit.citation, evidence, names, hedged)
            grouped.setdefault((code, crit.group), []).append(hit)

    # Correlated criteria (one group) count with diminishing weight; a hit shows its effective weight.
    for (code, _group), hits in grouped.items():
        for hit, weight in zip(hits, diminishing([h.weight for h in hits], kb.combination_ratio), strict=True):
            scores[code] += weight
            # The hit with its effective weight; built directly, as dataclasses.replace costs ~5x as much.
            shown = CriterionHit(
                hit.criterion_id, hit.title, round(weight, 4), hit.citation, hit.evidence, hit.facts, hit.uncertain
            )
            (supporting if weight > 0 else opposing)[code].append(shown)

    probabilities = combined_probabilities(scores, kb.uncertainty, kb.scale)
    ranking = tuple(
        sorted(
            (
                CandidateResult(
                    code=c.code,
                    display=c.display,
                    probability=probabilities[c.code],
                    score=round(scores[c.code], 4),
                    supporting=_ordered_hits(supporting[c.code]),
                    opposing=_ordered_hits(opposing[c.code]),
                )
                for c in kb.candidates
            ),
            key=lambda r: (-r.probability, r.code),
        )
    )
    severity = {c.code: c.severity_rank for c in kb.candidates}
    red_flags = tuple(sorted(flags.values(), key=lambda f: (severity[f.code], f.code, f.criterion_id)))
    steps = _next_steps(kb.next_steps, facts, probabilities, red_flags, insufficient)
    steps, withheld = screen_steps(kb, steps, facts)  # contraindicated treatments are withheld, with reasons
    return Differential(ranking, red_flags, steps, kb.version, insufficient, withheld)


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _evidence(facts: Mapping[str, Fact], names: Iterable[str]) -> tuple[str, ...]:
    refs: set[str] = set()
    for name in names:
        fact = facts.get(name)
        if fact is not None:
            refs.update(fact.evidence)
    return tuple(sorted(refs))


def _hedged(facts: Mapping[str, Fact], names: Iterable[str]) -> bool:
    """A criterion counts less when any fact it used rests only on hedged report text."""
    return any((fact := facts.get(name)) is not None and fact.uncertain for name in names)


def _ordered_hits(hits: list[CriterionHit]) -> tuple[CriterionHit, ...]:
    return tuple(sorted(hits, key=lambda h: (-abs(h.weight), h.criterion_id)))


def _next_steps(
    specs: Iterable[NextStepSpec],
    facts: Mapping[str, Fact],
    probabilities: Mapping[str, float],
    red_flags: tuple[RedFlag, ...],
    insufficient: bool,
) -> tuple[NextStep, ...]:
    out: list[NextStep] = []
    seen: set[str] = set()
    for spec in specs:  # file order is priority order
        if spec.id in seen:
            continue
        because: list[str] = []
        used: list[str] = []
        fired = False
        if spec.on_insufficient_data and insufficient:
            fired = True
            because.append("insufficient_data")
        if spec.when is not None:
            ok, names = spec.when.matches(facts)
            if ok:
                fired = True
                # A step triggered by missing data names the facts it found missing.
                because.extend(names or spec.when.fact_names())
                used.extend(names)
        if not insufficient:
            for code in spec.plausible:
                if probabilities.get(code, 0.0) >= spec.min_probability:
                    fired = True
                    because.append(code)
        for flag in red_flags:
            if flag.code in spec.red_flag:
                fired = True
                because.append(flag.criterion_id)
        if not fired:
            continue
        if spec.unless is not None and spec.unless.matches(facts)[0]:
            continue
        if spec.relevant_to and (
            insufficient or all(probabilities.get(c, 0.0) < spec.relevant_min_probability for c in spec.relevant_to)
        ):
            continue  # gated: its result changes management only for a candidate no longer plausible
        seen.add(spec.id)
        names = _unique(used)
        evidence = set(_evidence(facts, names))
        for flag in red_flags:
            if flag.code in spec.red_flag:
                evidence.update(flag.evidence)
        out.append(NextStep(spec.id, spec.text, spec.citation, _unique(because), tuple(sorted(evidence))))
    return tuple(out)
