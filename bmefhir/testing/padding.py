"""Realistic padding for large-record benchmarks and tests: the unrelated bulk of a real chart.

Real records are mostly encounters, vital signs, routine labs, immunizations, procedures and
claims. ``r4_templates`` takes such resources from the HL7 R4 example package (real shapes, real
codes); ``pad`` copies them, re-pointed at one patient with fresh ids, until a record has the
requested size. ``benchmarks/record_building.py`` uses ``synth_patient(..., realistic=True)`` (US
Core shapes) when it exists, and this padding otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from copy import deepcopy
from pathlib import Path
from typing import Any, Final

from bmefhir.normalize.imaging import is_radiology

Json = dict[str, Any]

# Types of a typical chart's bulk (Observation and DiagnosticReport: vital signs and lab panels
# among them; the relevant ones of the package stay in, as in a real chart).
PADDING_TYPES: Final = frozenset(
    {
        "Encounter",
        "Observation",
        "Immunization",
        "Procedure",
        "Claim",
        "ExplanationOfBenefit",
        "AllergyIntolerance",
        "CarePlan",
        "DiagnosticReport",
        "Condition",
        "MedicationRequest",
        "DocumentReference",
        "ServiceRequest",
        "Coverage",
    }
)
# Where each type names its patient (R4).
_PATIENT_ELEMENT: Final = {
    "Immunization": "patient",
    "AllergyIntolerance": "patient",
    "Claim": "patient",
    "ExplanationOfBenefit": "patient",
    "Coverage": "beneficiary",
}


def r4_templates(package: Path) -> list[Json]:
    """Patient-level resources of the padding types from the R4 example package, in file order.

    Radiology reports are left out: the patient's imaging is the synthetic core's own, and copies
    of one report text would measure the report reader (benchmarks/core.py times it apart).
    """
    out: list[Json] = []
    for path in sorted(package.glob("*.json")):
        if path.name.split("-")[0] not in PADDING_TYPES:
            continue
        res = json.loads(path.read_text(encoding="utf-8"))
        element = _PATIENT_ELEMENT.get(str(res.get("resourceType")), "subject")
        target = res.get(element)
        about_patient = isinstance(target, dict) and str(target.get("reference", "")).startswith("Patient/")
        if about_patient and not (res["resourceType"] == "DiagnosticReport" and is_radiology(res)):
            out.append(res)
    return out


def pad(resources: list[Json], templates: Sequence[Json], size: int, patient_id: str) -> list[Json]:
    """``resources`` plus copies of ``templates`` (cycled) about ``patient_id`` up to ``size`` resources."""
    out = list(resources)
    for k in range(size - len(out)):
        template = templates[k % len(templates)]
        res = deepcopy(template)
        res["id"] = f"{patient_id}-pad-{k}"
        res.pop("meta", None)
        res[_PATIENT_ELEMENT.get(str(res["resourceType"]), "subject")] = {"reference": f"Patient/{patient_id}"}
        out.append(res)
    return out
