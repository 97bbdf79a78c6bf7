"""Osteoid osteoma (nidus, NSAID-relieved night pain), constitutional symptoms recorded as such, and a fracture
of the BME limb as the inciting event of CRPS (issue 10, round 4; docs/knowledge-model.md)."""

from __future__ import annotations

from bmefhir.differential.engine import run_differential
from bmefhir.differential.model import Differential
from bmefhir.record import ConditionEntry, Site

from ..derive.builders import bme, d, finding, obs, run


def _fracture(onset: str, structure: str, side: str | None, concept: str = "fracture") -> ConditionEntry:
    return ConditionEntry(f"Condition/{concept}-{structure}-{onset}", concept, d(onset), None, True,
                          Site(structure, side))  # type: ignore[arg-type]  # fmt: skip


def _ids(diff: Differential, code: str) -> set[str]:
    cand = next(c for c in diff.ranking if c.code == code)
    return {h.criterion_id for h in (*cand.supporting, *cand.opposing)}


# --- osteoid osteoma -----------------------------------------------------------------------------------
def _child_hip(*extra: object) -> Differential:
    items = (bme("2024-05-01", "femoral_neck", "left"), *extra)
    return run_differential(run(*items, birth=d("2015-01-01")))  # type: ignore[arg-type]


def test_a_nidus_makes_osteoid_osteoma_the_leading_cause_with_its_own_red_flag_and_step() -> None:
    plain = _child_hip()
    nidus = _child_hip(finding("osteoid_osteoma_nidus", "2024-05-03", "femoral_neck", "left", modality="CT"))
    assert nidus.ranking[0].code == "neoplasm"
    assert plain.ranking[0].code != "neoplasm"
    flags = {f.criterion_id: f for f in nidus.red_flags}
    assert "NEO-OSTEOID-OSTEOMA-NIDUS" in flags
    assert "osteoid osteoma" in flags["NEO-OSTEOID-OSTEOMA-NIDUS"].message
    steps = {s.id for s in nidus.next_steps}
    assert "NS-OSTEOID-OSTEOMA" in steps
    assert "NS-ONCOLOGY-WORKUP" not in steps  # a typical nidus needs CT and ablation, not a malignancy work-up


def test_nsaid_relieved_night_pain_is_night_pain_and_counts_once_in_its_group() -> None:
    facts = run(obs("night_pain_nsaid_relief", True, "2024-05-01"), bme("2024-05-01", "femoral_neck", "left")).facts
    assert facts["night_pain_nsaid_relief"].value is True
    assert facts["rest_or_night_pain"].value is True  # relieved night pain is night pain
    diff = run_differential(
        run(obs("night_pain_nsaid_relief", True, "2024-05-01"), bme("2024-05-01", "femoral_neck", "left"))
    )
    neo = next(c for c in diff.ranking if c.code == "neoplasm")
    hits = {h.criterion_id: h.weight for h in neo.supporting}
    assert {"NEO-NIGHT-PAIN-NSAID", "NEO-NIGHT-PAIN"} <= set(hits)
    assert hits["NEO-NIGHT-PAIN"] < 0.7  # the weaker reading of the same pain is diminished (group night_pain)


# --- constitutional symptoms recorded as such ----------------------------------------------------------
def test_constitutional_symptoms_recorded_as_such_raise_the_childhood_leukaemia_flag() -> None:
    knee = bme("2024-05-01", "distal_femur", "left")
    facts = run(obs("constitutional_symptoms", True, "2024-05-01"), knee).facts
    assert facts["constitutional_symptoms"].value is True
    child = run_differential(run(obs("constitutional_symptoms", True, "2024-05-01"), knee, birth=d("2017-01-01")))
    assert "PED-LEUKAEMIA" in {f.criterion_id for f in child.red_flags}
    without = run_differential(run(knee, birth=d("2017-01-01")))
    assert "PED-LEUKAEMIA" not in {f.criterion_id for f in without.red_flags}


# --- a fracture of the BME limb before the BME (CRPS I) ------------------------------------------------
FOOT_BME = bme("2024-05-01", "talus", "right")


def test_a_fracture_of_the_same_limb_months_before_the_bme_is_found() -> None:
    fact = run(_fracture("2024-01-15", "distal_fibula", "right"), FOOT_BME).facts["fracture_same_limb_before_bme"]
    assert fact.value is True
    assert fact.evidence == ("Condition/fracture-distal_fibula-2024-01-15",)
    sideless = run(_fracture("2024-01-15", "calcaneus", None), FOOT_BME).facts
    assert sideless["fracture_same_limb_before_bme"].value is True


def test_other_limb_other_side_too_recent_too_old_or_fragility_fracture_is_not() -> None:
    for item in (
        _fracture("2024-01-15", "wrist", "right"),  # upper limb
        _fracture("2024-01-15", "distal_fibula", "left"),  # other side
        _fracture("2024-04-25", "distal_fibula", "right"),  # 6 days: the fracture's own edema, not CRPS
        _fracture("2022-01-15", "distal_fibula", "right"),  # more than a year
        _fracture("2024-01-15", "distal_fibula", "right", concept="fragility_fracture"),  # an insufficiency fracture
        _fracture("2024-01-15", "spine", None),  # axial
    ):
        assert "fracture_same_limb_before_bme" not in run(item, FOOT_BME).facts, item.ref


def test_the_fracture_counts_for_crps_and_against_transient_osteoporosis_but_shares_the_budapest_group() -> None:
    frac = _fracture("2024-01-15", "distal_fibula", "right")
    alone = run_differential(run(frac, FOOT_BME))
    assert "CRPS-AFTER-FRACTURE" in _ids(alone, "crps")
    assert "CRPS-AFTER-FRACTURE" in _ids(alone, "transient_osteoporosis")
    crps = next(c for c in alone.ranking if c.code == "crps")
    full = next(h.weight for h in crps.supporting if h.criterion_id == "CRPS-AFTER-FRACTURE")
    with_signs = run_differential(run(frac, FOOT_BME, obs("allodynia", True, "2024-05-01")))
    crps2 = next(c for c in with_signs.ranking if c.code == "crps")
    diminished = next(h.weight for h in crps2.supporting if h.criterion_id == "CRPS-AFTER-FRACTURE")
    assert diminished < full  # allodynia is the stronger Budapest sign; the fracture adds with diminishing weight
