"""The registry of facts derive may produce: the vocabulary of the knowledge base.

The knowledge base is validated against this registry at load time, so a
criterion naming a fact that derive never produces is an error, not a rule that
silently never fires. Thresholds used to turn numbers into booleans are listed
with their source in ``THRESHOLDS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal


@dataclass(frozen=True, slots=True)
class FactSpec:
    kind: Literal["bool", "number"]
    description: str
    unit: str | None = None


def _b(description: str) -> FactSpec:
    return FactSpec("bool", description)


def _n(description: str, unit: str | None = None) -> FactSpec:
    return FactSpec("number", description, unit)


# Cut-offs that turn values into booleans, with their source.
THRESHOLDS: Final[dict[str, tuple[float, str]]] = {
    "crp_elevated_mg_l": (10.0, "Conventional upper reference limit of CRP (10 mg/L)"),
    "crp_high_mg_l": (50.0, "Margaretten ME et al. JAMA 2007;297:1478-88 (septic arthritis work-up)"),
    "esr_elevated_mm_h": (30.0, "Margaretten ME et al. JAMA 2007;297:1478-88 (ESR > 30 mm/h)"),
    "vitamin_d_low_ng_ml": (20.0, "Holick MF et al. J Clin Endocrinol Metab 2011;96:1911-30 (deficiency < 20 ng/mL)"),
    "tsh_high_miu_l": (4.5, "Conventional upper reference limit of TSH (4.5 mIU/L)"),
    "uric_acid_high_mg_dl": (
        6.8,
        "Urate saturation threshold 6.8 mg/dL (Neogi T et al. Arthritis Rheumatol 2015;67:2557-68)",
    ),
    "wbc_high_10e3_ul": (11.0, "Conventional upper reference limit of WBC (11 x10^3/uL)"),
    "hemoglobin_low_g_dl": (12.0, "WHO anaemia threshold (Hb < 12 g/dL women; < 13 g/dL men)"),
    "hemoglobin_low_male_g_dl": (13.0, "WHO anaemia threshold (Hb < 13 g/dL men)"),
    "egfr_low": (60.0, "KDIGO 2012 CKD definition (eGFR < 60 mL/min/1.73 m2)"),
    "calcium_low_mg_dl": (8.5, "Conventional lower reference limit of total calcium (8.5 mg/dL)"),
    "paediatric_age_years": (
        18.0,
        "Paediatric population up to 18 years (ICH E11(R1) 2017: adolescents 12 to 16-18 years, by region); "
        "product labels state no use in paediatric patients (section 8.4)",
    ),
    "procalcitonin_high_ng_ml": (
        0.5,
        "Procalcitonin > 0.5 ng/mL suggests bacterial infection (Maharajan K et al. J Orthop Surg Res 2013;8:19)",
    ),
    "calcium_high_mg_dl": (10.5, "Conventional upper reference limit of total calcium (10.5 mg/dL)"),
    "alp_high_u_l": (130.0, "Conventional upper reference limit of alkaline phosphatase (130 U/L)"),
    "triglycerides_high_mg_dl": (150.0, "NCEP ATP III: triglycerides >= 150 mg/dL"),
    "dxa_osteoporosis_t": (-2.5, "WHO 1994: T-score <= -2.5 osteoporosis"),
    "dxa_osteopenia_t": (-1.0, "WHO 1994: T-score between -1 and -2.5 osteopenia"),
    "fever_celsius": (38.0, "Fever: body temperature >= 38.0 Cel"),
    "heavy_alcohol_units_week": (
        14.0,
        "Heavy drinking above 14 units/week (UK CMO 2016); AUDIT-C >= 4 men / >= 3 women (Bradley KA et al. 2007)",
    ),
    "glucocorticoid_recent_days": (
        365.0,
        "Glucocorticoid-associated osteonecrosis usually appears within 1-2 years of exposure "
        "(Mont MA et al. J Bone Joint Surg Am 2015;97:1604-27; seed 004)",
    ),
    "mri_early_hours": (48.0, "MRI may be normal within 48 h of onset (seed 000 §MRI; seed 001 §MRI)"),
    "radiograph_osteopenia_weeks": (
        3.0,
        "Radiographic osteopenia appears 3-6 weeks after onset (seed 000 §radiographs)",
    ),
}

FACTS: Final[dict[str, FactSpec]] = {
    # Demographics
    "age_years": _n("Age at the analysis date", "a"),
    "male": _b("Sex is male"),
    "female": _b("Sex is female"),
    "middle_aged_male": _b("Man aged 30-60 (the typical TO/RMO patient)"),
    "paediatric": _b("Child or adolescent (age under 18)"),
    "adult": _b("Adult (age 18 or more)"),
    # Glucocorticoids and other drugs
    "glucocorticoid_exposure": _b("Any systemic glucocorticoid exposure on record"),
    "glucocorticoid_recent": _b("Systemic glucocorticoid within the last year before the first BME"),
    "glucocorticoid_duration_days": _n("Total days of systemic glucocorticoid exposure", "d"),
    "glucocorticoid_days_since_last": _n("Days from the last glucocorticoid dose to the analysis date", "d"),
    "glucocorticoid_iv_pulse": _b("Intravenous (pulse) glucocorticoid on record"),
    "glucocorticoid_long_course": _b("Systemic glucocorticoid >= 3 months"),
    "bisphosphonate_exposure": _b("Bisphosphonate therapy on record"),
    "chemotherapy": _b("Antineoplastic chemotherapy on record"),
    "antiretroviral_therapy": _b("Antiretroviral therapy on record"),
    "gcsf_or_epo": _b("G-CSF or erythropoietin on record (marrow stimulation)"),
    "antituberculous_therapy": _b("Antituberculous therapy on record (isoniazid and others)"),
    # Lifestyle
    "heavy_alcohol": _b("Heavy alcohol use"),
    "smoker": _b("Current or former smoker"),
    "pack_years": _n("Tobacco pack-years", "{pack-years}"),
    # Labs (canonical units) and derived booleans
    "crp_mg_l": _n("Highest CRP", "mg/L"),
    "crp_elevated": _b("CRP above 10 mg/L"),
    "crp_high": _b("CRP above 50 mg/L"),
    "esr_mm_h": _n("Highest ESR", "mm/h"),
    "esr_elevated": _b("ESR above 30 mm/h"),
    "inflammatory_markers_normal": _b("CRP and ESR measured and not elevated"),
    "wbc_elevated": _b("WBC above 11 x10^3/uL"),
    "procalcitonin_elevated": _b("Procalcitonin above 0.5 ng/mL"),
    "vitamin_d_ng_ml": _n("Lowest 25-OH vitamin D", "ng/mL"),
    "low_vitamin_d": _b(
        "25-OH vitamin D below 20 ng/mL or flagged low by the laboratory, or vitamin D deficiency on the problem list"
    ),
    "hypothyroidism": _b("Hypothyroidism (diagnosis, levothyroxine, or TSH above range)"),
    "rf_positive": _b("Rheumatoid factor positive"),
    "anti_ccp_positive": _b("Anti-CCP positive"),
    "hla_b27_positive": _b("HLA-B27 positive"),
    "hyperuricaemia": _b("Uric acid above 6.8 mg/dL"),
    "hypertriglyceridaemia": _b("Triglycerides >= 150 mg/dL"),
    "anaemia": _b("Chronic anaemia (diagnosis or low haemoglobin)"),
    "hypercalcaemia": _b("Total calcium above 10.5 mg/dL"),
    "alp_elevated": _b("Alkaline phosphatase above 130 U/L"),
    "monoclonal_protein": _b("Monoclonal protein detected / abnormal light-chain ratio"),
    "renal_disease": _b("Renal disease (diagnosis or eGFR < 60)"),
    "egfr_min": _n("Lowest eGFR", "mL/min/{1.73_m2}"),
    "hypocalcaemia": _b("Total (or albumin-corrected) calcium below 8.5 mg/dL"),
    # Bone density
    "dxa_t_score_min": _n("Lowest DXA T-score"),
    "osteopenia": _b("Osteopenia (T-score -1 to -2.5, or diagnosis)"),
    "osteoporosis_dxa": _b("Osteoporosis (T-score <= -2.5, or diagnosis)"),
    # Conditions and history
    "pregnancy_late_or_postpartum": _b("Third trimester of pregnancy or within 6 months postpartum"),
    "pregnant": _b("Pregnant at the analysis date (any stage; status, trimester, gestational age or Condition)"),
    "pregnancy_weeks": _n("Gestational age projected to the analysis date", "wk"),
    "breastfeeding": _b("Breastfeeding at the analysis date"),
    "postpartum_recent": _b("Delivery within 6 months before the analysis date"),
    "pregnancy_unverified": _b(
        "Pregnancy, postpartum or breastfeeding recorded but contradicted by sex or age (a data-quality issue): "
        "not used for the differential, still a reason to withhold a treatment"
    ),
    "heart_failure": _b("Chronic heart failure"),
    "myeloma": _b("Multiple myeloma or myelofibrosis"),
    "haematological_malignancy": _b("Leukaemia, lymphoma or myeloma"),
    "reconversion_driver": _b(
        "A driver of red-marrow reconversion (anaemia, heart failure, myeloma, myelofibrosis, chemotherapy, "
        "G-CSF/EPO, glucocorticoids, smoking)"
    ),
    "sickle_cell": _b("Sickle cell disease or haemoglobinopathy"),
    "gaucher": _b("Gaucher disease"),
    "sle": _b("Systemic lupus erythematosus"),
    "hiv": _b("HIV infection"),
    "decompression_exposure": _b("Dysbaric exposure"),
    "prior_malignancy": _b("Current or prior malignancy (solid tumour)"),
    "known_inflammatory_arthritis": _b("Known RA, spondyloarthritis or psoriatic arthritis"),
    "known_gout": _b("Known gout"),
    "known_osteoarthritis": _b("Known osteoarthritis"),
    "known_bone_joint_infection": _b("Known septic arthritis, osteomyelitis or tuberculosis"),
    "immunosuppressed": _b("Immunosuppression, diabetes or asplenia (infection risk)"),
    "trauma": _b("Trauma to an affected site"),
    "overuse": _b("Recent overuse / increased loading"),
    # Symptoms and exam
    "fever": _b("Fever (>= 38.0 Cel or recorded)"),
    "weight_bearing_pain": _b("Pain worse on weight bearing"),
    "rest_or_night_pain": _b("Pain at rest or at night"),
    "sudden_onset_pain": _b("Sudden spontaneous onset"),
    "rom_disproportionately_preserved": _b("Range of motion only mildly limited for the pain"),
    "rom_limited": _b("Range of motion limited (restricted or guarded, not only mildly)"),
    "joint_swelling_or_warmth": _b("Swollen or warm joint"),
    "skin_changes": _b("Skin colour/temperature/sweating/trophic changes"),
    "allodynia": _b("Allodynia or hyperalgesia"),
    "inflammatory_back_pain": _b("Inflammatory back pain or morning stiffness"),
    "constitutional_symptoms": _b("Weight loss, night sweats or constitutional symptoms recorded as such"),
    "night_pain_nsaid_relief": _b("Night pain relieved by NSAIDs or salicylates (osteoid osteoma)"),
    # Imaging: distribution and course
    "bme_present": _b("BME seen on at least one MRI"),
    "bme_episode_count": _n("Number of BME episodes (site x side)"),
    "bme_joint_count": _n("Number of distinct joints with BME"),
    "bme_lower_limb": _b("BME in a weight-bearing lower-limb joint"),
    "bme_hip": _b("BME in the hip (femoral head/neck/acetabulum)"),
    "bme_femoral_head_neck_diffuse": _b("BME of femoral head extending into the neck (diffuse pattern)"),
    "bme_knee": _b("BME in the knee"),
    "bme_ankle_foot": _b("BME in the ankle or foot"),
    "bme_sacroiliac": _b("BME at a sacroiliac joint"),
    "bme_sacroiliac_both_sides_of_joint": _b("SIJ BME on both iliac and sacral sides"),
    "bme_subchondral_site": _b("BME at a weight-bearing subchondral site"),
    "bme_bilateral_same_joint": _b("BME in the same joint on both sides at the same time"),
    "bme_multifocal_simultaneous": _b("BME at >= 3 unrelated sites at the same time"),
    "bme_resolved": _b("At least one BME episode resolved on follow-up MRI"),
    "bme_all_resolved": _b("Every BME episode resolved on follow-up MRI"),
    "episode_duration_days_max": _n("Longest BME episode (first positive to resolution or last positive)", "d"),
    "migration": _b("BME migrated to a new site"),
    "migration_count": _n("Number of migrations"),
    "migration_adjacent_joint": _b("Migration to an adjacent joint"),
    "migration_same_joint": _b("Migration within the same joint (another bone / condyle)"),
    "migration_contralateral": _b("Migration to the same joint on the other side"),
    "migration_proximal_to_distal": _b("Migration proceeded proximal → distal"),
    "migration_interval_days_min": _n("Shortest interval between migrating episodes", "d"),
    "recurrence_same_site": _b("BME recurred at a site after resolving"),
    # Imaging: morphology
    "subchondral_low_signal_band": _b("Subchondral low-signal area >= 4 mm (Vande Berg)"),
    "subchondral_changes_absent": _b("Subchondral changes looked for and absent on MRI"),
    "subchondral_fracture_line": _b("Subchondral fracture line"),
    "double_line_sign": _b("Double-line sign"),
    "band_like_t1_lesion": _b(
        "Osteonecrosis band: smooth band-like T1 lesion, concave to the surface, demarcating a segment"
    ),
    "sif_band": _b("Insufficiency-fracture band: irregular subchondral band convex to the surface, extensive BME"),
    "osteonecrosis_reported": _b("Osteonecrosis stated by the radiologist (signs not described)"),
    "subchondral_cyst": _b("Subchondral cyst"),
    "crescent_sign": _b("Crescent sign"),
    "articular_collapse": _b("Articular contour deformity / collapse"),
    "marrow_reconversion_pattern": _b("Red marrow reconversion pattern"),
    "marrow_replacement": _b("Marrow-replacing lesion (T1 below muscle)"),
    "focal_enhancing_lesion": _b("Focal enhancing lesion / tumour tissue"),
    "focal_lesion": _b("Focal marrow lesion (not further characterised)"),
    "lytic_lesion": _b("Lytic (osteolytic) bone lesion"),
    "osteoid_osteoma_nidus": _b("Osteoid osteoma nidus (small lucent/enhancing focus with reactive sclerosis)"),
    "cortical_destruction": _b("Cortical destruction"),
    "soft_tissue_mass": _b("Soft tissue mass"),
    "periosteal_reaction": _b("Periosteal reaction"),
    "metaphyseal_diaphyseal_lesion": _b("Lesion in metaphysis/diaphysis"),
    "joint_effusion": _b("Joint effusion"),
    "synovitis": _b("Synovitis"),
    "erosions": _b("Bone erosions"),
    "periarticular_bme_both_sides": _b("BME on both sides of the joint"),
    "cartilage_loss": _b("Cartilage loss / joint-space narrowing"),
    "osteophytes": _b("Osteophytes"),
    "meniscal_tear": _b("Meniscal tear"),
    "meniscal_extrusion": _b("Meniscal extrusion"),
    "abscess": _b("Abscess or fluid collection"),
    "sinus_tract": _b("Sinus tract"),
    "enthesitis": _b("Enthesitis"),
    "fracture_line": _b("Fracture line (stress / insufficiency)"),
    "bone_contusion_pattern": _b("Bone contusion pattern"),
    "periarticular_osteopenia": _b("Periarticular osteopenia on radiograph"),
    "scintigraphy_diffuse_uptake": _b("Diffuse homogeneous uptake on bone scan"),
    "scintigraphy_cold_spot": _b("Cold spot within increased uptake on bone scan"),
    "scintigraphy_increased_uptake": _b("Increased uptake on bone scan (pattern not stated)"),
    "scintigraphy_decreased_uptake": _b("Decreased uptake / photopenic area on bone scan"),
    "contrast_enhancement": _b("Contrast enhancement of marrow (pattern not stated)"),
    "delayed_enhancement": _b("Delayed homogeneous enhancement on contrast MRI"),
    "rim_enhancement": _b("Rim enhancement"),
    "contrast_mri_done": _b("A contrast-enhanced MRI is on record"),
    # Histology / biopsy (decisive where present)
    "histology_malignancy": _b("Histology/biopsy: malignant tumour"),
    "histology_osteonecrosis": _b("Histology/biopsy: osteonecrosis"),
    "histology_osteomyelitis": _b("Histology/biopsy: osteomyelitis"),
    "histology_fracture": _b("Histology/biopsy: subchondral insufficiency fracture"),
    "histology_marrow_edema": _b("Histology/biopsy: marrow edema only; necrosis, tumour and infection not found"),
    "earlier_episode_other_joint": _b("Joint pain at another joint, resolved before this BME (history)"),
    "fracture_same_limb_before_bme": _b("Fracture of the BME limb 2 weeks to 1 year before the BME (history)"),
    "follow_up_mri_done": _b("More than one MRI of an affected site"),
    "follow_up_mri_every_site": _b("Every affected site (BME or another MRI lesion) had MRI on more than one date"),
}
