"""The imaging-finding examples: one Observation per imaging finding of ``bmefhir.concepts``, conforming to
the profile ``bmefhir-imaging-finding`` (the profiles themselves are FSH: ig/fsh/input/fsh/profiles.fsh)."""

from __future__ import annotations

from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import FINDING_CONCEPTS

from .common import LATERALITY_EXT, OBS_CATEGORY, SCT, Json, concept, fhir_id, narrative, url


def example_observation(key: str) -> Json:
    display = FINDING_CONCEPTS[key]
    return {
        "resourceType": "Observation",
        "id": f"example-{fhir_id(key)}",
        "meta": {"profile": [url("StructureDefinition", "bmefhir-imaging-finding")]},
        "text": narrative(f"{display}: present, left femoral head (MRI, STIR)."),
        "extension": [{"url": LATERALITY_EXT, "valueCodeableConcept": concept(SCT, "7771000", "Left")}],
        "status": "final",
        "category": [concept(OBS_CATEGORY, "imaging", "Imaging")],
        "code": concept(url("CodeSystem", "imaging-finding"), key, display),
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2024-03-01",
        "valueCodeableConcept": concept(SCT, "52101004", "Present"),
        "bodySite": concept(url("CodeSystem", "body-structure"), "femoral_head", STRUCTURES["femoral_head"].display),
        "method": {"text": "STIR"},
        "partOf": [{"reference": "ImagingStudy/example"}],
    }
