"""Issue 10 item 4: the findings that had no concept now move the differential, each as the literature says."""

from __future__ import annotations

from bmefhir.differential.engine import run_differential

from . import scenarios as s

# An older woman's painful hip with BME, nothing else known.
HIP: s.Facts = {
    "age_years": 66.0, "adult": True, "paediatric": False, "female": True, "male": False,
    "bme_present": True, "bme_hip": True, "bme_lower_limb": True, "weight_bearing_pain": True,
}  # fmt: skip


def _top(extra: s.Facts) -> str:
    return run_differential(s.derived({**HIP, **extra})).ranking[0].code


def _flags(extra: s.Facts) -> set[str]:
    return {f.criterion_id for f in run_differential(s.derived({**HIP, **extra})).red_flags}


def test_the_sif_band_and_the_osteonecrosis_band_point_to_different_diagnoses() -> None:
    assert _top({"sif_band": True}) == "subchondral_insufficiency_fracture"
    assert _top({"band_like_t1_lesion": True}) == "osteonecrosis"

    def sif(extra: s.Facts) -> float:
        return {r.code: r.score for r in run_differential(s.derived({**HIP, **extra})).ranking}[
            "subchondral_insufficiency_fracture"
        ]

    assert sif({"band_like_t1_lesion": True}) < sif({})  # the osteonecrosis band argues against SIF
    assert sif({"sif_band": True}) > sif({})


def test_stated_osteonecrosis_counts_and_flags() -> None:
    assert _top({"osteonecrosis_reported": True}) == "osteonecrosis"
    assert "ON-STATED" in _flags({"osteonecrosis_reported": True})


def test_lytic_and_focal_lesions_point_to_tumour() -> None:
    assert _top({"lytic_lesion": True}) == "neoplasm"
    assert "NEO-LYTIC-LESION" in _flags({"lytic_lesion": True})
    focal = run_differential(s.derived({**HIP, "focal_lesion": True})).ranking
    assert {r.code: r.score for r in focal}["neoplasm"] > 0


def test_cortical_destruction_with_raised_crp_also_flags_infection() -> None:
    flags = run_differential(s.derived({**HIP, "cortical_destruction": True, "crp_elevated": True})).red_flags
    assert {"neoplasm", "infection"} <= {f.code for f in flags}
    alone = run_differential(s.derived({**HIP, "cortical_destruction": True})).red_flags
    assert "infection" not in {f.code for f in alone}


def test_scintigraphy_uptake_meniscus_and_cyst_move_their_candidates() -> None:
    def score(extra: s.Facts, code: str) -> float:
        return {r.code: r.score for r in run_differential(s.derived({**HIP, **extra})).ranking}[code]

    assert score({"scintigraphy_decreased_uptake": True}, "osteonecrosis") > score({}, "osteonecrosis")
    assert score({"scintigraphy_increased_uptake": True}, "transient_osteoporosis") > score(
        {}, "transient_osteoporosis"
    )
    knee = {"bme_hip": False, "bme_knee": True}
    assert score({**knee, "meniscal_extrusion": True}, "subchondral_insufficiency_fracture") > score(
        knee, "subchondral_insufficiency_fracture"
    )
    assert score({**knee, "meniscal_tear": True}, "degenerative_bml") > score(knee, "degenerative_bml")
    assert score({"subchondral_cyst": True}, "degenerative_bml") > score({}, "degenerative_bml")


def test_limited_range_of_motion_argues_against_transient_osteoporosis_and_fills_a_budapest_category() -> None:
    base = run_differential(s.derived({**HIP, "allodynia": True})).ranking
    stiff = run_differential(s.derived({**HIP, "allodynia": True, "rom_limited": True})).ranking
    before, after = {r.code: r.score for r in base}, {r.code: r.score for r in stiff}
    assert after["transient_osteoporosis"] < before["transient_osteoporosis"]
    assert after["crps"] > before["crps"]


def test_contrast_enhancement_marks_a_contrast_study_so_it_is_not_asked_again() -> None:
    from bmefhir.derive.imaging import CONTRAST_FINDINGS

    assert "contrast_enhancement" in CONTRAST_FINDINGS
