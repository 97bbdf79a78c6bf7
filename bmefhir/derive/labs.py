"""Laboratory facts: inflammatory markers, bone and mineral tests, serology, paraprotein.

Window: labs count from ``CLINICAL_WINDOW_BEFORE_BME_DAYS`` (180 d) before the
first BME episode (or before the analysis date when there is no BME) up to the
analysis date (see ``recordindex``). That covers the work-up of the episodes
and the baseline just before them, and keeps a CRP from an unrelated illness
years earlier from counting. Undated results cannot be placed and are used
(they are the only data there is; normalize already reported the missing
date). HLA-B27 is genotype and has no window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from bmefhir.derive.factset import FactSet, Votes
from bmefhir.derive.recordindex import RecordIndex
from bmefhir.derive.registry import THRESHOLDS
from bmefhir.record import LabResult, Sex

# Serum free light chain kappa/lambda reference interval 0.26-1.65
# (Katzmann JA et al. Clin Chem 2002;48:1437-44).
FLC_RATIO_RANGE = (0.26, 1.65)
# Albumin-corrected calcium arrives in mmol/L; 1 mmol/L = 4.008 mg/dL (molar mass of Ca 40.08 g/mol).
CALCIUM_MG_DL_PER_MMOL_L = 4.008


_NOTED = 2  # results named in a note


def _t(key: str) -> float:
    return THRESHOLDS[key][0]


def _fmt(lab: LabResult) -> str:
    when = lab.date.isoformat() if lab.date else "undated"
    if lab.value is not None:
        return f"{lab.concept} {lab.value:g} {lab.unit or ''} {when}".replace("  ", " ")
    return f"{lab.concept} {lab.coded_value or '?'} {when}"


class LabWindow:
    """The labs of one record inside the analysis window, by concept."""

    __slots__ = ("_index", "_start", "_today")

    def __init__(self, index: RecordIndex, bme_start: date | None) -> None:
        self._index = index
        self._today = index.today
        self._start = index.window_start(bme_start)

    def get(self, concept: str, windowed: bool = True) -> list[LabResult]:
        labs = self._index.labs.get(concept, ())
        return [
            lab
            for lab in labs
            if lab.date is None or (lab.date <= self._today and (not windowed or lab.date >= self._start))
        ]

    def numeric(self, concept: str) -> list[LabResult]:
        return [lab for lab in self.get(concept) if lab.value is not None]


def _value(lab: LabResult) -> float:
    assert lab.value is not None
    return lab.value


def _extreme(facts: FactSet, labs: list[LabResult], name: str | None, highest: bool) -> LabResult | None:
    """The highest (or lowest) numeric result, recorded as fact ``name`` when given."""
    numeric = [lab for lab in labs if lab.value is not None]
    if not numeric:
        return None
    pick = max if highest else min
    best = pick(numeric, key=lambda lab: (_value(lab), lab.date or date.min, lab.ref))
    if name is not None:
        word = "highest" if highest else "lowest"
        facts.put(name, _value(best), [best.ref], f"{word} of {len(numeric)}: {_fmt(best)}")
    return best


def _threshold_votes(labs: Iterable[LabResult], above: Callable[[float], bool]) -> Votes:
    """Votes from numeric results; notes name only the latest few (the refs cite all)."""
    votes = Votes()
    yes: list[LabResult] = []
    no: list[LabResult] = []
    for lab in labs:
        if lab.value is not None:
            (yes if above(lab.value) else no).append(lab)
    for group, refs, notes in ((yes, votes.yes_refs, votes.yes_notes), (no, votes.no_refs, votes.no_notes)):
        if group:
            refs += [lab.ref for lab in group]
            latest = sorted(group, key=lambda lab: (lab.date or date.min, lab.ref), reverse=True)[:_NOTED]
            notes += [_fmt(lab) for lab in latest]
            if len(group) > _NOTED:
                notes.append(f"{len(group)} results")
    return votes


def _above(labs: Iterable[LabResult], limit: float) -> Votes:
    return _threshold_votes(labs, lambda v: v > limit)


def _qualitative(labs: Iterable[LabResult]) -> Votes:
    """Positive/negative from the coded value, else the lab's own high flag.

    RF and anti-CCP cut-offs are assay-specific, so a bare number without the
    laboratory's flag is left unknown rather than judged against a guessed limit.
    """
    votes = Votes()
    for lab in labs:
        coded = (lab.coded_value or "").lower()
        if coded in ("positive", "negative"):
            votes.vote(coded == "positive", lab.ref, _fmt(lab))
        elif lab.high_flag is not None:
            votes.vote(lab.high_flag, lab.ref, _fmt(lab) + (" (flagged high)" if lab.high_flag else " (in range)"))
    return votes


def _inflammatory(w: LabWindow, facts: FactSet) -> None:
    crp, esr = w.numeric("crp"), w.numeric("esr")
    _extreme(facts, crp, "crp_mg_l", highest=True)
    _extreme(facts, esr, "esr_mm_h", highest=True)
    crp_elevated = _above(crp, _t("crp_elevated_mg_l"))
    esr_elevated = _above(esr, _t("esr_elevated_mm_h"))
    facts.decide("crp_elevated", crp_elevated)
    facts.decide("crp_high", _above(crp, _t("crp_high_mg_l")))
    facts.decide("esr_elevated", esr_elevated)
    # "Normal" needs at least a CRP: a normal ESR alone does not rule out an acute phase response.
    if crp_elevated.yes_refs or esr_elevated.yes_refs:
        refs = crp_elevated.yes_refs + esr_elevated.yes_refs
        facts.put("inflammatory_markers_normal", False, refs, "CRP or ESR elevated")
    elif crp:
        refs = [lab.ref for lab in crp + esr]
        facts.put("inflammatory_markers_normal", True, refs, "CRP" + (" and ESR" if esr else "") + " not elevated")
    facts.decide("wbc_elevated", _above(w.numeric("wbc"), _t("wbc_high_10e3_ul")))
    facts.decide("procalcitonin_elevated", _above(w.numeric("procalcitonin"), _t("procalcitonin_high_ng_ml")))


def _conditions(index: RecordIndex, votes: Votes, *concepts: str) -> None:
    for cond in index.conditions_of(*concepts):
        votes.yes(cond.ref, f"condition {cond.concept}")


def _vitamin_d_and_thyroid(index: RecordIndex, w: LabWindow, facts: FactSet) -> None:
    vit_d = w.numeric("vitamin_d_25oh")
    _extreme(facts, vit_d, "vitamin_d_ng_ml", highest=False)
    low = _threshold_votes(vit_d, lambda v: v < _t("vitamin_d_low_ng_ml"))
    for lab in w.get("vitamin_d_25oh"):  # reported only as below or within range (no value): measured too
        if lab.value is None and lab.low_flag is not None:
            low.vote(lab.low_flag, lab.ref, _fmt(lab) + (" (flagged low)" if lab.low_flag else " (not low)"))
    _conditions(index, low, "vitamin_d_deficiency")
    facts.decide("low_vitamin_d", low)

    thyroid = _above(w.numeric("tsh"), _t("tsh_high_miu_l"))
    for lab in w.get("tsh"):  # a TSH reported only as in or above range (no value) is a measured TSH too
        if lab.value is None and lab.high_flag is not None:
            thyroid.vote(lab.high_flag, lab.ref, _fmt(lab) + (" (flagged high)" if lab.high_flag else " (in range)"))
    _conditions(index, thyroid, "hypothyroidism")
    for med in index.medications.get("levothyroxine", ()):
        thyroid.yes(med.ref, f"{med.drug} on record")
    facts.decide("hypothyroidism", thyroid)


def _anaemia(index: RecordIndex, w: LabWindow, sex: Sex | None, facts: FactSet) -> None:
    votes = Votes()
    _conditions(index, votes, "anaemia")
    female_limit, male_limit = _t("hemoglobin_low_g_dl"), _t("hemoglobin_low_male_g_dl")
    for lab in w.numeric("hemoglobin"):
        hb = _value(lab)
        if sex == "male":
            votes.vote(hb < male_limit, lab.ref, _fmt(lab))
        elif sex == "female" or hb < female_limit or hb >= male_limit:
            # Sex unknown: only values on the same side of both limits are judged.
            votes.vote(hb < female_limit, lab.ref, _fmt(lab))
    facts.decide("anaemia", votes)


def _monoclonal(w: LabWindow, facts: FactSet) -> None:
    votes = Votes()
    for lab in w.numeric("monoclonal_protein"):
        votes.vote(_value(lab) > 0, lab.ref, "M-spike " + _fmt(lab))
    votes.merge(_qualitative(w.get("immunofixation")))
    low, high = FLC_RATIO_RANGE
    for lab in w.numeric("flc_ratio"):
        votes.vote(not low <= _value(lab) <= high, lab.ref, _fmt(lab) + " (ref 0.26-1.65)")
    if not w.numeric("flc_ratio"):
        # Compute the ratio from kappa and lambda drawn on the same date.
        lambdas = {lab.date: lab for lab in w.numeric("flc_lambda") if lab.date is not None}
        for kappa in w.numeric("flc_kappa"):
            lam = lambdas.get(kappa.date) if kappa.date is not None else None
            if lam is not None and _value(lam) > 0:
                ratio = _value(kappa) / _value(lam)
                note = f"FLC kappa/lambda {ratio:.2f} {lam.date} (ref 0.26-1.65)"
                votes.vote(not low <= ratio <= high, kappa.ref, note)
                votes.vote(not low <= ratio <= high, lam.ref, note)
    facts.decide("monoclonal_protein", votes)


def _chemistry(index: RecordIndex, w: LabWindow, facts: FactSet) -> None:
    facts.decide("hyperuricaemia", _above(w.numeric("uric_acid"), _t("uric_acid_high_mg_dl")))
    facts.decide(
        "hypertriglyceridaemia",
        _threshold_votes(w.numeric("triglycerides"), lambda v: v >= _t("triglycerides_high_mg_dl")),
    )
    calcium = _above(w.numeric("calcium"), _t("calcium_high_mg_dl"))
    calcium.merge(
        _threshold_votes(
            w.numeric("calcium_corrected"), lambda v: v * CALCIUM_MG_DL_PER_MMOL_L > _t("calcium_high_mg_dl")
        )
    )
    facts.decide("hypercalcaemia", calcium)
    low = _t("calcium_low_mg_dl")
    hypo = _threshold_votes(w.numeric("calcium"), lambda v: v < low)
    hypo.merge(_threshold_votes(w.numeric("calcium_corrected"), lambda v: v * CALCIUM_MG_DL_PER_MMOL_L < low))
    facts.decide("hypocalcaemia", hypo)
    facts.decide("alp_elevated", _above(w.numeric("alkaline_phosphatase"), _t("alp_high_u_l")))
    _extreme(facts, w.numeric("egfr"), "egfr_min", highest=False)
    renal = _threshold_votes(w.numeric("egfr"), lambda v: v < _t("egfr_low"))
    _conditions(index, renal, "renal_disease")
    facts.decide("renal_disease", renal)


def derive_labs(index: RecordIndex, bme_start: date | None, facts: FactSet) -> None:
    w = LabWindow(index, bme_start)
    _inflammatory(w, facts)
    _vitamin_d_and_thyroid(index, w, facts)
    facts.decide("rf_positive", _qualitative(w.get("rheumatoid_factor")))
    facts.decide("anti_ccp_positive", _qualitative(w.get("anti_ccp")))
    facts.decide("hla_b27_positive", _qualitative(w.get("hla_b27", windowed=False)))
    _chemistry(index, w, facts)
    _anaemia(index, w, index.record.patient.sex, facts)
    _monoclonal(w, facts)
