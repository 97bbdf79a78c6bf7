"""Which true facts are risk factors, for the clinician's risk-factor list.

Sources: osteonecrosis (glucocorticoids, alcohol, smoking, renal disease,
chemotherapy, HIV/antiretrovirals, SLE, sickle cell, Gaucher, dysbaric
exposure, hyperlipidaemia: Mont MA et al. J Bone Joint Surg Am 2015;97:1604-27;
seed 003 §discussion); transient/migratory osteoporosis (late pregnancy or
postpartum, low vitamin D, hypothyroidism, osteopenia/osteoporosis, smoking,
alcohol, overload: seeds 000, 001); marrow reconversion (anaemia, heart
failure, myeloma, chemotherapy, G-CSF/EPO: seed 004); infection
(immunosuppression, diabetes: seed 000 Table 1); contusion (trauma).
"""

from __future__ import annotations

from typing import Final

from bmefhir.derive.factset import FactSet

RISK_FACTOR_FACTS: Final[tuple[str, ...]] = (
    "glucocorticoid_exposure",
    "glucocorticoid_recent",
    "glucocorticoid_long_course",
    "glucocorticoid_iv_pulse",
    "heavy_alcohol",
    "smoker",
    "renal_disease",
    "chemotherapy",
    "antiretroviral_therapy",
    "hiv",
    "sle",
    "sickle_cell",
    "gaucher",
    "decompression_exposure",
    "hypertriglyceridaemia",
    "pregnancy_late_or_postpartum",
    "low_vitamin_d",
    "hypothyroidism",
    "osteopenia",
    "osteoporosis_dxa",
    "overuse",
    "anaemia",
    "heart_failure",
    "myeloma",
    "haematological_malignancy",
    "gcsf_or_epo",
    "prior_malignancy",
    "immunosuppressed",
    "trauma",
)


def risk_factors(facts: FactSet) -> tuple[str, ...]:
    return tuple(name for name in RISK_FACTOR_FACTS if facts.is_true(name))
