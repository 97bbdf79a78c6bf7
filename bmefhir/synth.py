"""Synthetic patients for load tests, benchmarks and demos (seeded, deterministic).

Each patient follows one textbook scenario (a mix over every candidate) with
plausible labs, medications and an MRI sequence, written as FHIR R4 resources
that follow docs/input-conventions.md. Extra laboratory history pads a record
to the requested size, as real records are mostly labs.
"""

from __future__ import annotations

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
    """Accumulates one patient's resources with stable, prefixed ids."""

    def __init__(self, pid: str) -> None:
        self.pid = pid
        self.resources: list[Json] = []
        self._n = 0

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

    def condition(self, system: str, code: str, display: str, onset: date) -> None:
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


def synth_patient(index: int, *, seed: int = 0, resources: int = 100, scenario: str | None = None) -> list[Json]:
    """One synthetic patient of about ``resources`` resources (at least the scenario's own)."""
    rng = random.Random(f"{seed}:{index}")
    pid = f"synth-{seed}-{index:06d}"
    scenario = scenario or SCENARIOS[index % len(SCENARIOS)]
    b = _Builder(pid)
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
    day = onset - timedelta(days=720)
    while len(b.resources) < resources:
        loinc, unit, low, high = _LABS[len(b.resources) % len(_LABS)]
        b.lab(loinc, rng.uniform(low, high), unit, day)
        day += timedelta(days=rng.randrange(3, 30))
    return b.resources


def synth_cohort(patients: int, *, seed: int = 0, resources: int = 100) -> Iterator[tuple[str, list[Json]]]:
    for i in range(patients):
        res = synth_patient(i, seed=seed, resources=resources)
        yield res[0]["id"], res
