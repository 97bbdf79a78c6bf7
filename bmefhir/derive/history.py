"""Conditions and social history: alcohol, smoking, bone density, comorbidities (pregnancy: ``pregnancy``).

Problem-list facts are True when a matching condition is on record and unknown
otherwise: a missing diagnosis is not evidence of its absence.
"""

from __future__ import annotations

from datetime import date

from bmefhir.anatomy import chain_position, joint_of
from bmefhir.derive.factset import FactSet, Votes
from bmefhir.derive.recordindex import RecordIndex
from bmefhir.derive.registry import THRESHOLDS
from bmefhir.record import ClinicalObservation, Site

# AUDIT-C positive screen: >= 4 men, >= 3 women (Bradley KA et al. Alcohol Clin Exp Res 2007;31:1208-17;
# registry heavy_alcohol_units_week).
AUDIT_C_POSITIVE = {"male": 4.0, "female": 3.0}

# Facts that are True when any of these conditions is on record.
CONDITION_FACTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("heart_failure", ("heart_failure",)),
    ("myeloma", ("multiple_myeloma", "myelofibrosis")),
    ("haematological_malignancy", ("leukaemia", "lymphoma", "multiple_myeloma")),
    ("sickle_cell", ("sickle_cell_disease",)),
    ("gaucher", ("gaucher_disease",)),
    ("sle", ("sle",)),
    ("hiv", ("hiv",)),
    ("decompression_exposure", ("decompression_sickness",)),
    ("prior_malignancy", ("malignancy", "bone_metastasis")),
    ("known_inflammatory_arthritis", ("rheumatoid_arthritis", "spondyloarthritis", "psoriasis")),
    ("known_gout", ("gout",)),
    ("known_osteoarthritis", ("osteoarthritis",)),
    ("known_bone_joint_infection", ("septic_arthritis", "osteomyelitis", "tuberculosis")),
)


def _when(d: date | None) -> str:
    return d.isoformat() if d else "undated"


def _dated_ok(obs: ClinicalObservation, today: date) -> bool:
    return obs.date is None or obs.date <= today


def _bool_votes(index: RecordIndex, votes: Votes, concept: str) -> None:
    """Add True/False observations of ``concept`` (present-only counts as True)."""
    for obs in index.observations.get(concept, ()):
        if _dated_ok(obs, index.today) and is_flag(obs.value):
            votes.vote(obs.value is not False, obs.ref, f"{concept} {_when(obs.date)}")


def _numeric(index: RecordIndex, concept: str) -> list[ClinicalObservation]:
    return [o for o in index.observations.get(concept, ()) if not is_flag(o.value) and _dated_ok(o, index.today)]


def is_flag(value: bool | float | None) -> bool:
    """True for a finding value (True/False/present-only), False for a measurement."""
    return value is None or isinstance(value, bool)


def _num(obs: ClinicalObservation) -> float:
    assert obs.value is not None
    return float(obs.value)


def _alcohol(index: RecordIndex, facts: FactSet) -> None:
    votes = Votes()
    for cond in index.conditions_of("alcohol_abuse"):
        votes.yes(cond.ref, "condition alcohol_abuse")
    _bool_votes(index, votes, "alcohol_heavy")
    sex = index.record.patient.sex
    for obs in _numeric(index, "audit_c"):
        score = _num(obs)
        note = f"AUDIT-C {score:g} {_when(obs.date)}"
        if sex in AUDIT_C_POSITIVE:
            votes.vote(score >= AUDIT_C_POSITIVE[sex], obs.ref, note)
        elif score >= max(AUDIT_C_POSITIVE.values()) or score < min(AUDIT_C_POSITIVE.values()):
            votes.vote(score >= max(AUDIT_C_POSITIVE.values()), obs.ref, note)  # sex unknown: clear cases only
    limit = THRESHOLDS["heavy_alcohol_units_week"][0]
    for obs in _numeric(index, "alcohol_units_per_week"):
        votes.vote(_num(obs) > limit, obs.ref, f"{_num(obs):g} units/week {_when(obs.date)}")
    facts.decide("heavy_alcohol", votes)


def _smoking(index: RecordIndex, facts: FactSet) -> None:
    votes = Votes()
    for obs in index.observations.get("smoking_current", ()):
        if obs.value is not False and _dated_ok(obs, index.today):
            votes.yes(obs.ref, f"current smoker {_when(obs.date)}")
    # "Not a current smoker" alone does not say never: only smoking_ever decides False.
    _bool_votes(index, votes, "smoking_ever")
    for cond in index.conditions_of("tobacco_use"):
        votes.yes(cond.ref, "condition tobacco_use")
    pack_years = _numeric(index, "pack_years")
    for obs in pack_years:
        votes.vote(_num(obs) > 0, obs.ref, f"{_num(obs):g} pack-years")
    facts.decide("smoker", votes)
    if pack_years:
        most = max(pack_years, key=lambda o: (_num(o), o.date or date.min, o.ref))
        facts.put("pack_years", _num(most), [most.ref], f"{_num(most):g} pack-years {_when(most.date)}")


def _bone_density(index: RecordIndex, facts: FactSet) -> None:
    osteoporosis, osteopenia = Votes(), Votes()
    scores = _numeric(index, "dxa_t_score")
    porotic, penic = THRESHOLDS["dxa_osteoporosis_t"][0], THRESHOLDS["dxa_osteopenia_t"][0]
    if scores:
        low = min(scores, key=lambda o: (_num(o), o.date or date.min, o.ref))
        t = _num(low)
        note = f"DXA T-score {t:g} {_when(low.date)}"
        facts.put("dxa_t_score_min", t, [low.ref], note)
        osteoporosis.vote(t <= porotic, low.ref, note)
        osteopenia.vote(porotic < t < penic, low.ref, note)  # WHO: low bone mass, not osteoporosis
    for cond in index.conditions_of("osteoporosis"):
        osteoporosis.yes(cond.ref, "condition osteoporosis")
    for cond in index.conditions_of("osteopenia"):
        osteopenia.yes(cond.ref, "condition osteopenia")
    facts.decide("osteoporosis_dxa", osteoporosis)
    facts.decide("osteopenia", osteopenia)


def _site_matches(site: Site | None, affected: frozenset[tuple[str, str | None]]) -> bool:
    """A site-less report matches; a sited one must name an affected joint (side-less matches either)."""
    if site is None or not affected:
        return True
    joint = joint_of(site.structure) or site.structure
    return any(j == joint and (site.side is None or side is None or side == site.side) for j, side in affected)


def _local_history(index: RecordIndex, affected: frozenset[tuple[str, str | None]], facts: FactSet) -> None:
    trauma = Votes()
    for obs in index.observations.get("trauma", ()):
        if _dated_ok(obs, index.today) and is_flag(obs.value):
            if obs.value is False:
                trauma.no(obs.ref, f"no trauma {_when(obs.date)}")
            elif _site_matches(obs.site, affected):
                trauma.yes(obs.ref, f"trauma {_when(obs.date)}")
    for cond in index.conditions_of("trauma"):
        if _site_matches(cond.site, affected):
            trauma.yes(cond.ref, f"condition trauma {_when(cond.onset)}")
    facts.decide("trauma", trauma)
    overuse = Votes()
    _bool_votes(index, overuse, "overuse")
    facts.decide("overuse", overuse)


def _earlier_episode_elsewhere(
    index: RecordIndex, bme_start: date | None, affected: frozenset[tuple[str, str | None]], facts: FactSet
) -> None:
    """``earlier_episode_other_joint``: joint pain at another joint that had resolved before this BME.

    RMO is BME that moves from joint to joint, the next attack months to years after the last (seed 001
    §Introduction: 3 months to 4 years; seed 003 §Discussion, Cahir and Toms); an episode recorded only as
    history (a resolved pain condition with its site) is the same sequence without the earlier MRI.
    Only ever True: a history without such an episode does not say there was none.
    """
    if bme_start is None or not affected:
        return
    hits = [
        cond
        for cond in index.conditions_of("joint_pain", "bme_syndrome", "transient_osteoporosis")
        if cond.site is not None
        and cond.abatement is not None
        and cond.abatement < bme_start
        and not _site_matches(cond.site, affected)
    ]
    if hits:
        facts.put(
            "earlier_episode_other_joint",
            True,
            [c.ref for c in hits],
            "; ".join(f"{c.concept} until {c.abatement.isoformat()}" for c in hits if c.abatement),
        )


# A fracture this long before the first BME can be the inciting event of CRPS I: CRPS develops after the
# injury (not at once) and was diagnosed within the first year in the prospective fracture cohort of
# Beerthuizen et al. (Pain 2012;153:1187-92: 7 % of 596 single fractures by the Budapest criteria).
FRACTURE_BEFORE_BME_DAYS = (14, 365)


def _same_limb(site: Site | None, affected: frozenset[tuple[str, str | None]]) -> bool:
    """A fracture site in the limb (chain and side) of an affected joint; a side-less one matches either side."""
    if site is None:
        return False
    joint = joint_of(site.structure) or site.structure
    here = chain_position(joint)
    if here is None or here[0] == "axial":
        return False
    for other, side in affected:
        there = chain_position(other)
        if there is not None and there[0] == here[0] and (site.side is None or side is None or side == site.side):
            return True
    return False


def _fracture_before_bme(
    index: RecordIndex, bme_start: date | None, affected: frozenset[tuple[str, str | None]], facts: FactSet
) -> None:
    """``fracture_same_limb_before_bme``: a (non-fragility) fracture of the BME limb 2 weeks to 1 year earlier.

    Fracture is the commonest inciting event of CRPS I (44 % in de Mos et al., Pain 2007;129:12-20). Only ever
    True: a record without a fracture does not say there was none.
    """
    if bme_start is None or not affected:
        return
    low, high = FRACTURE_BEFORE_BME_DAYS
    hits = [
        cond
        for cond in index.conditions_of("fracture")
        if cond.onset is not None and low <= (bme_start - cond.onset).days <= high and _same_limb(cond.site, affected)
    ]
    if hits:
        facts.put(
            "fracture_same_limb_before_bme",
            True,
            [c.ref for c in hits],
            "; ".join(f"fracture {c.onset.isoformat()}" for c in hits if c.onset),
        )


def _immunosuppression(index: RecordIndex, facts: FactSet) -> None:
    votes = Votes()
    for cond in index.conditions_of("immunosuppression", "diabetes", "hiv", "asplenia"):
        votes.yes(cond.ref, f"condition {cond.concept}")
    for med in index.medications.get("chemotherapy", ()):
        votes.yes(med.ref, f"{med.drug} (chemotherapy)")
    facts.decide("immunosuppressed", votes)


def derive_history(
    index: RecordIndex,
    bme_start: date | None,
    affected_joints: frozenset[tuple[str, str | None]],
    facts: FactSet,
) -> None:
    """``affected_joints``: (joint, side) pairs with BME, to tie trauma to the lesion site."""
    _alcohol(index, facts)
    _smoking(index, facts)
    _bone_density(index, facts)
    for name, concepts in CONDITION_FACTS:
        votes = Votes()
        for cond in index.conditions_of(*concepts):
            votes.yes(cond.ref, f"condition {cond.concept}")
        facts.decide(name, votes)
    _local_history(index, affected_joints, facts)
    _earlier_episode_elsewhere(index, bme_start, affected_joints, facts)
    _fracture_before_bme(index, bme_start, affected_joints, facts)
    _immunosuppression(index, facts)


# A driver of red-marrow reconversion (seed 004 §causes): these facts, any True.
RECONVERSION_DRIVERS = (
    "anaemia",
    "heart_failure",
    "myeloma",
    "chemotherapy",
    "gcsf_or_epo",
    "glucocorticoid_exposure",
    "smoker",
)


def derive_reconversion_driver(facts: FactSet) -> None:
    """Run after every other family: it summarises their True facts."""
    refs: list[str] = []
    names: list[str] = []
    for name in RECONVERSION_DRIVERS:
        fact = facts.get(name)
        if fact is not None and fact.value is True:
            refs += fact.evidence
            names.append(name)
    if names:
        facts.put("reconversion_driver", True, refs, ", ".join(names))
