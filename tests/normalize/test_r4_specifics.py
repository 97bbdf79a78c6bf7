"""R4 (not R4B) JSON shapes parse: validation passes and the builder reads them.

The resources are trimmed from the official R4 examples (hl7.fhir.r4.examples 4.0.1).
"""

from __future__ import annotations

from datetime import date

from bmefhir.normalize import build_record
from bmefhir.normalize.parse import validate
from bmefhir.record import Site

# R4 MedicationStatement: medicationReference to a contained Medication, dosage.doseAndRate (R4 shape),
# statusReason, derivedFrom.
R4_MEDICATION_STATEMENT = {
    "resourceType": "MedicationStatement",
    "id": "example001",
    "contained": [
        {
            "resourceType": "Medication",
            "id": "med0309",
            "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]},
        }
    ],
    "status": "active",
    "statusReason": [{"coding": [{"system": "http://snomed.info/sct", "code": "182862001"}]}],
    "medicationReference": {"reference": "#med0309"},
    "subject": {"reference": "Patient/pat1", "display": "Donald Duck"},
    "effectiveDateTime": "2015-02-22",
    "dateAsserted": "2015-02-22",
    "derivedFrom": [{"reference": "MedicationRequest/medrx002"}],
    "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}]}],
    "dosage": [
        {
            "sequence": 1,
            "text": "1-2 tablets once daily at bedtime as needed for restless legs",
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "asNeededCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "32914008"}]},
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral Route"}]},
            "doseAndRate": [
                {
                    "type": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/dose-rate-type", "code": "ordered"}
                        ]
                    },
                    "doseRange": {"low": {"value": 1, "unit": "TAB"}, "high": {"value": 2, "unit": "TAB"}},
                }
            ],
        }
    ],
}

# R4 ImagingStudy: modality as a list of Coding, series.bodySite and series.laterality as Coding
# (R5 changed these to CodeableConcept / CodeableReference).
R4_IMAGING_STUDY = {
    "resourceType": "ImagingStudy",
    "id": "example-xr",
    "status": "available",
    "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "DX"}],
    "subject": {"reference": "Patient/dicom"},
    "started": "2017-01-01T11:01:20+03:00",
    "procedureCode": [{"coding": [{"system": "http://www.radlex.org", "code": "RPID2589"}]}],
    "series": [
        {
            "uid": "2.16.124.113543.6003.1154777499.30246.19789.3503430045.1",
            "number": 3,
            "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "DX"},
            "bodySite": {"system": "http://snomed.info/sct", "code": "T-15460", "display": "Wrist Joint"},
            "laterality": {"system": "http://snomed.info/sct", "code": "419161000", "display": "Unilateral left"},
            "started": "2011-01-01T11:01:20+03:00",
        }
    ],
}


def test_r4_medication_statement_validates_and_reads():
    assert validate(R4_MEDICATION_STATEMENT, "MedicationStatement/example001") == []
    r = build_record([R4_MEDICATION_STATEMENT])
    (m,) = r.medications
    assert (m.concept, m.drug, m.route, m.start, m.status) == (
        "glucocorticoid",
        "prednisone",
        "oral",
        date(2015, 2, 22),
        "active",
    )
    assert m.daily_dose_mg is None  # a dose range in tablets has no mg amount


def test_r4_imaging_study_validates_and_reads():
    assert validate(R4_IMAGING_STUDY, "ImagingStudy/example-xr") == []
    r = build_record([R4_IMAGING_STUDY])
    (s,) = r.studies
    assert (s.modalities, s.date, s.sites) == (("DX",), date(2017, 1, 1), (Site("wrist", "left"),))


def test_r5_shape_is_reported_not_fatal():
    r5 = dict(
        R4_IMAGING_STUDY,
        id="r5",
        modality=[{"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "MR"}]}],
    )
    issues = validate(r5, "ImagingStudy/r5")
    assert issues
    assert all(i.resource == "ImagingStudy/r5" for i in issues)
    assert any(i.element.startswith("ImagingStudy.modality[0]") for i in issues)
    r = build_record([r5])
    assert r.studies[0].modalities == ("DX", "MR")  # the tolerant reader still finds both codes
