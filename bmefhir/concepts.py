"""bmefhir's internal vocabulary: the concepts input codes are mapped to.

Terminology tables (``bmefhir/terminology/*.yaml``) map (system, code) pairs to
these keys; derive and the knowledge base speak only in these keys, so a new
code for an existing concept needs no change to the reasoning. Each group is a
mapping key → human description (and, for labs, the canonical UCUM unit).
"""

from __future__ import annotations

from typing import Final

# Lab concept → (description, canonical UCUM unit or None for coded results)
LAB_CONCEPTS: Final[dict[str, tuple[str, str | None]]] = {
    "crp": ("C-reactive protein", "mg/L"),
    "esr": ("Erythrocyte sedimentation rate", "mm/h"),
    "vitamin_d_25oh": ("25-hydroxyvitamin D", "ng/mL"),
    "rheumatoid_factor": ("Rheumatoid factor", "[IU]/mL"),
    "anti_ccp": ("Anti-cyclic citrullinated peptide antibody", "{U}/mL"),
    "hla_b27": ("HLA-B27", None),
    "uric_acid": ("Uric acid (urate)", "mg/dL"),
    "tsh": ("Thyrotropin (TSH)", "m[IU]/L"),
    "free_t4": ("Free thyroxine", "ng/dL"),
    "alkaline_phosphatase": ("Alkaline phosphatase", "U/L"),
    "calcium": ("Calcium, total", "mg/dL"),
    "calcium_corrected": ("Calcium, albumin-corrected", "mmol/L"),
    "calcium_ionized": ("Calcium, ionized", "mmol/L"),
    "phosphate": ("Phosphate", "mg/dL"),
    "pth": ("Parathyroid hormone, intact", "pg/mL"),
    "triglycerides": ("Triglycerides", "mg/dL"),
    "hemoglobin": ("Haemoglobin", "g/dL"),
    "wbc": ("White blood cell count", "10*3/uL"),
    "creatinine": ("Creatinine", "mg/dL"),
    "egfr": ("Estimated glomerular filtration rate", "mL/min/{1.73_m2}"),
    "procalcitonin": ("Procalcitonin", "ng/mL"),
    "monoclonal_protein": ("Monoclonal protein (M-spike)", "g/dL"),
    "gamma_globulin": ("Gamma globulin fraction", "g/dL"),
    "albumin_spep": ("Albumin fraction (SPEP)", "g/dL"),
    "total_protein": ("Total protein", "g/dL"),
    "immunofixation": ("Immunofixation, serum", None),
    "flc_kappa": ("Free kappa light chains", "mg/L"),
    "flc_lambda": ("Free lambda light chains", "mg/L"),
    "flc_ratio": ("Free kappa/lambda ratio", "{ratio}"),
}

# Social history, exam, symptoms, vitals, bone density, pregnancy.
OBSERVATION_CONCEPTS: Final[dict[str, str]] = {
    "smoking_current": "Current smoker (True) / not current (False)",
    "smoking_ever": "Ever smoked",
    "pack_years": "Tobacco pack-years",
    "alcohol_heavy": "Heavy alcohol use",
    "alcohol_units_per_week": "Alcohol units per week",
    "audit_c": "AUDIT-C score",
    "body_temperature": "Body temperature (Cel)",
    "fever": "Fever",
    "weight_bearing_pain": "Pain worse on weight bearing",
    "rest_pain": "Pain at rest / at night",
    "sudden_onset_pain": "Sudden spontaneous onset of pain",
    "limp": "Limp / antalgic gait",
    "rom_limitation_mild": "Range of motion only mildly limited (disproportionate to pain)",
    "rom_limited": "Range of motion limited (restricted, guarded or painful motion; not only mildly)",
    "joint_swelling": "Joint swelling",
    "joint_warmth": "Warm joint",
    "skin_changes": "Skin changes (colour, temperature, sweating, trophic)",
    "allodynia": "Allodynia / hyperalgesia",
    "trauma": "Trauma to the site",
    "inflammatory_back_pain": "Inflammatory back pain",
    "morning_stiffness": "Morning stiffness > 30 min",
    "dxa_t_score": "DXA T-score (lowest site)",
    "dxa_z_score": "DXA Z-score",
    "pregnancy": "Pregnant",
    "pregnancy_third_trimester": "Pregnant, third trimester",
    "gestational_age_weeks": "Gestational age (wk)",
    "postpartum": "Postpartum (within 6 months of delivery)",
    "breastfeeding": "Currently breastfeeding (lactating)",
    "weight_loss": "Unintentional weight loss",
    "night_sweats": "Night sweats",
    "constitutional_symptoms": "Constitutional (B) symptoms recorded as such (which ones not specified)",
    "night_pain_nsaid_relief": "Night pain relieved by NSAIDs or salicylates (aspirin)",
    "overuse": "Recent increase in activity / repetitive loading",
}

# Imaging findings (bmefhir CodeSystem imaging-finding; SNOMED CT where a concept exists).
FINDING_CONCEPTS: Final[dict[str, str]] = {
    "bone_marrow_edema": "Bone marrow edema pattern (T1 low, T2/STIR high)",
    "t1_low_signal": "T1 low signal of marrow",
    "t2_high_signal": "T2 (fat-suppressed) high signal of marrow",
    "stir_high_signal": "STIR high signal of marrow",
    "subchondral_low_signal_band": "Subchondral low-signal area >= 4 mm thick on T2 or contrast T1 (shape not stated)",
    "sif_band": (
        "Insufficiency-fracture band: irregular, discontinuous subchondral low-signal band convex to the articular "
        "surface, with extensive surrounding BME"
    ),
    "subchondral_fracture_line": "Subchondral fracture line (low-signal line parallel to the articular surface)",
    "double_line_sign": "Double-line sign on T2",
    "band_like_t1_lesion": (
        "Osteonecrosis band: smooth, band-like (serpiginous) subchondral low-signal line on T1, concave to the "
        "articular surface, demarcating a necrotic segment"
    ),
    "osteonecrosis_reported": "Osteonecrosis / avascular necrosis stated by the radiologist (signs not described)",
    "subchondral_cyst": "Subchondral cyst",
    "crescent_sign": "Crescent sign (subchondral collapse) on radiograph or CT",
    "articular_collapse": "Articular surface contour deformity / collapse",
    "marrow_reconversion_pattern": (
        "Red marrow reconversion pattern (patchy or diffuse T1 low, not below muscle, fat signal preserved)"
    ),
    "marrow_replacement": "Marrow replacing lesion (T1 signal below muscle, no fat signal)",
    "focal_enhancing_lesion": "Focal enhancing lesion / tumour tissue on contrast MRI",
    "focal_lesion": "Focal marrow lesion (not further characterised)",
    "lytic_lesion": "Lytic (osteolytic) bone lesion",
    "osteoid_osteoma_nidus": (
        "Nidus: small (< 2 cm) round lucent or enhancing focus, often centrally mineralised, with reactive sclerosis "
        "or cortical thickening (osteoid osteoma)"
    ),
    "cortical_destruction": "Cortical destruction",
    "soft_tissue_mass": "Soft tissue mass",
    "periosteal_reaction": "Periosteal reaction",
    "metaphyseal_diaphyseal_lesion": "Lesion widening metaphysis or diaphysis",
    "joint_effusion": "Joint effusion",
    "synovitis": "Synovitis / synovial enhancement",
    "erosions": "Bone erosions",
    "periarticular_bme_both_sides": "Periarticular BME on both sides of the joint",
    "cartilage_loss": "Cartilage loss / joint space narrowing",
    "meniscal_tear": "Meniscal tear",
    "meniscal_extrusion": "Meniscal extrusion",
    "osteophytes": "Osteophytes / degenerative changes",
    "abscess": "Abscess / fluid collection",
    "sinus_tract": "Sinus tract",
    "enthesitis": "Enthesitis",
    "fracture_line": "Fracture line (non-subchondral) / stress fracture",
    "geographic_reticular_bme_trauma_pattern": "Bone contusion pattern (reticular/geographic, impaction site)",
    "periarticular_osteopenia": "Periarticular osteopenia on radiograph",
    "scintigraphy_diffuse_uptake": "Scintigraphy: homogeneous diffuse uptake in all phases (femoral head and neck)",
    "scintigraphy_cold_spot": "Scintigraphy: cold area within increased uptake (hot around cold)",
    "scintigraphy_increased_uptake": "Scintigraphy: increased uptake (pattern not stated)",
    "scintigraphy_decreased_uptake": "Scintigraphy: decreased uptake / photopenic area",
    "contrast_enhancement": "Contrast enhancement of marrow (pattern not stated)",
    "delayed_enhancement": "Delayed, homogeneous enhancement on contrast MRI",
    "rim_enhancement": "Rim enhancement",
    "normal_study": "Study reported normal",
    # Histology / biopsy results (a pathology DiagnosticReport's conclusionCode, or an Observation). Kept in
    # this CodeSystem for now so that they flow through the finding path; decisive evidence in the knowledge base.
    "histology_malignancy": "Histology/biopsy: malignant tumour (primary, metastasis, myeloma, lymphoma, leukaemia)",
    "histology_osteonecrosis": "Histology/biopsy: osteonecrosis (necrotic trabeculae with empty lacunae)",
    "histology_osteomyelitis": "Histology/biopsy: osteomyelitis (inflammatory infiltrate with bone destruction)",
    "histology_fracture": "Histology/biopsy: subchondral (insufficiency) fracture with callus, no necrosis",
    "histology_marrow_edema": "Histology/biopsy: marrow edema only; necrosis, tumour and infection not found",
}

# Medication classes (RxNorm ingredients and ATC codes map here).
MEDICATION_CONCEPTS: Final[dict[str, str]] = {
    "glucocorticoid": "Systemic glucocorticoid",
    "bisphosphonate": "Bisphosphonate",
    "denosumab": "Denosumab",
    "teriparatide": "Teriparatide",
    "vitamin_d": "Vitamin D supplement",
    "calcium_supplement": "Calcium supplement",
    "nsaid": "NSAID",
    "analgesic": "Simple analgesic",
    "chemotherapy": "Antineoplastic chemotherapy",
    "levothyroxine": "Thyroid hormone replacement",
    "antiretroviral": "Antiretroviral therapy",
    "gcsf": "Granulocyte colony-stimulating factor",
    "erythropoietin": "Erythropoiesis-stimulating agent",
    "iloprost": "Prostacyclin analogue",
    "calcitonin": "Calcitonin",
    "antituberculous": "Antituberculous therapy (isoniazid and others)",
}

# Conditions / problems.
CONDITION_CONCEPTS: Final[dict[str, str]] = {
    "transient_osteoporosis": "Transient osteoporosis (known)",
    "osteonecrosis": "Osteonecrosis (known)",
    "osteoporosis": "Osteoporosis",
    "osteopenia": "Osteopenia",
    "osteomalacia": "Osteomalacia",
    "vitamin_d_deficiency": "Vitamin D deficiency",
    "hypothyroidism": "Hypothyroidism",
    "alcohol_abuse": "Alcohol use disorder",
    "tobacco_use": "Tobacco use",
    "renal_disease": "Chronic kidney disease / renal transplant",
    "pregnancy": "Pregnancy",
    "pregnancy_third_trimester": "Pregnancy, third trimester",
    "postpartum": "Postpartum state",
    "breastfeeding": "Breastfeeding (lactating mother)",
    "anaemia": "Chronic anaemia",
    "heart_failure": "Chronic heart failure",
    "multiple_myeloma": "Multiple myeloma",
    "myelofibrosis": "Myelofibrosis",
    "leukaemia": "Leukaemia",
    "lymphoma": "Lymphoma",
    "malignancy": "Malignant neoplasm (any, current or prior)",
    "bone_metastasis": "Metastatic disease of bone",
    "sickle_cell_disease": "Sickle cell disease / haemoglobinopathy",
    "gaucher_disease": "Gaucher disease",
    "hiv": "HIV infection",
    "sle": "Systemic lupus erythematosus",
    "rheumatoid_arthritis": "Rheumatoid arthritis",
    "gout": "Gout",
    "spondyloarthritis": "Axial spondyloarthritis / ankylosing spondylitis",
    "psoriasis": "Psoriasis / psoriatic arthritis",
    "inflammatory_bowel_disease": "Inflammatory bowel disease",
    "osteoarthritis": "Osteoarthritis",
    "septic_arthritis": "Septic arthritis",
    "osteomyelitis": "Osteomyelitis",
    "tuberculosis": "Tuberculosis",
    "diabetes": "Diabetes mellitus",
    "immunosuppression": "Immunosuppressed state",
    "asplenia": "Asplenia / hyposplenism (after splenectomy)",
    "crps": "Complex regional pain syndrome",
    "fracture": "Fracture",
    "fragility_fracture": "Fragility / insufficiency fracture",
    "trauma": "Injury to the site",
    "decompression_sickness": "Decompression sickness / dysbaric exposure",
    "hyperlipidaemia": "Hyperlipidaemia",
    "bme_syndrome": "Bone marrow edema syndrome",
    "joint_pain": "Joint pain (presenting complaint)",
    "low_back_pain": "Low back pain",
}

ALL_GROUPS: Final[dict[str, frozenset[str]]] = {
    "lab": frozenset(LAB_CONCEPTS),
    "observation": frozenset(OBSERVATION_CONCEPTS),
    "finding": frozenset(FINDING_CONCEPTS),
    "medication": frozenset(MEDICATION_CONCEPTS),
    "condition": frozenset(CONDITION_CONCEPTS),
}
