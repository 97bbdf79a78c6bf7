"""Content-derived identifiers: the same patient always gets the same output ids.

Re-runs must update, not duplicate, so every output resource has a business
identifier derived from the patient, and its logical id / fullUrl is a uuid5
of that identifier.
"""

from __future__ import annotations

import uuid
from typing import Final

from bmefhir import __version__

BASE: Final = "http://bmefhir.org/fhir"
ASSESSMENT_SYSTEM: Final = f"{BASE}/sid/assessment"
DEVICE_SYSTEM: Final = f"{BASE}/sid/device"
DIFFERENTIAL_SYSTEM: Final = f"{BASE}/CodeSystem/bme-differential"
PROTOCOL_URL: Final = f"{BASE}/PlanDefinition/bme-differential"
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, BASE)

OUTPUT_KINDS: Final = ("diagnostic-report", "clinical-impression", "risk-assessment", "provenance")


def profile_url(name: str) -> str:
    return f"{BASE}/StructureDefinition/bmefhir-{name}"


def patient_key(patient_ref: str) -> str:
    """'Patient/abc' → 'abc' (the identifier prefix for that patient's outputs)."""
    return patient_ref.split("/", 1)[1] if "/" in patient_ref else patient_ref


def identifier_value(patient_ref: str, kind: str) -> str:
    return f"{patient_key(patient_ref)}/{kind}"


def output_uuid(patient_ref: str, kind: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{ASSESSMENT_SYSTEM}|{identifier_value(patient_ref, kind)}"))


def device_identifier_value() -> str:
    # Versioned, so every Provenance names the exact software that wrote it and the
    # shared Device never needs updating (concurrent writers would contend on it).
    return f"bmefhir/{__version__}"


def device_uuid() -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{DEVICE_SYSTEM}|{device_identifier_value()}"))
