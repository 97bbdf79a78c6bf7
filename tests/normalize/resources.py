"""Small FHIR R4 resource builders for the normalisation tests."""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
FINDING = "http://bmefhir.org/fhir/CodeSystem/imaging-finding"
STRUCTURE = "http://bmefhir.org/fhir/CodeSystem/body-structure"
LATERALITY_EXT = "http://hl7.org/fhir/StructureDefinition/observation-structureLaterality"
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-04-02", "gender": "male"}


def cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code} | ({"display": display} if display else {})
    return {"coding": [coding]}


def lab(
    rid: str, code: str, value: float | None, unit: str | None, when: Any = "2024-03-01", **extra: Any
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [cc(CAT, "laboratory")],
        "code": cc(LOINC, code),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
    }
    if value is not None:
        q: dict[str, Any] = {"value": value}
        if unit is not None:
            q |= {"unit": unit, "system": UCUM, "code": unit}
        res["valueQuantity"] = q
    return res | extra


def finding(rid: str, concept: str, present: bool = True, when: str = "2024-03-02", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [cc(CAT, "imaging")],
        "code": cc(FINDING, concept),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueCodeableConcept": cc(SCT, "52101004" if present else "2667000"),
    } | extra


def study(
    rid: str = "mr1", modality: str = "MR", structure: str = "femoral_head", side_code: str = "7771000"
) -> dict[str, Any]:
    return {
        "resourceType": "ImagingStudy",
        "id": rid,
        "status": "available",
        "subject": {"reference": "Patient/p1"},
        "started": "2024-03-02T10:00:00+01:00",
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": modality}],
        "series": [
            {
                "uid": "1.2.3",
                "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": modality},
                "bodySite": {"system": STRUCTURE, "code": structure},
                "laterality": {"system": SCT, "code": side_code},
            }
        ],
    }
