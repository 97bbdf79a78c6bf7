"""Derived facts for the seed cases and the classic presentations, built directly (no derive step).

Each scenario is a plain mapping fact name → value, so a test can tweak one fact.
Evidence references are synthetic (``Observation/<fact>``) so hits can be traced.
"""

from __future__ import annotations

from bmefhir.derive.model import Derived, Fact, FactValue, LesionTimeline

Facts = dict[str, FactValue]


def derived(facts: Facts) -> Derived:
    return Derived(
        facts={name: Fact(value, evidence=(f"Observation/{name}",)) for name, value in facts.items()},
        timeline=LesionTimeline(),
    )


# seed 000: 44-year-old man, right hip, sudden weight-bearing pain, diffuse head+neck BME, no subchondral change.
SEED_000: Facts = {
    "age_years": 44.0, "male": True, "female": False, "middle_aged_male": True,
    "sudden_onset_pain": True, "weight_bearing_pain": True, "rom_disproportionately_preserved": True,
    "trauma": False, "bme_present": True, "bme_episode_count": 1.0, "bme_joint_count": 1.0,
    "bme_lower_limb": True, "bme_hip": True, "bme_femoral_head_neck_diffuse": True,
    "subchondral_changes_absent": True, "joint_effusion": True, "migration": False,
}  # fmt: skip

# seed 001: 54-year-old male smoker, low vitamin D, hip → ankle → knee, hip resolved.
SEED_001: Facts = {
    "age_years": 54.0, "male": True, "female": False, "middle_aged_male": True,
    "smoker": True, "pack_years": 20.0, "heavy_alcohol": False, "trauma": False,
    "sudden_onset_pain": True, "weight_bearing_pain": True, "joint_swelling_or_warmth": True,
    "vitamin_d_ng_ml": 14.9, "low_vitamin_d": True, "esr_mm_h": 28.0, "esr_elevated": False,
    "crp_mg_l": 4.6, "crp_elevated": False, "crp_high": False, "inflammatory_markers_normal": True,
    "rf_positive": False, "hypertriglyceridaemia": True, "alp_elevated": False, "hypercalcaemia": False,
    "dxa_t_score_min": -1.1, "osteopenia": True, "osteoporosis_dxa": False,
    "bme_present": True, "bme_episode_count": 3.0, "bme_joint_count": 3.0, "bme_lower_limb": True,
    "bme_hip": True, "bme_ankle_foot": True, "bme_knee": True, "bme_femoral_head_neck_diffuse": True,
    "migration": True, "migration_count": 2.0, "migration_adjacent_joint": True,
    "migration_proximal_to_distal": False, "migration_interval_days_min": 45.0,
    "bme_resolved": True, "bme_all_resolved": False, "follow_up_mri_done": True,
}  # fmt: skip

# seed 002: 51-year-old man, talus → distal tibia (same joint), both resolved at 6 months.
SEED_002: Facts = {
    "age_years": 51.0, "male": True, "female": False, "middle_aged_male": True,
    "weight_bearing_pain": True, "trauma": False, "crp_elevated": False, "rf_positive": False,
    "hyperuricaemia": False, "bme_present": True, "bme_episode_count": 2.0, "bme_joint_count": 1.0,
    "bme_lower_limb": True, "bme_ankle_foot": True, "contrast_mri_done": True,
    "migration": True, "migration_count": 1.0, "migration_same_joint": True,
    "migration_interval_days_min": 120.0, "bme_resolved": True, "bme_all_resolved": True,
    "episode_duration_days_max": 120.0, "follow_up_mri_done": True,
}  # fmt: skip

# seed 003: 49-year-old man, left → right sacroiliac joint, both sides of the joint, normal labs, HLA-B27 negative.
SEED_003: Facts = {
    "age_years": 49.0, "male": True, "female": False, "middle_aged_male": True, "trauma": False,
    "crp_elevated": False, "esr_elevated": False, "inflammatory_markers_normal": True,
    "hla_b27_positive": False, "bme_present": True, "bme_episode_count": 2.0, "bme_joint_count": 2.0,
    "bme_lower_limb": False, "bme_sacroiliac": True, "bme_sacroiliac_both_sides_of_joint": True,
    "migration": True, "migration_count": 1.0, "migration_contralateral": True,
    "migration_interval_days_min": 150.0, "bme_resolved": True, "bme_all_resolved": True,
    "follow_up_mri_done": True,
}  # fmt: skip

# seed 004: 39-year-old woman, IV methylprednisolone + 6 months prednisone, bilateral femoral reconversion.
SEED_004: Facts = {
    "age_years": 39.0, "male": False, "female": True, "middle_aged_male": False,
    "glucocorticoid_exposure": True, "glucocorticoid_recent": True, "glucocorticoid_iv_pulse": True,
    "glucocorticoid_long_course": True, "glucocorticoid_duration_days": 180.0,
    "reconversion_driver": True, "rest_or_night_pain": True, "trauma": False,
    "marrow_reconversion_pattern": True, "bme_hip": True, "bme_bilateral_same_joint": True,
    "bme_lower_limb": True,
}  # fmt: skip

STEROID_OSTEONECROSIS: Facts = {
    "age_years": 36.0, "male": True, "female": False, "middle_aged_male": True,
    "glucocorticoid_exposure": True, "glucocorticoid_recent": True, "glucocorticoid_long_course": True,
    "weight_bearing_pain": True, "bme_present": True, "bme_hip": True, "bme_lower_limb": True,
    "double_line_sign": True, "band_like_t1_lesion": True,
}  # fmt: skip

ELDERLY_SIF: Facts = {
    "age_years": 74.0, "male": False, "female": True, "middle_aged_male": False,
    "osteoporosis_dxa": True, "dxa_t_score_min": -3.1, "sudden_onset_pain": True, "weight_bearing_pain": True,
    "trauma": False, "bme_present": True, "bme_hip": True, "bme_lower_limb": True,
    "subchondral_fracture_line": True,
}  # fmt: skip

SEPTIC: Facts = {
    "age_years": 62.0, "male": True, "female": False, "fever": True, "crp_mg_l": 150.0,
    "crp_elevated": True, "crp_high": True, "bme_present": True, "bme_knee": True, "bme_lower_limb": True,
    "joint_effusion": True,
}  # fmt: skip

METASTASIS: Facts = {
    "age_years": 66.0, "female": True, "male": False, "prior_malignancy": True,
    "bme_present": True, "bme_hip": True, "bme_lower_limb": True, "marrow_replacement": True,
}  # fmt: skip

SPONDYLOARTHRITIS: Facts = {
    "age_years": 28.0, "male": True, "female": False, "middle_aged_male": False,
    "hla_b27_positive": True, "inflammatory_back_pain": True, "bme_present": True,
    "bme_sacroiliac": True, "bme_bilateral_same_joint": True, "bme_sacroiliac_both_sides_of_joint": True,
}  # fmt: skip

PREGNANCY_HIP: Facts = {
    "age_years": 31.0, "male": False, "female": True, "pregnancy_late_or_postpartum": True,
    "weight_bearing_pain": True, "trauma": False, "bme_present": True, "bme_hip": True,
    "bme_lower_limb": True, "bme_femoral_head_neck_diffuse": True,
}  # fmt: skip
