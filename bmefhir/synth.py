"""Synthetic patients for load tests, benchmarks and demos (seeded, deterministic).

Each patient follows one textbook scenario (a mix over every candidate) with
plausible labs, medications and an MRI sequence, written as FHIR R4 resources
that follow docs/input-conventions.md. Extra laboratory history pads a record
to the requested size, as real records are mostly labs.

``realistic=True`` writes the record an EHR's US Core API would return instead: the
scenario's drugs as MedicationRequests (dosage, dispense request, refills) and its
diagnoses as ICD-10-CM problem-list Conditions, buried among visits with encounters,
vital signs, routine labs, encounter diagnoses, immunizations, procedures, allergies
and clinical notes that do not bear on bone marrow edema (codes and their sources:
docs/input-conventions.md §Synthetic records).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any, Final

from bmefhir.render.ids import BASE

Json = dict[str, Any]

LOINC: Final = "http://loinc.org"
SCT: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
FINDING: Final = f"{BASE}/CodeSystem/imaging-finding"
STRUCTURE: Final = f"{BASE}/CodeSystem/body-structure"
CLINICAL: Final = f"{BASE}/CodeSystem/clinical-observation"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
LATERALITY_EXT: Final = f"{BASE}/StructureDefinition/laterality"
PRESENT: Final = {"system": SCT, "code": "52101004", "display": "Present"}
ABSENT: Final = {"system": SCT, "code": "2667000", "display": "Absent"}
SIDE_CODES: Final = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}

# (LOINC, UCUM unit, normal low, normal high) for padding labs.
_LABS: Final = (
    ("1988-5", "mg/L", 0.5, 6.0),
    ("30341-2", "mm/h", 2.0, 20.0),
    ("62292-8", "ng/mL", 22.0, 45.0),
    ("718-7", "g/dL", 12.5, 16.0),
    ("6690-2", "10*3/uL", 4.5, 9.5),
    ("2160-0", "mg/dL", 0.6, 1.1),
    ("17861-6", "mg/dL", 8.8, 10.2),
    ("6768-6", "U/L", 45.0, 110.0),
    ("3016-3", "m[IU]/L", 0.6, 3.5),
)

SCENARIOS: Final = (
    "transient_osteoporosis",
    "regional_migratory_osteoporosis",
    "osteonecrosis",
    "subchondral_insufficiency_fracture",
    "bone_marrow_reconversion",
    "infection",
    "neoplasm",
    "inflammatory_arthritis",
    "crps",
    "bone_contusion",
    "degenerative_bml",
)


class _Builder:
    """Accumulates one patient's resources with stable, prefixed ids.

    ``realistic``: medications and conditions in US Core shapes (MedicationRequest, ICD-10-CM
    problem-list items) instead of the plain MedicationStatement / Condition."""

    def __init__(self, pid: str, realistic: bool = False) -> None:
        self.pid = pid
        self.resources: list[Json] = []
        self._n = 0
        self.realistic = realistic

    def _id(self, kind: str) -> str:
        self._n += 1
        return f"{self.pid}-{kind}-{self._n}"

    def add(self, resource: Json) -> str:
        self.resources.append(resource)
        return f"{resource['resourceType']}/{resource['id']}"

    def subject(self) -> Json:
        return {"reference": f"Patient/{self.pid}"}

    def lab(self, loinc: str, value: float, unit: str, when: date) -> None:
        self.add(
            {
                "resourceType": "Observation",
                "id": self._id("lab"),
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "laboratory",
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": LOINC, "code": loinc}]},
                "subject": self.subject(),
                "effectiveDateTime": when.isoformat(),
                "valueQuantity": {"value": round(value, 2), "unit": unit, "system": UCUM, "code": unit},
            }
        )

    def clinical(self, concept: str, when: date, value: bool = True) -> None:
        self.add(
            {
                "resourceType": "Observation",
                "id": self._id("exam"),
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "exam"}
                        ]
                    }
                ],
                "code": {"coding": [{"system": CLINICAL, "code": concept}]},
                "subject": self.subject(),
                "effectiveDateTime": when.isoformat(),
                "valueBoolean": value,
            }
        )

    def mri(self, when: date, findings: list[tuple[str, str, str, bool]]) -> None:
        """findings: (finding concept, structure, side, present)."""
        study_id = self._id("mri")
        self.add(
            {
                "resourceType": "ImagingStudy",
                "id": study_id,
                "status": "available",
                "subject": self.subject(),
                "started": f"{when.isoformat()}T09:00:00Z",
                "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "MR"}],
            }
        )
        for concept, structure, side, present in findings:
            code, display = SIDE_CODES[side]
            self.add(
                {
                    "resourceType": "Observation",
                    "id": self._id("finding"),
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "imaging",
                                }
                            ]
                        }
                    ],
                    "code": {"coding": [{"system": FINDING, "code": concept}]},
                    "subject": self.subject(),
                    "effectiveDateTime": when.isoformat(),
                    "bodySite": {"coding": [{"system": STRUCTURE, "code": structure}]},
                    "extension": [
                        {
                            "url": LATERALITY_EXT,
                            "valueCodeableConcept": {"coding": [{"system": SCT, "code": code, "display": display}]},
                        }
                    ],
                    "valueCodeableConcept": {"coding": [PRESENT if present else ABSENT]},
                    "partOf": [{"reference": f"ImagingStudy/{study_id}"}],
                }
            )

    def medication(self, rxnorm: str, name: str, start: date, end: date, route: str = "oral") -> None:
        route_code = {"oral": ("26643006", "Oral route"), "intravenous": ("47625008", "Intravenous route")}[route]
        if self.realistic:
            self._orders(rxnorm, name, start, end, route_code)
            return
        self.add(
            {
                "resourceType": "MedicationStatement",
                "id": self._id("med"),
                "status": "completed",
                "medicationCodeableConcept": {
                    "coding": [{"system": RXNORM, "code": rxnorm, "display": name}],
                    "text": name,
                },
                "subject": self.subject(),
                "effectivePeriod": {"start": start.isoformat(), "end": end.isoformat()},
                "dosage": [{"route": {"coding": [{"system": SCT, "code": route_code[0], "display": route_code[1]}]}}],
            }
        )

    def _orders(self, rxnorm: str, name: str, start: date, end: date, route: tuple[str, str]) -> None:
        """A course as the orders a prescriber writes: one per 90 days at most (a renewal), each with
        its dosage bounds and dispense request, as a US Core MedicationRequest."""
        day = start
        while day <= end:
            last = min(end, day + timedelta(days=89))
            days = (last - day).days + 1
            self.add(
                medication_request(
                    self._id("medreq"),
                    self.pid,
                    (RXNORM, rxnorm, name),
                    day,
                    last,
                    status="completed",
                    route=route,
                    supply_days=30 if days % 30 == 0 else days,
                    repeats=days // 30 - 1 if days % 30 == 0 else 0,
                    bounds=day == start,  # renewals carry only the dispense request, as many EHRs send them
                )
            )
            day = last + timedelta(days=1)

    def condition(self, system: str, code: str, display: str, onset: date) -> None:
        if self.realistic:
            self.add(
                us_core_condition(
                    self._id("cond"), self.pid, (system, code, display), onset, "problem-list-item", recorded=onset
                )
            )
            return
        self.add(
            {
                "resourceType": "Condition",
                "id": self._id("cond"),
                "subject": self.subject(),
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
                "onsetDateTime": onset.isoformat(),
            }
        )


def _scenario(b: _Builder, scenario: str, onset: date, side: str, rng: random.Random) -> None:
    other = "left" if side == "right" else "right"
    b.clinical("weight_bearing_pain", onset)
    if scenario == "transient_osteoporosis":
        b.clinical("sudden_onset_pain", onset)
        b.mri(
            onset + timedelta(days=10),
            [
                ("bone_marrow_edema", "femoral_head", side, True),
                ("bone_marrow_edema", "femoral_neck", side, True),
                ("subchondral_low_signal_band", "femoral_head", side, False),
            ],
        )
        b.mri(onset + timedelta(days=180), [("bone_marrow_edema", "femoral_head", side, False)])
    elif scenario == "regional_migratory_osteoporosis":
        b.mri(onset + timedelta(days=7), [("bone_marrow_edema", "femoral_head", side, True)])
        b.mri(
            onset + timedelta(days=190),
            [("bone_marrow_edema", "talus", side, True), ("bone_marrow_edema", "femoral_head", side, False)],
        )
        b.mri(onset + timedelta(days=240), [("bone_marrow_edema", "medial_femoral_condyle", side, True)])
        b.lab("62292-8", rng.uniform(9, 18), "ng/mL", onset + timedelta(days=190))
    elif scenario == "osteonecrosis":
        b.medication("8640", "prednisone", onset - timedelta(days=400), onset - timedelta(days=100))
        b.mri(
            onset + timedelta(days=20),
            [
                ("bone_marrow_edema", "femoral_head", side, True),
                ("double_line_sign", "femoral_head", side, True),
                ("band_like_t1_lesion", "femoral_head", side, True),
            ],
        )
    elif scenario == "subchondral_insufficiency_fracture":
        b.lab("38267-1", rng.uniform(-3.4, -2.6), "1", onset - timedelta(days=60))
        b.mri(
            onset + timedelta(days=14),
            [
                ("bone_marrow_edema", "medial_femoral_condyle", side, True),
                ("subchondral_fracture_line", "medial_femoral_condyle", side, True),
            ],
        )
    elif scenario == "bone_marrow_reconversion":
        b.medication(
            "6902", "methylprednisolone", onset - timedelta(days=380), onset - timedelta(days=375), "intravenous"
        )
        b.medication("8640", "prednisone", onset - timedelta(days=375), onset - timedelta(days=190))
        b.mri(
            onset + timedelta(days=16),
            [("marrow_reconversion_pattern", "femoral_head", s, True) for s in (side, other)],
        )
    elif scenario == "infection":
        b.clinical("fever", onset)
        b.lab("1988-5", rng.uniform(120, 250), "mg/L", onset + timedelta(days=2))
        b.lab("6690-2", rng.uniform(13, 19), "10*3/uL", onset + timedelta(days=2))
        b.mri(
            onset + timedelta(days=3),
            [
                ("bone_marrow_edema", "distal_femur", side, True),
                ("joint_effusion", "knee", side, True),
                ("periarticular_bme_both_sides", "knee", side, True),
            ],
        )
    elif scenario == "neoplasm":
        b.condition(
            ICD10CM,
            "C50.919",
            "Malignant neoplasm of unspecified site of unspecified female breast",
            onset - timedelta(days=1500),
        )
        b.clinical("rest_pain", onset)
        b.mri(
            onset + timedelta(days=30),
            [("marrow_replacement", "femoral_neck", side, True), ("cortical_destruction", "femoral_neck", side, True)],
        )
    elif scenario == "crps":  # after an ankle sprain: Budapest-type signs, patchy foot/ankle BME
        b.clinical("trauma", onset - timedelta(days=30))
        for sign in ("allodynia", "skin_changes", "joint_swelling", "joint_warmth"):
            b.clinical(sign, onset)
        b.mri(
            onset + timedelta(days=21),
            [("bone_marrow_edema", bone, side, True) for bone in ("talus", "calcaneus", "distal_tibia")],
        )
    elif scenario == "bone_contusion":  # twisting knee injury, impaction-site marrow signal
        b.clinical("trauma", onset)
        b.mri(
            onset + timedelta(days=5),
            [
                ("bone_marrow_edema", "lateral_femoral_condyle", side, True),
                ("geographic_reticular_bme_trauma_pattern", "lateral_femoral_condyle", side, True),
                ("joint_effusion", "knee", side, True),
            ],
        )
        b.mri(onset + timedelta(days=120), [("bone_marrow_edema", "lateral_femoral_condyle", side, False)])
    elif scenario == "degenerative_bml":  # older patient, knee osteoarthritis, BML under worn cartilage
        b.condition(ICD10CM, "M17.11", "Unilateral primary osteoarthritis, right knee", onset - timedelta(days=900))
        b.mri(
            onset + timedelta(days=40),
            [
                ("bone_marrow_edema", "medial_tibial_plateau", side, True),
                ("cartilage_loss", "knee", side, True),
                ("osteophytes", "knee", side, True),
            ],
        )
    else:  # inflammatory_arthritis: axial spondyloarthritis pattern
        b.clinical("inflammatory_back_pain", onset)
        b.mri(
            onset + timedelta(days=60),
            [("bone_marrow_edema", "sacrum", s, True) for s in (side, other)] + [("erosions", "ilium", side, True)],
        )


def synth_patient(
    index: int, *, seed: int = 0, resources: int = 100, scenario: str | None = None, realistic: bool = False
) -> list[Json]:
    """One synthetic patient of about ``resources`` resources (at least the scenario's own); the Patient
    comes first. ``realistic``: US Core shapes with unrelated history around the same scenario (the
    same onset, side and ages as the plain patient of this seed and index)."""
    rng = random.Random(f"{seed}:{index}")
    pid = f"synth-{seed}-{index:06d}"
    scenario = scenario or SCENARIOS[index % len(SCENARIOS)]
    b = _Builder(pid, realistic)
    sex = "female" if scenario in {"subchondral_insufficiency_fracture", "bone_marrow_reconversion"} else "male"
    birth = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 45))
    if scenario == "degenerative_bml":
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 20))  # 60 and over
    b.add(
        {
            "resourceType": "Patient",
            "id": pid,
            "gender": sex,
            "birthDate": birth.isoformat(),
            "name": [{"family": "Synthetic", "given": [f"Patient {index}"]}],
        }
    )
    onset = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 600))
    _scenario(b, scenario, onset, rng.choice(("left", "right")), rng)
    if realistic:
        # Its own stream, so the scenario above matches the plain patient's exactly.
        return _realistic(b, random.Random(f"{seed}:{index}:realistic"), scenario, onset, birth, resources)
    day = onset - timedelta(days=720)
    while len(b.resources) < resources:
        loinc, unit, low, high = _LABS[len(b.resources) % len(_LABS)]
        b.lab(loinc, rng.uniform(low, high), unit, day)
        day += timedelta(days=rng.randrange(3, 30))
    return b.resources


def synth_cohort(
    patients: int, *, seed: int = 0, resources: int = 100, scenario: str | None = None, realistic: bool = False
) -> Iterator[tuple[str, list[Json]]]:
    """``patients`` patients (``synth_patient`` 0 … patients-1), each as (patient id, resources)."""
    for i in range(patients):
        res = synth_patient(i, seed=seed, resources=resources, scenario=scenario, realistic=realistic)
        yield res[0]["id"], res


# --- realistic records: US Core shapes ---------------------------------------------------------

OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CVX: Final = "http://hl7.org/fhir/sid/cvx"
V3_ACT: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
MEDREQ_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
DOC_CATEGORY: Final = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
ALLERGY_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"

# Vital signs (FHIR R4 observation-vitalsignresult value set): (LOINC, display, UCUM, low, high).
_VITALS: Final = (
    ("8867-4", "Heart rate", "/min", 58.0, 92.0),
    ("9279-1", "Respiratory rate", "/min", 12.0, 18.0),
    ("8310-5", "Body temperature", "Cel", 36.3, 37.2),
    ("2708-6", "Oxygen saturation in Arterial blood", "%", 95.0, 99.0),
    ("29463-7", "Body weight", "kg", 58.0, 96.0),
)
_BP: Final = ("85354-9", "Blood pressure panel with all children optional")
_BP_PARTS: Final = (
    ("8480-6", "Systolic blood pressure", 108.0, 142.0),
    ("8462-4", "Diastolic blood pressure", 64.0, 89.0),
)
# Routine chemistry the differential does not read, plus the blood count and creatinine it does (normal).
_ROUTINE_LABS: Final = (
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 72.0, 99.0),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 136.0, 145.0),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1),
    ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 8.0, 38.0),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 150.0, 199.0),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.8, 5.6),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 13.0, 15.8),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.5, 9.5),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.1),
)
# Chronic problems no criterion reads (ICD-10-CM) and the drug that treats each (RxNorm ingredient).
_PROBLEMS: Final = (
    (("I10", "Essential (primary) hypertension"), ("29046", "lisinopril")),
    (("I10", "Essential (primary) hypertension"), ("17767", "amlodipine")),
    (("K21.9", "Gastro-esophageal reflux disease without esophagitis"), ("7646", "omeprazole")),
    (("J45.909", "Unspecified asthma, uncomplicated"), ("435", "albuterol")),
)
_STATIN: Final = ("83367", "atorvastatin")
_VISIT_DIAGNOSES: Final = (
    ("Z00.00", "Encounter for general adult medical examination without abnormal findings"),
    ("J06.9", "Acute upper respiratory infection, unspecified"),
)
_VACCINES: Final = (
    ("140", "Influenza, seasonal, injectable, preservative free"),
    ("115", "Tdap"),
    ("187", "zoster vaccine recombinant"),
)
_CHECK_UP: Final = ("185349003", "Encounter for check up (procedure)")
_COLONOSCOPY: Final = ("73761001", "Colonoscopy")
_PENICILLIN: Final = ("7980", "Penicillin G")
_HIVES: Final = ("247472004", "Hives")
_PROGRESS_NOTE: Final = ("11506-3", "Progress note")
_NOTES: Final = (
    "Routine follow-up. Blood pressure reviewed; home readings acceptable. Continue current medications.",
    "Seen for annual review. No new complaints. Vaccinations discussed. Labs ordered.",
    "Follow-up visit. Medication list reconciled. Diet and exercise counselling given.",
)
# Withdrawn orders and refuted diagnoses a record also holds: read, they would change the differential.
_PREDNISONE: Final = ("8640", "prednisone")
_OSTEONECROSIS_REFUTED: Final = ("M87.859", "Other osteonecrosis, unspecified femur")
_STEROID_SCENARIOS: Final = frozenset({"osteonecrosis", "bone_marrow_reconversion"})


def _cc(system: str, code: str, display: str) -> Json:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _at(day: date, minute: int) -> str:
    return f"{day.isoformat()}T{8 + minute // 60:02d}:{minute % 60:02d}:00Z"


def medication_request(
    rid: str,
    pid: str,
    drug: tuple[str, str, str],
    start: date,
    end: date | None,
    *,
    status: str = "active",
    intent: str = "order",
    route: tuple[str, str] = ("26643006", "Oral route"),
    supply_days: int = 30,
    repeats: int = 0,
    bounds: bool = True,
) -> Json:
    """A US Core MedicationRequest: community order with dosage (once daily, bounded), dispense request
    (validity period, days' supply, refills), authoredOn and requester."""
    system, code, name = drug
    timing: Json = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
    if bounds:
        timing["repeat"]["boundsPeriod"] = {"start": start.isoformat()} | ({"end": end.isoformat()} if end else {})
    validity_end = end or start + timedelta(days=supply_days * (repeats + 1))
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": intent,
        "category": [
            {"coding": [{"system": MEDREQ_CATEGORY, "code": "community", "display": "Community"}], "text": "Community"}
        ],
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code, "display": name}], "text": name},
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": start.isoformat(),
        "requester": {"display": "Synthetic Prescriber"},
        "dosageInstruction": [
            {
                "text": f"{name} once daily",
                "timing": timing,
                "route": {"coding": [{"system": SCT, "code": route[0], "display": route[1]}]},
            }
        ],
        "dispenseRequest": {
            "validityPeriod": {"start": start.isoformat(), "end": validity_end.isoformat()},
            "numberOfRepeatsAllowed": repeats,
            "expectedSupplyDuration": {"value": supply_days, "unit": "days", "system": UCUM, "code": "d"},
        },
    }


def us_core_condition(
    rid: str,
    pid: str,
    code: tuple[str, str, str],
    onset: date,
    category: str,
    *,
    recorded: date,
    abatement: date | None = None,
    verification: str = "confirmed",
    encounter: str | None = None,
) -> Json:
    """A US Core Condition: problem-list-item or encounter-diagnosis, with clinical and verification status."""
    res: Json = {
        "resourceType": "Condition",
        "id": rid,
        "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": category}]}],
        "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": verification}]},
        "code": _cc(*code),
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": onset.isoformat(),
        "recordedDate": recorded.isoformat(),
    }
    if verification != "entered-in-error":  # R4 con-4/con-5: no clinical status on an entry in error
        clinical = "active" if abatement is None else "resolved"
        res["clinicalStatus"] = {"coding": [{"system": CONDITION_CLINICAL, "code": clinical}]}
    if abatement is not None:
        res["abatementDateTime"] = abatement.isoformat()
    if encounter is not None:
        res["encounter"] = {"reference": encounter}
    return res


def _observation(b: _Builder, category: str, code: tuple[str, str], when: str, encounter: str, **value: Any) -> None:
    b.add(
        {
            "resourceType": "Observation",
            "id": b._id("vs" if category == "vital-signs" else "rlab"),
            "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
            "code": _cc(LOINC, *code),
            "subject": b.subject(),
            "encounter": {"reference": encounter},
            "effectiveDateTime": when,
            **value,
        }
    )


def _quantity(value: float, unit: str) -> Json:
    return {"valueQuantity": {"value": round(value, 1), "unit": unit, "system": UCUM, "code": unit}}


def _visit(b: _Builder, rng: random.Random, day: date, problems: list[tuple[str, str]]) -> None:
    """One ambulatory visit: encounter, vital signs, maybe labs, a visit diagnosis, a note, a vaccine."""
    minute = rng.randrange(0, 540)
    enc_id = b._id("enc")
    encounter = b.add(
        {
            "resourceType": "Encounter",
            "id": enc_id,
            "status": "finished",
            "class": {"system": V3_ACT, "code": "AMB", "display": "ambulatory"},
            "type": [_cc(SCT, *_CHECK_UP)],
            "subject": b.subject(),
            "period": {"start": _at(day, minute), "end": _at(day, minute + 20)},
        }
    )
    when = _at(day, minute + 5)
    for loinc, display, unit, low, high in _VITALS:
        _observation(b, "vital-signs", (loinc, display), when, encounter, **_quantity(rng.uniform(low, high), unit))
    bp = [
        {"code": _cc(LOINC, loinc, display), **_quantity(rng.uniform(low, high), "mm[Hg]")}
        for loinc, display, low, high in _BP_PARTS
    ]
    _observation(b, "vital-signs", _BP, when, encounter, component=bp)
    if rng.random() < 0.5:
        for loinc, display, unit, low, high in rng.sample(_ROUTINE_LABS, k=rng.randint(3, len(_ROUTINE_LABS))):
            _observation(b, "laboratory", (loinc, display), when, encounter, **_quantity(rng.uniform(low, high), unit))
    diagnosis = _VISIT_DIAGNOSES[1] if rng.random() < 0.25 else _VISIT_DIAGNOSES[0]
    resolved = day + timedelta(days=10) if diagnosis is _VISIT_DIAGNOSES[1] else day
    b.add(
        us_core_condition(
            b._id("dx"),
            b.pid,
            (ICD10CM, *diagnosis),
            day,
            "encounter-diagnosis",
            recorded=day,
            abatement=resolved,
            encounter=encounter,
        )
    )
    for code, display in problems[:1] if rng.random() < 0.5 else []:  # the main problem, addressed again
        b.add(
            us_core_condition(
                b._id("dx"),
                b.pid,
                (ICD10CM, code, display),
                day,
                "encounter-diagnosis",
                recorded=day,
                encounter=encounter,
            )
        )
    if rng.random() < 0.4:
        text = rng.choice(_NOTES)
        b.add(
            {
                "resourceType": "DocumentReference",
                "id": b._id("note"),
                "status": "current",
                "type": _cc(LOINC, *_PROGRESS_NOTE),
                "category": [
                    {"coding": [{"system": DOC_CATEGORY, "code": "clinical-note", "display": "Clinical Note"}]}
                ],
                "subject": b.subject(),
                "date": _at(day, minute + 25),
                "author": [{"display": "Synthetic Clinician"}],
                "content": [
                    {
                        "attachment": {
                            "contentType": "text/plain",
                            "data": base64.b64encode(text.encode()).decode(),
                        }
                    }
                ],
                "context": {"encounter": [{"reference": encounter}], "period": {"start": _at(day, minute)}},
            }
        )
    if day.month in (10, 11) or rng.random() < 0.05:
        code, display = _VACCINES[0] if day.month in (10, 11) else rng.choice(_VACCINES[1:])
        b.add(
            {
                "resourceType": "Immunization",
                "id": b._id("imm"),
                "status": "completed",
                "vaccineCode": _cc(CVX, code, display),
                "patient": b.subject(),
                "encounter": {"reference": encounter},
                "occurrenceDateTime": _at(day, minute + 15),
                "primarySource": True,
            }
        )


def _realistic(b: _Builder, rng: random.Random, scenario: str, onset: date, birth: date, resources: int) -> list[Json]:
    """The scenario's resources buried among ``resources`` in all of unrelated US Core history."""
    pid = b.pid
    problems = rng.sample(_PROBLEMS, k=rng.randint(1, 3))
    dx_codes = list(dict.fromkeys(code for code, _drug in problems))
    since = max(onset - timedelta(days=3650), birth + timedelta(days=365 * 25))
    for code, display in dx_codes:
        first = since + timedelta(days=rng.randrange(0, 400))
        b.add(
            us_core_condition(b._id("cond"), pid, (ICD10CM, code, display), first, "problem-list-item", recorded=first)
        )
    if rng.random() < 0.4:
        b.add(
            {
                "resourceType": "AllergyIntolerance",
                "id": b._id("allergy"),
                "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
                "verificationStatus": {"coding": [{"system": ALLERGY_VERIFICATION, "code": "confirmed"}]},
                "category": ["medication"],
                "code": _cc(RXNORM, *_PENICILLIN),
                "patient": b.subject(),
                "recordedDate": since.isoformat(),
                "reaction": [{"manifestation": [_cc(SCT, *_HIVES)]}],
            }
        )
    if scenario not in _STEROID_SCENARIOS:
        # An order entered by mistake: withdrawn, so the differential must not count it.
        day = onset - timedelta(days=rng.randrange(60, 300))
        b.add(
            medication_request(
                b._id("medreq"), pid, (RXNORM, *_PREDNISONE), day, day + timedelta(days=120), status="entered-in-error"
            )
        )
    if scenario in {"transient_osteoporosis", "regional_migratory_osteoporosis", "bone_contusion"}:
        day = onset - timedelta(days=rng.randrange(400, 900))
        b.add(
            us_core_condition(
                b._id("dx"), pid, (ICD10CM, *_OSTEONECROSIS_REFUTED), day, "encounter-diagnosis", recorded=day,
                verification="refuted",
            )
        )  # fmt: skip

    drugs = [drug for _code, drug in problems] + ([_STATIN] if rng.random() < 0.5 else [])
    scenario_size = len(b.resources)
    keep = max(0, resources - scenario_size)
    covered_from = dict.fromkeys(drugs, onset + timedelta(days=400))
    # Visits back in time from a few months after the onset until the record is full, newest first, so
    # a cut keeps the history nearest the onset; chronic drugs are renewed for 90 days at a visit.
    day = onset + timedelta(days=300)
    while len(b.resources) - scenario_size < keep:
        _visit(b, rng, day, dx_codes)
        for rxnorm, name in drugs:
            if day + timedelta(days=89) < covered_from[(rxnorm, name)]:
                end = day + timedelta(days=89)
                b.add(
                    medication_request(
                        b._id("medreq"), pid, (RXNORM, rxnorm, name), day, end,
                        status="active" if end >= onset + timedelta(days=300) else "completed",
                        supply_days=30, repeats=2, bounds=rng.random() < 0.5,
                    )
                )  # fmt: skip
                covered_from[(rxnorm, name)] = day
        if rng.random() < 0.02:
            b.add(
                {
                    "resourceType": "Procedure",
                    "id": b._id("proc"),
                    "status": "completed",
                    "code": _cc(SCT, *_COLONOSCOPY),
                    "subject": b.subject(),
                    "performedDateTime": _at(day, 30),
                }
            )
        day -= timedelta(days=rng.randrange(10, 60) if day > since else 1)
    patient, scenario_part = b.resources[0], b.resources[1:scenario_size]
    # Every visit's Encounter comes before what references it, so the cut leaves no dangling reference.
    rest = scenario_part + b.resources[scenario_size : scenario_size + keep]
    rng.shuffle(rest)  # the BME data buried among the history (the Patient stays first)
    return [patient, *rest]
