"""Build the example FHIR R4 transaction Bundles and ``expected.yaml``.

One function per case; each uses the small builders of ``Case`` so every
resource of a kind has the same shape (see docs/input-conventions.md). Output
is deterministic: stable client-assigned ids, no clock, no random numbers
(DICOM UIDs are derived from the resource id), sorted keys.

    python examples/build_examples.py            # writes into examples/
    python examples/build_examples.py --out DIR  # writes elsewhere (tests)

Dates a paper gives only relative to an event are anchored in ``examples/README.md``.
Final diagnoses (TO, RMO, reconversion, ...) are deliberately not encoded: the
adapter must reach them from the facts.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from text_reports import WRITERS, Stated, TextForm  # examples/text_reports.py, beside this script

from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import (
    CONDITION_CONCEPTS,
    FINDING_CONCEPTS,
    MEDICATION_CONCEPTS,
    OBSERVATION_CONCEPTS,
)

Json = dict[str, Any]

# --- code systems (terminology.md, docs/input-conventions.md) ----------------------------------
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"  # diagnostic service section (SP = surgical pathology)
BMEFHIR = "http://bmefhir.org/fhir/CodeSystem"
FINDING_CS = f"{BMEFHIR}/imaging-finding"
CLINICAL_CS = f"{BMEFHIR}/clinical-observation"
BODY_CS = f"{BMEFHIR}/body-structure"
MEDCLASS_CS = f"{BMEFHIR}/medication-class"
CONDITION_CS = f"{BMEFHIR}/condition"

# The one place the laterality extension URL lives (docs/input-conventions.md).
LATERALITY_EXT = "http://bmefhir.org/fhir/StructureDefinition/laterality"

SIDES: dict[str, tuple[str, str]] = {
    "left": ("7771000", "Left"),
    "right": ("24028007", "Right"),
    "bilateral": ("51440002", "Right and left"),
}
PRESENT = ("52101004", "Present")
ABSENT = ("2667000", "Absent")
POSITIVE = ("10828004", "Positive")
NEGATIVE = ("260385009", "Negative")

# SNOMED CT body-structure candidates from terminology.md §6 (exact concepts only, no parents).
BODY_SNOMED: dict[str, tuple[str, str]] = {
    "hip": ("24136001", "Hip joint structure"),
    "knee": ("72696002", "Knee joint structure"),
    "ankle": ("70258002", "Ankle joint structure"),
    "talus": ("67453005", "Bone structure of talus"),
    "calcaneus": ("80144004", "Bone structure of calcaneum"),
    "foot": ("56459004", "Foot structure"),
    "sacroiliac_joint": ("39723000", "Sacroiliac joint structure"),
    "sacrum": ("54735007", "Bone structure of sacrum"),
    "ilium": ("22356005", "Bone structure of ilium"),
    "tibia": ("12611008", "Bone structure of tibia"),
    "wrist": ("74670003", "Wrist joint structure"),
}

# LOINC codes used, with the display where terminology.md verified the long name; None = lab label
# only, so the label goes to code.text instead of a display.
LOINC_NAMES: dict[str, tuple[str | None, str]] = {
    "1988-5": ("C reactive protein [Mass/volume] in Serum or Plasma", "CRP"),
    "4537-7": ("Erythrocyte [Sedimentation Rate] in Blood by Westergren method", "ESR (Westergren)"),
    "30341-2": ("Erythrocyte sedimentation rate", "ESR"),
    "62292-8": (
        "25-Hydroxyvitamin D2+25-Hydroxyvitamin D3 [Mass/volume] in Serum or Plasma",
        "25-OH vitamin D",
    ),
    "11572-5": (None, "Rheumatoid factor"),
    "26028-1": (None, "HLA-B27"),
    "3084-1": ("Urate [Mass/volume] in Serum or Plasma", "Uric acid"),
    "6768-6": ("Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", "ALP"),
    "17861-6": ("Calcium [Mass/volume] in Serum or Plasma", "Calcium"),
    "2777-1": (None, "Phosphorus, inorganic"),
    "2731-8": ("Parathyrin.intact [Mass/volume] in Serum or Plasma", "PTH, intact"),
    "2571-8": (None, "Triglycerides"),
    "718-7": (None, "Hemoglobin"),
    "6690-2": (None, "White blood cell count"),
    "2160-0": (None, "Creatinine"),
    "33959-8": (None, "Procalcitonin"),
    "38267-1": ("DXA Lumbar spine [T-score] Bone density", "DXA L1-L4 T-score"),
    "38263-0": ("DXA Femur [T-score] Bone density", "DXA femur T-score"),
    "72166-2": ("Tobacco smoking status", "Smoking status"),
    "82810-3": ("Pregnancy status", "Pregnancy status"),
    "11884-4": ("Gestational age Estimated", "Gestational age"),
    "8310-5": ("Body temperature", "Body temperature"),
    "18748-4": ("Diagnostic imaging study", "Imaging report"),
    "24538-1": ("MR Ankle", "MRI ankle report"),
    "LP29684-5": ("Radiology", "Radiology"),
}
SMOKING_ANSWERS: dict[str, tuple[str, str]] = {
    "current": ("449868002", "Current every day smoker"),
    "former": ("8517006", "Former smoker"),
    "never": ("266919005", "Never smoker"),
    "unknown_status": ("77176002", "Smoker, current status unknown"),
}
ROUTES: dict[str, tuple[str, str]] = {
    "oral": ("26643006", "Oral route"),
    "intravenous": ("47625008", "Intravenous route"),
}
# (RxNorm ingredient, ATC, medication-class fallback): terminology.md §8.
DRUGS: dict[str, tuple[tuple[str, str] | None, tuple[str, str] | None, str | None]] = {
    "paracetamol": (("161", "acetaminophen"), ("N02BE01", "paracetamol"), None),
    "cholecalciferol": (("2418", "cholecalciferol"), ("A11CC05", "colecalciferol"), None),
    "alendronate": (("46041", "alendronate"), ("M05BA04", "alendronic acid"), None),
    "calcium_vitamin_d": (None, ("A12AX", "Calcium, combinations with vitamin D and/or other drugs"), None),
    "methylprednisolone": (("6902", "methylprednisolone"), ("H02AB04", "methylprednisolone"), None),
    "prednisone": (("8640", "prednisone"), ("H02AB07", "prednisone"), None),
    "nsaid": (None, ("M01A", "Antiinflammatory and antirheumatic products, non-steroids"), None),
    "nsaid_unspecified": (None, None, "nsaid"),
}


def _coding(system: str, code: str, display: str | None = None) -> Json:
    c: Json = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


def _cc(*codings: Json, text: str | None = None) -> Json:
    cc: Json = {"coding": list(codings)} if codings else {}
    if text:
        cc["text"] = text
    return cc


def _ref(resource: Json) -> Json:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def _side_word(side: str | None) -> str:
    return {"left": "Left ", "right": "Right ", "bilateral": "Bilateral "}.get(side or "", "")


def body_site(structure: str, side: str | None = None) -> Json:
    """bodySite: the bmefhir structure key, plus the SNOMED CT candidate where §6 lists one."""
    s = STRUCTURES[structure]
    codings = [_coding(BODY_CS, structure, s.display)]
    if structure in BODY_SNOMED:
        codings.append(_coding(SCT, *BODY_SNOMED[structure]))
    return _cc(*codings, text=f"{_side_word(side)}{s.display.lower()}".capitalize())


def laterality_ext(side: str) -> Json:
    return {"url": LATERALITY_EXT, "valueCodeableConcept": _cc(_coding(SCT, *SIDES[side]))}


def loinc(code: str) -> Json:
    display, label = LOINC_NAMES[code]
    return _cc(_coding(LOINC, code, display), text=label)


def quantity(value: float, unit: str) -> Json:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def category(code: str, display: str) -> list[Json]:
    return [_cc(_coding(OBS_CATEGORY, code, display))]


def dicom_uid(resource_id: str) -> str:
    """A UUID-derived OID (DICOM PS3.5 B.2), stable for a given id."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'http://bmefhir.org/examples/' + resource_id).int}"


class Case:
    """Collects the resources of one example patient; every builder returns the resource."""

    def __init__(self, case_id: str, *, label: str, gender: str, birth_date: date) -> None:
        self.case_id = case_id
        self.resources: list[Json] = []
        self.stated: dict[str, list[Stated]] = {}  # ImagingStudy id → its coded findings (for the text form)
        # findings reported without saying how they were imaged: key → (date, description), their Stated in ``stated``
        self.unimaged: dict[str, tuple[date, str]] = {}
        family, given = label.split(" ", 1)[1], label.split(" ", 1)[0]
        self.patient = self._add(
            {
                "resourceType": "Patient",
                "id": case_id,
                "name": [{"use": "official", "family": family, "given": [given], "text": label}],
                "gender": gender,
                "birthDate": birth_date.isoformat(),
            }
        )

    def _add(self, resource: Json) -> Json:
        rid = resource["id"]
        if len(rid) > 64 or any(
            r["id"] == rid and r["resourceType"] == resource["resourceType"] for r in self.resources
        ):
            raise ValueError(f"bad or duplicate id {resource['resourceType']}/{rid}")
        self.resources.append(resource)
        return resource

    def _obs(self, suffix: str, cat: list[Json], code: Json, when: date, **rest: Any) -> Json:
        obs: Json = {
            "resourceType": "Observation",
            "id": f"{self.case_id}-{suffix}",
            "status": "final",
            "category": cat,
            "code": code,
            "subject": _ref(self.patient),
            "effectiveDateTime": when.isoformat(),
        }
        obs.update({k: v for k, v in rest.items() if v is not None})
        return self._add(obs)

    # --- labs -----------------------------------------------------------------------------
    def lab(
        self,
        suffix: str,
        code: str,
        when: date,
        value: float | None,
        unit: str | None = None,
        *,
        interpretation: str | None = None,
        high: float | None = None,
        note: str | None = None,
    ) -> Json:
        """A quantitative lab; ``value`` None = reported only as normal/abnormal (interpretation)."""
        return self._obs(
            suffix,
            category("laboratory", "Laboratory"),
            loinc(code),
            when,
            valueQuantity=quantity(value, unit) if value is not None and unit else None,
            interpretation=[_cc(_coding(INTERPRETATION, interpretation))] if interpretation else None,
            referenceRange=[{"high": quantity(high, unit)}] if high is not None and unit else None,
            note=[{"text": note}] if note else None,
        )

    def coded_lab(self, suffix: str, code: str, when: date, positive: bool) -> Json:
        answer = POSITIVE if positive else NEGATIVE
        return self._obs(
            suffix,
            category("laboratory", "Laboratory"),
            loinc(code),
            when,
            valueCodeableConcept=_cc(_coding(SCT, *answer)),
            interpretation=[_cc(_coding(INTERPRETATION, "POS" if positive else "NEG"))],
        )

    def dxa(self, suffix: str, code: str, when: date, t_score: float, note: str | None = None) -> Json:
        return self._obs(
            suffix,
            category("imaging", "Imaging"),
            loinc(code),
            when,
            valueQuantity=quantity(t_score, "{T-score}"),
            note=[{"text": note}] if note else None,
        )

    # --- social history, pregnancy, vitals, exam -------------------------------------------------
    def smoking(self, when: date, status: str, pack_years: float | None = None) -> None:
        self._obs(
            "smoking",
            category("social-history", "Social History"),
            loinc("72166-2"),
            when,
            valueCodeableConcept=_cc(_coding(SCT, *SMOKING_ANSWERS[status])),
        )
        if pack_years is not None:
            self._obs(
                "pack-years",
                category("social-history", "Social History"),
                _cc(_coding(SCT, "401201003", "Cigarette pack-years"), text="Pack-years"),
                when,
                valueQuantity=quantity(pack_years, "{pack-years}"),
            )

    def pregnancy(self, when: date, gestational_weeks: float) -> None:
        self._obs(
            "pregnancy-status",
            category("social-history", "Social History"),
            loinc("82810-3"),
            when,
            valueCodeableConcept=_cc(_coding(SCT, "77386006", "Pregnant")),
        )
        self._obs(
            "gestational-age",
            category("social-history", "Social History"),
            loinc("11884-4"),
            when,
            valueQuantity=quantity(gestational_weeks, "wk"),
        )

    def temperature(self, suffix: str, when: date, celsius: float) -> Json:
        return self._obs(
            suffix,
            category("vital-signs", "Vital Signs"),
            loinc("8310-5"),
            when,
            valueQuantity=quantity(celsius, "Cel"),
        )

    def exam(
        self,
        suffix: str,
        concept: str,
        when: date,
        value: bool,
        *,
        site: str | None = None,
        side: str | None = None,
        note: str | None = None,
        text_only: str | None = None,
    ) -> Json:
        """A symptom or exam finding; ``text_only`` gives a free-text code (no bmefhir concept exists)."""
        code = _cc(text=text_only) if text_only else _cc(_coding(CLINICAL_CS, concept, OBSERVATION_CONCEPTS[concept]))
        return self._obs(
            suffix,
            category("exam", "Exam"),
            code,
            when,
            valueBoolean=value,
            bodySite=body_site(site, side) if site else None,
            extension=[laterality_ext(side)] if side else None,
            note=[{"text": note}] if note else None,
        )

    # --- imaging -------------------------------------------------------------------------------
    def study(
        self,
        suffix: str,
        modality: str,
        when: date,
        sites: list[tuple[str, str | None]],
        description: str,
    ) -> Json:
        """An ImagingStudy with one series per (structure, side)."""
        sid = f"{self.case_id}-{suffix}"
        mod = _coding(DCM, modality, MODALITIES[modality])
        study: Json = {
            "resourceType": "ImagingStudy",
            "id": sid,
            "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{dicom_uid(sid)}"}],
            "status": "available",
            "subject": _ref(self.patient),
            "started": when.isoformat(),
            "modality": [mod],
            "numberOfSeries": 0,
            "description": description,
            "series": [],
        }
        for structure, side in sites:
            self._series(study, structure, side)
        return self._add(study)

    @staticmethod
    def _series(study: Json, structure: str, side: str | None) -> None:
        """Add a series for (structure, side) unless the study has one: findings and series agree."""
        laterality = _coding(SCT, *SIDES[side]) if side else None
        for s in study["series"]:
            if s["bodySite"]["code"] == structure and s.get("laterality") == laterality:
                return
        n = len(study["series"]) + 1
        series: Json = {
            "uid": dicom_uid(f"{study['id']}-series-{n}"),
            "number": n,
            "modality": study["modality"][0],
            "description": f"{_side_word(side)}{STRUCTURES[structure].display.lower()}".capitalize(),
            "bodySite": _coding(BODY_CS, structure, STRUCTURES[structure].display),
        }
        if laterality:
            series["laterality"] = laterality
        study["series"].append(series)
        study["numberOfSeries"] = n

    def finding(
        self,
        study: Json,
        concept: str,
        structure: str,
        side: str | None,
        present: bool = True,
        *,
        method: str | None = None,
        note: str | None = None,
    ) -> Json:
        """A bmefhir-imaging-finding Observation, dated and sited like its study."""
        self._series(study, structure, side)
        self.stated.setdefault(study["id"], []).append(Stated(concept, structure, side, present, note))
        codings = [_coding(FINDING_CS, concept, FINDING_CONCEPTS[concept])]
        if concept == "periarticular_osteopenia":
            codings.append(_coding(SCT, "312894000", "Osteopenia"))
        side_tag = {"left": "-l", "right": "-r", "bilateral": "-lr"}.get(side or "", "")
        suffix = f"{study['id'].removeprefix(self.case_id + '-')}-{_short(concept)}-{_short(structure)}{side_tag}"
        return self._obs(
            suffix,
            category("imaging", "Imaging"),
            _cc(*codings),
            date.fromisoformat(study["started"]),
            valueCodeableConcept=_cc(_coding(SCT, *(PRESENT if present else ABSENT))),
            bodySite=body_site(structure, side),
            extension=[laterality_ext(side)] if side else None,
            derivedFrom=[_ref(study)],
            method=_cc(text=method) if method else None,
            note=[{"text": note}] if note else None,
        )

    def report(self, suffix: str, study: Json, conclusion: str, codes: list[str], issued: str) -> Json:
        """A radiology DiagnosticReport whose conclusionCode carries the findings (at every series' site)."""
        side_of = {code: side for side, (code, _) in SIDES.items()}
        for series in study["series"]:
            side = side_of.get(series.get("laterality", {}).get("code", ""))
            for code in codes:
                self.stated.setdefault(study["id"], []).append(Stated(code, series["bodySite"]["code"], side, True))
        return self._add(
            {
                "resourceType": "DiagnosticReport",
                "id": f"{self.case_id}-{suffix}",
                "status": "final",
                "category": [_cc(_coding(LOINC, "LP29684-5", "Radiology"))],
                "code": loinc("18748-4"),
                "subject": _ref(self.patient),
                "effectiveDateTime": study["started"],
                "issued": issued,
                "imagingStudy": [_ref(study)],
                "conclusion": conclusion,
                "conclusionCode": [_cc(_coding(FINDING_CS, c, FINDING_CONCEPTS[c])) for c in codes],
            }
        )

    def unimaged_finding(
        self,
        key: str,
        when: date,
        description: str,
        concept: str,
        structure: str,
        side: str | None,
        present: bool = True,
        *,
        note: str | None = None,
    ) -> Json:
        """An imaging finding whose modality the source does not state: no ImagingStudy, no ``derivedFrom``
        (docs/input-conventions.md: read and counted, with no modality)."""
        sid = f"{self.case_id}-{key}"
        self.unimaged.setdefault(sid, (when, description))
        self.stated.setdefault(sid, []).append(Stated(concept, structure, side, present, note))
        side_tag = {"left": "-l", "right": "-r", "bilateral": "-lr"}.get(side or "", "")
        return self._obs(
            f"{key}-{_short(concept)}-{_short(structure)}{side_tag}",
            category("imaging", "Imaging"),
            _cc(_coding(FINDING_CS, concept, FINDING_CONCEPTS[concept])),
            when,
            valueCodeableConcept=_cc(_coding(SCT, *(PRESENT if present else ABSENT))),
            bodySite=body_site(structure, side),
            extension=[laterality_ext(side)] if side else None,
            note=[{"text": note}] if note else None,
        )

    def pathology(self, suffix: str, when: date, title: str, conclusion: str, codes: list[str], issued: str) -> Json:
        """A pathology DiagnosticReport (v2-0074 SP) whose conclusionCode carries the histology result;
        decisive evidence (criteria/histology.yaml). Its text is not read, only the codes."""
        return self._add(
            {
                "resourceType": "DiagnosticReport",
                "id": f"{self.case_id}-{suffix}",
                "status": "final",
                "category": [_cc(_coding(V2_0074, "SP", "Surgical Pathology"))],
                "code": _cc(text=title),
                "subject": _ref(self.patient),
                "effectiveDateTime": when.isoformat(),
                "issued": issued,
                "conclusion": conclusion,
                "conclusionCode": [_cc(_coding(FINDING_CS, c, FINDING_CONCEPTS[c])) for c in codes],
            }
        )

    # --- medication and conditions ------------------------------------------------------------
    def medication(
        self,
        suffix: str,
        drug: str,
        start: date,
        end: date | None,
        *,
        route: str | None = "oral",
        text: str,
        dose: tuple[float, str] | None = None,
        per: tuple[int, int, str] | None = None,
        status: str | None = None,
    ) -> Json:
        """A MedicationStatement; ``per`` = (frequency, period, unit) e.g. (1, 1, "wk")."""
        rx, atc, medclass = DRUGS[drug]
        codings = []
        if rx:
            codings.append(_coding(RXNORM, *rx))
        if atc:
            codings.append(_coding(ATC, *atc))
        if medclass:
            codings.append(_coding(MEDCLASS_CS, medclass, MEDICATION_CONCEPTS[medclass]))
        dosage: Json = {"text": text}
        if route:
            dosage["route"] = _cc(_coding(SCT, *ROUTES[route]))
        if per:
            dosage["timing"] = {"repeat": {"frequency": per[0], "period": per[1], "periodUnit": per[2]}}
        if dose:
            dosage["doseAndRate"] = [{"doseQuantity": quantity(*dose)}]
        period: Json = {"start": start.isoformat()}
        if end:
            period["end"] = end.isoformat()
        return self._add(
            {
                "resourceType": "MedicationStatement",
                "id": f"{self.case_id}-{suffix}",
                "status": status or ("completed" if end else "active"),
                "medicationCodeableConcept": _cc(*codings, text=text.split(";")[0]),
                "subject": _ref(self.patient),
                "effectivePeriod": period,
                "dosage": [dosage],
            }
        )

    def condition(
        self,
        suffix: str,
        codings: list[Json],
        onset: date,
        abatement: date | None = None,
        *,
        text: str,
        site: str | None = None,
        side: str | None = None,
        note: str | None = None,
        clinical_status: str | None = None,
    ) -> Json:
        status = clinical_status or ("resolved" if abatement else "active")
        cond: Json = {
            "resourceType": "Condition",
            "id": f"{self.case_id}-{suffix}",
            "clinicalStatus": _cc(_coding(COND_CLINICAL, status)),
            "verificationStatus": _cc(_coding(COND_VERIFICATION, "confirmed")),
            "category": [_cc(_coding(COND_CATEGORY, "problem-list-item", "Problem List Item"))],
            "code": _cc(*codings, text=text),
            "subject": _ref(self.patient),
            "onsetDateTime": onset.isoformat(),
        }
        if abatement:
            cond["abatementDateTime"] = abatement.isoformat()
        if site:
            cond["bodySite"] = [body_site(site, side)]
        if note:
            cond["note"] = [{"text": note}]
        return self._add(cond)

    def bundle(self) -> Json:
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": f"{r['resourceType']}/{r['id']}",
                    "resource": r,
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                }
                for r in self.resources
            ],
        }


MODALITIES = {
    "MR": "Magnetic Resonance",
    "CR": "Computed Radiography",
    "DX": "Digital Radiography",
    "CT": "Computed Tomography",
    "NM": "Nuclear Medicine",
}
_SHORT = {
    "bone_marrow_edema": "bme",
    "subchondral_low_signal_band": "subch-band",
    "subchondral_fracture_line": "subch-fx",
    "band_like_t1_lesion": "band-t1",
    "marrow_reconversion_pattern": "reconv",
    "periarticular_bme_both_sides": "bme-both-sides",
    "periarticular_osteopenia": "osteopenia",
    "geographic_reticular_bme_trauma_pattern": "contusion",
    "scintigraphy_diffuse_uptake": "scint-diffuse",
    "scintigraphy_cold_spot": "scint-cold",
    "medial_femoral_condyle": "mfc",
    "lateral_femoral_condyle": "lfc",
    "lateral_tibial_plateau": "ltp",
    "medial_tibial_plateau": "mtp",
}


def _short(key: str) -> str:
    return _SHORT.get(key, key).replace("_", "-")


def cond_code(concept: str) -> Json:
    """The bmefhir condition fallback coding (used where terminology.md has no code)."""
    return _coding(CONDITION_CS, concept, CONDITION_CONCEPTS[concept])


Expectation = dict[str, Any]
CaseFn = Callable[[], tuple[Case, Expectation]]
CASES: dict[str, CaseFn] = {}


def case(name: str) -> Callable[[CaseFn], CaseFn]:
    def register(fn: CaseFn) -> CaseFn:
        CASES[name] = fn
        return fn

    return register


def expect(top: list[str], red_flags: list[str] | None = None, not_top: list[str] | None = None) -> Expectation:
    return {"top": top, "red_flags": red_flags or [], "not_top": not_top or []}


# ================================ seed cases ===================================================


@case("seed-000-transient-osteoporosis-hip")
def seed_000() -> tuple[Case, Expectation]:
    """Classic transient osteoporosis of the right hip, built from review 000 (Fig. 1: 44-year-old man)."""
    c = Case("seed-000", label="Seed Case 000", gender="male", birth_date=date(1978, 9, 14))
    onset, visit = date(2023, 3, 6), date(2023, 3, 9)
    hip = ("hip", "right")
    for n, (concept, value) in enumerate(
        [
            ("sudden_onset_pain", True),
            ("weight_bearing_pain", True),
            ("limp", True),
            ("rom_limitation_mild", True),
            ("trauma", False),
            ("skin_changes", False),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, visit, value, site=hip[0], side=hip[1])
    c.lab("crp-1", "1988-5", visit, 2.1, "mg/L", interpretation="N")
    c.lab("esr-1", "4537-7", visit, 8, "mm/h", interpretation="N")
    xr1 = c.study("xr-1", "CR", visit, [hip], "Radiograph right hip (AP and lateral)")
    c.finding(xr1, "normal_study", *hip)
    c.finding(xr1, "periarticular_osteopenia", *hip, present=False)
    mri1 = c.study(
        "mri-1", "MR", date(2023, 3, 10), [("femoral_head", "right"), ("femoral_neck", "right")], "MRI right hip"
    )
    for site in ("femoral_head", "femoral_neck"):
        c.finding(mri1, "bone_marrow_edema", site, "right", note="Diffuse, regional")
        c.finding(mri1, "t1_low_signal", site, "right", method="T1 coronal")
        c.finding(mri1, "t2_high_signal", site, "right", method="T2 coronal")
        c.finding(mri1, "stir_high_signal", site, "right", method="STIR")
    c.finding(
        mri1,
        "t1_low_signal",
        "proximal_femur",
        "right",
        method="T1 coronal",
        note="Low signal extends to the intertrochanteric region",
    )
    c.finding(mri1, "joint_effusion", *hip)
    c.finding(mri1, "subchondral_low_signal_band", "femoral_head", "right", present=False, method="T2 and T1")
    c.finding(mri1, "double_line_sign", "femoral_head", "right", present=False, method="T2")
    c.finding(mri1, "band_like_t1_lesion", "femoral_head", "right", present=False, method="T1")
    nm = c.study(
        "nm-1",
        "NM",
        date(2023, 3, 14),
        [("femoral_head", "right"), ("femoral_neck", "right")],
        "Three-phase bone scintigraphy (Tc-99m MDP), hips",
    )
    c.finding(nm, "scintigraphy_diffuse_uptake", "femoral_head", "right", note="All three phases")
    c.finding(nm, "scintigraphy_diffuse_uptake", "femoral_neck", "right", note="All three phases")
    c.finding(nm, "scintigraphy_cold_spot", "femoral_head", "right", present=False)
    c.medication(
        "nsaid-1", "nsaid", visit, date(2023, 5, 8), text="NSAID (agent not specified); with partial weight bearing"
    )
    xr2 = c.study("xr-2", "CR", date(2023, 4, 10), [hip], "Radiograph right hip, 5 weeks after onset")
    c.finding(xr2, "periarticular_osteopenia", "femoral_head", "right", note="Moderate")
    c.finding(xr2, "periarticular_osteopenia", "femoral_neck", "right", note="Moderate")
    c.finding(xr2, "cartilage_loss", *hip, present=False, note="Joint space preserved")
    c.finding(xr2, "erosions", *hip, present=False, note="No subchondral erosion")
    mri2 = c.study(
        "mri-2",
        "MR",
        date(2023, 9, 6),
        [("femoral_head", "right"), ("femoral_neck", "right")],
        "MRI right hip, 6-month follow-up",
    )
    c.finding(mri2, "bone_marrow_edema", "femoral_head", "right", present=False)
    c.finding(mri2, "bone_marrow_edema", "femoral_neck", "right", present=False)
    c.exam("exam-2-1", "weight_bearing_pain", date(2023, 9, 6), False, site="hip", side="right")
    c.exam("exam-2-2", "limp", date(2023, 9, 6), False, site="hip", side="right")
    c.condition(
        "pain-hip", [cond_code("joint_pain")], onset, date(2023, 8, 21), text="Right hip pain", site="hip", side="right"
    )
    return c, expect(
        ["transient_osteoporosis"], [], ["osteonecrosis", "regional_migratory_osteoporosis", "infection", "neoplasm"]
    )


@case("seed-001-rmo-hip-ankle-knee")
def seed_001() -> tuple[Case, Expectation]:
    """Seed 001: RMO right hip → right ankle (talus) → right knee (medial femoral condyle)."""
    c = Case("seed-001", label="Seed Case 001", gender="male", birth_date=date(1968, 3, 2))
    p = date(2022, 10, 17)  # first visit for the ankle (anchor)
    # Hip episode (6 months before p)
    c.condition(
        "pain-hip",
        [cond_code("joint_pain")],
        date(2022, 4, 11),
        date(2022, 8, 15),
        text="Right hip pain on walking",
        site="hip",
        side="right",
        note="Resolved on paracetamol and a cane; resolution date approximate",
    )
    mri_hip = c.study(
        "mri-1", "MR", date(2022, 4, 18), [("femoral_head", "right"), ("femoral_neck", "right")], "MRI right hip"
    )
    for site in ("femoral_head", "femoral_neck"):
        c.finding(mri_hip, "bone_marrow_edema", site, "right", note="Diffuse")
        c.finding(mri_hip, "t2_high_signal", site, "right", method="T2 coronal")
    c.medication(
        "paracetamol-1",
        "paracetamol",
        date(2022, 5, 17),
        date(2022, 8, 15),
        text="paracetamol 500 mg three times daily; with a cane",
        dose=(500, "mg"),
        per=(3, 1, "d"),
    )
    # Ankle episode
    c.condition(
        "pain-ankle",
        [cond_code("joint_pain")],
        date(2022, 10, 15),
        date(2022, 12, 1),
        text="Right ankle pain",
        site="ankle",
        side="right",
    )
    c.smoking(p, "unknown_status", pack_years=20)
    c.exam("alcohol", "alcohol_heavy", p, False, note="No alcohol use")
    ankle = ("ankle", "right")
    for n, (concept, value, note) in enumerate(
        [
            ("sudden_onset_pain", True, "Began 2 days before the visit"),
            ("weight_bearing_pain", True, "Worse standing and walking"),
            ("rest_pain", False, "Better at rest; no night pain"),
            ("joint_swelling", True, None),
            ("joint_warmth", False, None),
            ("skin_changes", False, "No redness"),
            ("rom_limitation_mild", True, "Range of motion full but painful in all directions"),
            ("trauma", False, None),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, p, value, site=ankle[0], side=ankle[1], note=note)
    c.exam("exam-1-drawer", "", p, False, site="ankle", side="right", text_only="Anterior drawer test positive")
    c.exam("exam-1-talar-tilt", "", p, False, site="ankle", side="right", text_only="Talar tilt test positive")
    c.lab("esr-1", "30341-2", p, 28, "mm/h")
    c.lab("crp-1", "1988-5", p, 0.46, "mg/dL")
    c.coded_lab("rf-1", "11572-5", p, positive=False)
    c.lab("tg-1", "2571-8", p, 375, "mg/dL", interpretation="H")
    c.lab("vitd-1", "62292-8", p, 14.9, "ng/mL", interpretation="L")
    c.lab("alp-1", "6768-6", p, 56, "U/L")
    c.lab("ca-1", "17861-6", p, 9.4, "mg/dL")
    c.lab("phos-1", "2777-1", p, 3.5, "mg/dL")
    c.lab("pth-1", "2731-8", p, 25.2, "pg/mL")
    for suffix, code in (("hb-1", "718-7"), ("wbc-1", "6690-2"), ("creat-1", "2160-0")):
        c.lab(suffix, code, p, None, interpretation="N", note="Reported normal; value not given")
    c.condition(
        "hyperlipidaemia",
        [cond_code("hyperlipidaemia")],
        p,
        text="Hypertriglyceridaemia",
        note="Referred to internal medicine; lipid-lowering treatment started",
    )
    c.condition(
        "vitd-deficiency",
        [
            _coding(SCT, "34713006", "Vitamin D deficiency"),
            _coding(ICD10CM, "E55.9", "Vitamin D deficiency, unspecified"),
        ],
        p,
        text="Vitamin D deficiency",
    )
    xr_ankle = c.study("xr-1", "CR", p, [ankle], "Radiograph right ankle (AP and lateral)")
    c.finding(xr_ankle, "normal_study", *ankle)
    c.finding(xr_ankle, "periarticular_osteopenia", *ankle, present=False)
    mri_ankle = c.study("mri-2", "MR", date(2022, 10, 19), [("talus", "right")], "MRI right ankle")
    c.finding(mri_ankle, "bone_marrow_edema", "talus", "right", note="Marked edema")
    c.finding(mri_ankle, "t2_high_signal", "talus", "right", method="T2 sagittal")
    c.dxa("dxa-1", "38267-1", date(2022, 10, 24), -1.1, note="L1-L4")
    c.medication(
        "paracetamol-2",
        "paracetamol",
        p,
        date(2022, 12, 1),
        text="paracetamol 500 mg three times daily; rest, cane, ROM and isometric exercise",
        dose=(500, "mg"),
        per=(3, 1, "d"),
    )
    c.medication(
        "vitd-1",
        "cholecalciferol",
        p,
        date(2022, 11, 28),
        text="vitamin D 50,000 IU weekly for 6 weeks",
        dose=(50000, "[iU]"),
        per=(1, 1, "wk"),
    )
    # Follow-up 1.5 months later: ankle better, right knee pain
    fu = date(2022, 12, 1)
    c.exam("exam-2-1", "weight_bearing_pain", fu, False, site="ankle", side="right", note="Ankle pain resolved")
    c.exam("exam-2-2", "joint_swelling", fu, False, site="knee", side="right", note="No effusion")
    c.exam("exam-2-3", "joint_warmth", fu, False, site="knee", side="right")
    c.condition(
        "pain-knee",
        [cond_code("joint_pain")],
        date(2022, 11, 24),
        date(2023, 3, 6),
        text="Right knee pain",
        site="knee",
        side="right",
    )
    xr_knee = c.study("xr-2", "CR", fu, [("knee", "left"), ("knee", "right")], "Radiograph both knees (AP)")
    c.finding(xr_knee, "normal_study", "knee", "right")
    c.finding(xr_knee, "normal_study", "knee", "left")
    c.finding(xr_knee, "periarticular_osteopenia", "knee", "right", present=False)
    mri_knee = c.study("mri-3", "MR", date(2022, 12, 5), [("medial_femoral_condyle", "right")], "MRI right knee")
    c.finding(mri_knee, "bone_marrow_edema", "medial_femoral_condyle", "right", note="Diffuse")
    c.finding(mri_knee, "t2_high_signal", "medial_femoral_condyle", "right", method="Fat-saturated coronal")
    mri_hip2 = c.study(
        "mri-4",
        "MR",
        date(2022, 12, 16),
        [("femoral_head", "right"), ("femoral_neck", "right")],
        "MRI right hip, control 8 months after the first",
    )
    c.finding(mri_hip2, "bone_marrow_edema", "femoral_head", "right", present=False, method="T2 coronal")
    c.finding(mri_hip2, "bone_marrow_edema", "femoral_neck", "right", present=False, method="T2 coronal")
    c.medication(
        "alendronate-1",
        "alendronate",
        date(2022, 12, 5),
        None,
        text="alendronate 70 mg weekly",
        dose=(70, "mg"),
        per=(1, 1, "wk"),
    )
    c.medication(
        "calcium-vitd-1",
        "calcium_vitamin_d",
        date(2022, 12, 5),
        None,
        text="calcium 600 mg + vitamin D 400 IU daily",
        per=(1, 1, "d"),
    )
    end = date(2023, 3, 6)
    c.exam("exam-3-1", "weight_bearing_pain", end, False, site="ankle", side="right")
    c.exam("exam-3-2", "weight_bearing_pain", end, False, site="knee", side="right")
    return c, expect(["regional_migratory_osteoporosis"], [], ["osteonecrosis", "infection", "neoplasm"])


@case("seed-002-to-talus-to-tibia")
def seed_002() -> tuple[Case, Expectation]:
    """Seed 002: transient osteoporosis of the talus migrating to the distal tibia (side assumed right)."""
    c = Case("seed-002", label="Seed Case 002", gender="male", birth_date=date(1970, 2, 11))
    v = date(2021, 6, 7)
    c.condition(
        "pain-foot",
        [cond_code("joint_pain")],
        date(2021, 5, 24),
        date(2021, 12, 7),
        text="Right foot pain, disabling",
        site="foot",
        side="right",
    )
    c.exam("exam-1-1", "weight_bearing_pain", v, True, site="ankle", side="right", note="Much worse on weight bearing")
    c.exam("exam-1-2", "rest_pain", v, False, site="ankle", side="right", note="Decreases at rest")
    c.exam("exam-1-3", "trauma", v, False, site="ankle", side="right")
    c.lab("crp-1", "1988-5", v, None, interpretation="N", note="Reported normal; value not given")
    c.coded_lab("rf-1", "11572-5", v, positive=False)
    c.lab("urate-1", "3084-1", v, None, interpretation="N", note="Reported normal; value not given")
    m1 = c.study("mri-1", "MR", date(2021, 6, 10), [("talus", "right")], "MRI right ankle/talus")
    c.finding(
        m1,
        "bone_marrow_edema",
        "talus",
        "right",
        note="Head and neck of talus; high signal on fat-suppressed gadolinium-enhanced T1",
    )
    c.finding(m1, "t1_low_signal", "talus", "right", method="T1 sagittal")
    c.finding(m1, "t2_high_signal", "talus", "right", method="T2 sagittal", note="Slightly increased")
    c.finding(m1, "stir_high_signal", "talus", "right", method="STIR sagittal")
    m2 = c.study(
        "mri-2", "MR", date(2021, 10, 7), [("talus", "right"), ("distal_tibia", "right")], "MRI right ankle, 4 months"
    )
    c.finding(m2, "bone_marrow_edema", "talus", "right", present=False)
    c.finding(m2, "bone_marrow_edema", "distal_tibia", "right")
    c.finding(m2, "t1_low_signal", "distal_tibia", "right", method="T1 sagittal")
    c.finding(m2, "stir_high_signal", "distal_tibia", "right", method="STIR sagittal")
    m3 = c.study(
        "mri-3", "MR", date(2021, 12, 7), [("talus", "right"), ("distal_tibia", "right")], "MRI right ankle, 6 months"
    )
    c.finding(m3, "bone_marrow_edema", "talus", "right", present=False)
    c.finding(m3, "bone_marrow_edema", "distal_tibia", "right", present=False)
    c.exam(
        "exam-2-1",
        "weight_bearing_pain",
        date(2021, 12, 7),
        False,
        site="ankle",
        side="right",
        note="Pain gone; full weight bearing",
    )
    c.exam(
        "exam-3-1",
        "weight_bearing_pain",
        date(2022, 6, 7),
        False,
        site="ankle",
        side="right",
        note="Pain-free at 1 year; back at work",
    )
    return c, expect(
        ["regional_migratory_osteoporosis", "transient_osteoporosis"], [], ["osteonecrosis", "infection", "neoplasm"]
    )


@case("seed-003-rmo-sacroiliac")
def seed_003() -> tuple[Case, Expectation]:
    """Seed 003: RMO of the sacroiliac joints, left then right, presenting as low back pain."""
    c = Case("seed-003", label="Seed Case 003", gender="male", birth_date=date(1969, 11, 20))
    v1, v2 = date(2019, 4, 8), date(2019, 9, 2)
    c.condition(
        "lbp-left",
        [cond_code("low_back_pain")],
        date(2019, 3, 25),
        date(2019, 7, 1),
        text="Left low back and buttock pain, worse sitting",
        site="sacroiliac_joint",
        side="left",
    )
    c.exam(
        "exam-1-provocation",
        "",
        v1,
        True,
        site="sacroiliac_joint",
        side="left",
        text_only="Sacroiliac joint provocation tests (Patrick, Gaenslen, SIJ shear) positive",
    )
    c.exam(
        "exam-1-tender", "", v1, True, site="ilium", side="left", text_only="Tenderness over the posterior iliac spine"
    )
    c.exam("exam-1-neuro", "", v1, False, text_only="Neurological deficit")
    c.exam("exam-1-trauma", "trauma", v1, False)
    xr = c.study("xr-1", "CR", v1, [("spine", None), ("pelvis", None)], "Radiographs lumbar spine and pelvis")
    c.finding(xr, "normal_study", "spine", None)
    c.finding(xr, "normal_study", "pelvis", None)
    mr_spine = c.study("mri-1", "MR", v1, [("spine", None)], "MRI lumbar spine")
    c.finding(mr_spine, "normal_study", "spine", None)
    c.medication("nsaid-1", "nsaid", v1, date(2019, 7, 1), text="NSAID (agent not specified); local rest")
    m2 = c.study("mri-2", "MR", date(2019, 4, 22), [("ilium", "left"), ("sacrum", "left")], "MRI pelvis")
    for site in ("ilium", "sacrum"):
        c.finding(m2, "bone_marrow_edema", site, "left", note="Diffuse")
        c.finding(m2, "t1_low_signal", site, "left", method="T1")
        c.finding(m2, "t2_high_signal", site, "left", method="T2 fat-suppressed")
    ct = c.study("ct-1", "CT", date(2019, 4, 25), [("sacroiliac_joint", "left")], "CT pelvis")
    for concept in ("cortical_destruction", "soft_tissue_mass", "fracture_line"):
        c.finding(ct, concept, "sacroiliac_joint", "left", present=False, note="No tumour, no fracture")
    c.condition(
        "lbp-right",
        [cond_code("low_back_pain")],
        date(2019, 8, 26),
        date(2020, 2, 3),
        text="Right low back pain",
        site="sacroiliac_joint",
        side="right",
        note="No recurrence during 2 years of follow-up",
    )
    c.exam(
        "exam-2-provocation",
        "",
        v2,
        True,
        site="sacroiliac_joint",
        side="right",
        text_only="Sacroiliac joint provocation tests (Patrick, Gaenslen, SIJ shear) positive",
    )
    c.medication("nsaid-2", "nsaid", v2, date(2020, 2, 3), text="NSAID (agent not specified); local rest")
    m3 = c.study(
        "mri-3", "MR", date(2019, 9, 9), [("sacrum", "right"), ("ilium", "left"), ("sacrum", "left")], "MRI pelvis"
    )
    c.finding(m3, "bone_marrow_edema", "sacrum", "right", note="Diffuse, sacral side")
    c.finding(m3, "t1_low_signal", "sacrum", "right", method="T1")
    c.finding(m3, "t2_high_signal", "sacrum", "right", method="T2 fat-suppressed")
    c.finding(m3, "bone_marrow_edema", "ilium", "left", present=False)
    c.finding(m3, "bone_marrow_edema", "sacrum", "left", present=False)
    m4 = c.study(
        "mri-4",
        "MR",
        date(2020, 2, 3),
        [("sacrum", "right"), ("ilium", "left"), ("sacrum", "left")],
        "MRI pelvis, follow-up",
    )
    for site, side in (("sacrum", "right"), ("ilium", "left"), ("sacrum", "left")):
        c.finding(m4, "bone_marrow_edema", site, side, present=False)
    return c, expect(
        ["regional_migratory_osteoporosis"], [], ["inflammatory_arthritis", "osteonecrosis", "infection", "neoplasm"]
    )


@case("seed-004-marrow-reconversion")
def seed_004() -> tuple[Case, Expectation]:
    """Seed 004: bilateral femoral head/neck marrow reconversion a year after glucocorticoids.

    The MRI is given only as a radiology DiagnosticReport with conclusionCode (that input path).
    """
    c = Case("seed-004", label="Seed Case 004", gender="female", birth_date=date(1983, 7, 9))
    v = date(2023, 2, 20)
    c.condition(
        "neuropathy",
        [_coding(ICD10CM, "G62.9", "Polyneuropathy, unspecified")],
        date(2022, 2, 14),
        text="Peripheral neuropathy after COVID-19 vaccination",
        note="Limb weakness, unable to walk; admitted. Vaccination about 2022-02-07",
        clinical_status="resolved",
    )
    c.medication(
        "methylpred-1",
        "methylprednisolone",
        date(2022, 2, 21),
        date(2022, 3, 4),
        route="intravenous",
        text="methylprednisolone sodium succinate IV infusion; dose not reported",
    )
    c.medication(
        "prednisone-1",
        "prednisone",
        date(2022, 3, 5),
        date(2022, 9, 4),
        text="prednisone acetate tablets for 6 months; dose not reported",
    )
    c.condition(
        "pain-hips",
        [cond_code("joint_pain")],
        date(2023, 2, 4),
        text="Bilateral hip pain, no trigger",
        site="hip",
        side="bilateral",
    )
    c.medication(
        "nsaid-1", "nsaid", date(2023, 2, 4), None, text="NSAID, self-medicated (agent not specified); slight relief"
    )
    for n, (concept, value, note) in enumerate(
        [
            ("rest_pain", True, "Not relieved by rest"),
            ("rom_limitation_mild", True, "Both hips mildly limited"),
            ("trauma", False, "No trigger"),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, v, value, site="hip", side="bilateral", note=note)
    c.exam("exam-1-tender", "", v, True, site="hip", side="bilateral", text_only="Periarticular hip tenderness")
    c.exam(
        "exam-1-faber",
        "",
        v,
        False,
        site="hip",
        side="bilateral",
        text_only="FABER (Patrick, figure-of-4) test positive",
    )
    mri = c.study(
        "mri-1",
        "MR",
        v,
        [("femoral_head", "left"), ("femoral_head", "right"), ("femoral_neck", "left"), ("femoral_neck", "right")],
        "MRI both hips",
    )
    c.report(
        "mri-1-report",
        mri,
        "Uneven marrow signal of both femoral heads and necks; bone marrow reconversion considered.",
        ["marrow_reconversion_pattern"],
        issued="2023-02-20T16:00:00+08:00",
    )
    return c, expect(
        ["bone_marrow_reconversion"], ["osteonecrosis"], ["regional_migratory_osteoporosis", "infection", "neoplasm"]
    )


# ================================ synthetic cases ==============================================


@case("synth-steroid-osteonecrosis")
def synth_osteonecrosis() -> tuple[Case, Expectation]:
    """SLE on long-term prednisone; left femoral head osteonecrosis with the classic MRI signs."""
    c = Case("synth-on", label="Synthetic Osteonecrosis", gender="female", birth_date=date(1990, 5, 12))
    v = date(2024, 2, 12)
    c.condition("sle", [cond_code("sle")], date(2018, 3, 1), text="Systemic lupus erythematosus")
    c.medication(
        "prednisone-1",
        "prednisone",
        date(2018, 3, 15),
        None,
        text="prednisone 20 mg daily",
        dose=(20, "mg"),
        per=(1, 1, "d"),
    )
    c.condition(
        "pain-hip", [cond_code("joint_pain")], date(2024, 1, 15), text="Left groin pain", site="hip", side="left"
    )
    for n, (concept, value, note) in enumerate(
        [
            ("sudden_onset_pain", False, "Gradual onset over weeks"),
            ("weight_bearing_pain", True, "Mechanical pain"),
            ("limp", True, None),
            ("trauma", False, None),
            ("alcohol_heavy", False, None),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, v, value, site="hip", side="left", note=note)
    c.lab("crp-1", "1988-5", v, 4, "mg/L")
    c.lab("esr-1", "4537-7", v, 22, "mm/h")
    xr = c.study("xr-1", "DX", v, [("femoral_head", "left")], "Radiograph pelvis and left hip")
    c.finding(xr, "crescent_sign", "femoral_head", "left", present=False)
    c.finding(xr, "articular_collapse", "femoral_head", "left", present=False)
    mri = c.study(
        "mri-1",
        "MR",
        date(2024, 2, 19),
        [("femoral_head", "left"), ("femoral_neck", "left"), ("femoral_head", "right")],
        "MRI both hips",
    )
    c.finding(
        mri,
        "band_like_t1_lesion",
        "femoral_head",
        "left",
        method="T1 coronal",
        note="Serpiginous subchondral band demarcating the anterosuperior segment",
    )
    c.finding(mri, "double_line_sign", "femoral_head", "left", method="T2")
    c.finding(mri, "subchondral_low_signal_band", "femoral_head", "left", method="T2", note="6 mm thick")
    c.finding(mri, "bone_marrow_edema", "femoral_head", "left")
    c.finding(mri, "bone_marrow_edema", "femoral_neck", "left")
    c.finding(mri, "joint_effusion", "hip", "left")
    c.finding(mri, "articular_collapse", "femoral_head", "left", present=False)
    c.finding(mri, "band_like_t1_lesion", "femoral_head", "right", method="T1 coronal")
    c.finding(mri, "bone_marrow_edema", "femoral_head", "right", present=False)
    return c, expect(
        ["osteonecrosis"], ["osteonecrosis"], ["transient_osteoporosis", "regional_migratory_osteoporosis"]
    )


@case("synth-insufficiency-fracture")
def synth_sif() -> tuple[Case, Expectation]:
    """72-year-old woman with osteoporosis; subchondral insufficiency fracture of the medial femoral condyle."""
    c = Case("synth-sif", label="Synthetic Insufficiency", gender="female", birth_date=date(1951, 8, 3))
    v = date(2024, 3, 11)
    c.condition("osteoporosis", [_coding(SCT, "64859006", "Osteoporosis")], date(2019, 6, 10), text="Osteoporosis")
    c.dxa("dxa-femur", "38263-0", date(2023, 11, 6), -3.1)
    c.dxa("dxa-spine", "38267-1", date(2023, 11, 6), -2.7, note="L1-L4")
    c.condition(
        "pain-knee",
        [cond_code("joint_pain")],
        date(2024, 3, 4),
        text="Right medial knee pain",
        site="knee",
        side="right",
    )
    for n, (concept, value) in enumerate(
        [
            ("sudden_onset_pain", True),
            ("weight_bearing_pain", True),
            ("rest_pain", True),
            ("joint_swelling", True),
            ("trauma", False),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, v, value, site="knee", side="right")
    c.lab("crp-1", "1988-5", v, 3, "mg/L")
    c.lab("vitd-1", "62292-8", v, 18, "ng/mL", interpretation="L")
    xr = c.study("xr-1", "DX", v, [("knee", "right")], "Radiograph right knee")
    c.finding(xr, "normal_study", "knee", "right")
    c.finding(xr, "fracture_line", "medial_femoral_condyle", "right", present=False)
    mri = c.study("mri-1", "MR", date(2024, 3, 18), [("medial_femoral_condyle", "right")], "MRI right knee")
    c.finding(mri, "bone_marrow_edema", "medial_femoral_condyle", "right")
    c.finding(
        mri,
        "subchondral_fracture_line",
        "medial_femoral_condyle",
        "right",
        method="T1 and PD FS",
        note="Low-signal line parallel to the articular surface",
    )
    c.finding(mri, "joint_effusion", "knee", "right", note="Small")
    c.finding(mri, "articular_collapse", "medial_femoral_condyle", "right", present=False)
    c.finding(mri, "osteophytes", "knee", "right", present=False)
    # Red flags are for what must not be missed (osteonecrosis, infection, tumour; issue 2), not SIF itself.
    return c, expect(
        ["subchondral_insufficiency_fracture"],
        [],
        ["transient_osteoporosis", "regional_migratory_osteoporosis", "bone_contusion"],
    )


@case("synth-septic-arthritis")
def synth_septic() -> tuple[Case, Expectation]:
    """Diabetic man with fever, very high CRP, and a hot swollen knee: septic arthritis."""
    c = Case("synth-sa", label="Synthetic Septic", gender="male", birth_date=date(1956, 10, 21))
    v = date(2024, 5, 9)
    c.condition("diabetes", [cond_code("diabetes")], date(2012, 4, 1), text="Type 2 diabetes mellitus")
    c.condition(
        "pain-knee",
        [cond_code("joint_pain")],
        date(2024, 5, 6),
        text="Left knee pain and swelling",
        site="knee",
        side="left",
    )
    c.temperature("temp-1", v, 39.1)
    for n, (concept, value) in enumerate(
        [
            ("fever", True),
            ("joint_swelling", True),
            ("joint_warmth", True),
            ("rest_pain", True),
            ("weight_bearing_pain", True),
            ("trauma", False),
        ],
        start=1,
    ):
        c.exam(
            f"exam-1-{n}",
            concept,
            v,
            value,
            site=None if concept == "fever" else "knee",
            side=None if concept == "fever" else "left",
        )
    c.lab("crp-1", "1988-5", v, 180, "mg/L", interpretation="H", high=5)
    c.lab("wbc-1", "6690-2", v, 16, "10*3/uL", interpretation="H", high=10)
    c.lab("esr-1", "4537-7", v, 78, "mm/h", interpretation="H")
    c.lab("pct-1", "33959-8", v, 1.8, "ng/mL", interpretation="H")
    mri = c.study(
        "mri-1",
        "MR",
        date(2024, 5, 10),
        [("knee", "left"), ("lateral_femoral_condyle", "left"), ("lateral_tibial_plateau", "left")],
        "MRI left knee with contrast",
    )
    c.finding(mri, "joint_effusion", "knee", "left", note="Large")
    c.finding(mri, "synovitis", "knee", "left", method="Contrast T1 FS")
    c.finding(mri, "bone_marrow_edema", "lateral_femoral_condyle", "left")
    c.finding(mri, "bone_marrow_edema", "lateral_tibial_plateau", "left")
    c.finding(mri, "periarticular_bme_both_sides", "knee", "left")
    c.finding(mri, "erosions", "knee", "left", present=False)
    c.finding(mri, "abscess", "knee", "left", present=False)
    return c, expect(
        ["infection"], ["infection"], ["transient_osteoporosis", "regional_migratory_osteoporosis", "bone_contusion"]
    )


@case("synth-metastasis")
def synth_metastasis() -> tuple[Case, Expectation]:
    """Prior breast cancer; femoral neck metastasis with night pain, weight loss and high ALP."""
    c = Case("synth-met", label="Synthetic Metastasis", gender="female", birth_date=date(1962, 12, 2))
    v = date(2024, 2, 5)
    c.condition(
        "breast-cancer",
        [cond_code("malignancy")],
        date(2017, 2, 14),
        date(2017, 9, 30),
        text="Invasive ductal carcinoma of the left breast",
        note="Surgery and chemotherapy 2017",
    )
    c.condition(
        "pain-hip",
        [cond_code("joint_pain")],
        date(2024, 1, 10),
        text="Right hip pain, progressive",
        site="hip",
        side="right",
    )
    for n, (concept, value, note) in enumerate(
        [
            ("rest_pain", True, "Night pain"),
            ("weight_bearing_pain", True, None),
            ("weight_loss", True, "6 kg in 3 months"),
            ("sudden_onset_pain", False, None),
            ("trauma", False, None),
        ],
        start=1,
    ):
        side = None if concept == "weight_loss" else "right"
        c.exam(f"exam-1-{n}", concept, v, value, site="hip" if side else None, side=side, note=note)
    c.lab("alp-1", "6768-6", v, 212, "U/L", interpretation="H", high=120)
    c.lab("ca-1", "17861-6", v, 10.8, "mg/dL", interpretation="H", high=10.2)
    c.lab("crp-1", "1988-5", v, 12, "mg/L", interpretation="H", high=5)
    xr = c.study("xr-1", "DX", v, [("femoral_neck", "right")], "Radiograph right hip")
    c.finding(xr, "cortical_destruction", "femoral_neck", "right", note="Lytic lesion, medial cortex")
    mri = c.study(
        "mri-1",
        "MR",
        date(2024, 2, 12),
        [("femoral_neck", "right"), ("proximal_femur", "right")],
        "MRI right hip with contrast",
    )
    c.finding(mri, "marrow_replacement", "femoral_neck", "right", method="T1", note="Signal below muscle")
    c.finding(mri, "cortical_destruction", "femoral_neck", "right")
    c.finding(mri, "focal_enhancing_lesion", "femoral_neck", "right", method="Contrast T1 FS")
    c.finding(mri, "metaphyseal_diaphyseal_lesion", "proximal_femur", "right")
    c.finding(mri, "bone_marrow_edema", "proximal_femur", "right", note="Surrounding the lesion")
    c.finding(mri, "soft_tissue_mass", "femoral_neck", "right", present=False)
    return c, expect(["neoplasm"], ["neoplasm"], ["transient_osteoporosis", "osteonecrosis"])


@case("synth-sacroiliitis-hla-b27")
def synth_spa() -> tuple[Case, Expectation]:
    """Young man with inflammatory back pain, HLA-B27 and bilateral sacroiliitis: axial SpA."""
    c = Case("synth-spa", label="Synthetic Sacroiliitis", gender="male", birth_date=date(1995, 6, 19))
    v = date(2024, 5, 6)
    c.condition("lbp", [cond_code("low_back_pain")], date(2023, 9, 1), text="Low back pain for 8 months")
    for n, (concept, value, note) in enumerate(
        [
            ("inflammatory_back_pain", True, "Insidious, better with exercise, not with rest"),
            ("morning_stiffness", True, "About 1 hour"),
            ("rest_pain", True, "Wakes in the second half of the night"),
            ("trauma", False, None),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, v, value, note=note)
    c.coded_lab("hlab27-1", "26028-1", v, positive=True)
    c.lab("crp-1", "1988-5", v, 18, "mg/L", interpretation="H", high=5)
    c.lab("esr-1", "4537-7", v, 34, "mm/h", interpretation="H")
    mri = c.study(
        "mri-1",
        "MR",
        date(2024, 5, 13),
        [("ilium", "left"), ("sacrum", "left"), ("ilium", "right"), ("sacrum", "right")],
        "MRI sacroiliac joints",
    )
    for side in ("left", "right"):
        for site in ("ilium", "sacrum"):
            c.finding(mri, "bone_marrow_edema", site, side, method="STIR", note="Periarticular, subchondral")
    c.finding(mri, "erosions", "sacroiliac_joint", "bilateral", method="T1")
    heel = c.study("mri-2", "MR", date(2024, 5, 13), [("calcaneus", "left")], "MRI left heel")
    c.finding(heel, "enthesitis", "calcaneus", "left", note="Achilles insertion")
    c.medication("nsaid-1", "nsaid", v, None, text="NSAID (agent not specified)")
    return c, expect(["inflammatory_arthritis"], [], ["transient_osteoporosis", "regional_migratory_osteoporosis"])


@case("synth-pregnancy-transient-osteoporosis")
def synth_pregnancy() -> tuple[Case, Expectation]:
    """Third-trimester transient osteoporosis of the left hip, resolved after delivery."""
    c = Case("synth-preg", label="Synthetic Pregnancy", gender="female", birth_date=date(1991, 11, 8))
    v = date(2024, 2, 12)
    c.pregnancy(v, 33)
    c.condition(
        "pain-hip",
        [cond_code("joint_pain")],
        date(2024, 2, 5),
        date(2024, 7, 15),
        text="Left hip pain",
        site="hip",
        side="left",
    )
    for n, (concept, value) in enumerate(
        [
            ("sudden_onset_pain", True),
            ("weight_bearing_pain", True),
            ("limp", True),
            ("rom_limitation_mild", True),
            ("trauma", False),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, v, value, site="hip", side="left")
    c.lab("vitd-1", "62292-8", v, 12, "ng/mL", interpretation="L")
    c.lab("crp-1", "1988-5", v, 4, "mg/L")
    c.condition("vitd-deficiency", [_coding(SCT, "34713006", "Vitamin D deficiency")], v, text="Vitamin D deficiency")
    c.medication(
        "vitd-1",
        "cholecalciferol",
        v,
        None,
        text="cholecalciferol 1,000 IU daily",
        dose=(1000, "[iU]"),
        per=(1, 1, "d"),
    )
    mri = c.study(
        "mri-1",
        "MR",
        date(2024, 2, 14),
        [("femoral_head", "left"), ("femoral_neck", "left")],
        "MRI left hip without contrast",
    )
    for site in ("femoral_head", "femoral_neck"):
        c.finding(mri, "bone_marrow_edema", site, "left")
        c.finding(mri, "t1_low_signal", site, "left", method="T1")
        c.finding(mri, "stir_high_signal", site, "left", method="STIR")
    c.finding(mri, "subchondral_low_signal_band", "femoral_head", "left", present=False)
    c.finding(mri, "double_line_sign", "femoral_head", "left", present=False)
    c.finding(mri, "joint_effusion", "hip", "left", note="Small")
    pp = date(2024, 4, 8)  # two weeks after delivery at 39 weeks (2024-03-25)
    c.exam("postpartum-1", "postpartum", pp, True, note="Vaginal delivery 2024-03-25")
    xr = c.study("xr-1", "DX", pp, [("hip", "left")], "Radiograph left hip (deferred until after delivery)")
    c.finding(xr, "periarticular_osteopenia", "femoral_head", "left")
    mri2 = c.study(
        "mri-2", "MR", date(2024, 8, 5), [("femoral_head", "left"), ("femoral_neck", "left")], "MRI left hip, follow-up"
    )
    c.finding(mri2, "bone_marrow_edema", "femoral_head", "left", present=False)
    c.finding(mri2, "bone_marrow_edema", "femoral_neck", "left", present=False)
    c.exam("exam-2-1", "weight_bearing_pain", date(2024, 8, 5), False, site="hip", side="left")
    return c, expect(["transient_osteoporosis"], [], ["osteonecrosis", "regional_migratory_osteoporosis", "infection"])


@case("synth-bone-contusion")
def synth_contusion() -> tuple[Case, Expectation]:
    """Pivot-shift knee injury: kissing contusions of the lateral femoral condyle and tibial plateau."""
    c = Case("synth-bc", label="Synthetic Contusion", gender="male", birth_date=date(2000, 3, 15))
    injury, v = date(2024, 4, 13), date(2024, 4, 15)
    c.condition(
        "injury",
        [cond_code("trauma")],
        injury,
        text="Twisting injury of the right knee (football)",
        site="knee",
        side="right",
    )
    for n, (concept, value) in enumerate(
        [
            ("trauma", True),
            ("sudden_onset_pain", True),
            ("joint_swelling", True),
            ("weight_bearing_pain", True),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, v, value, site="knee", side="right")
    mri = c.study(
        "mri-1",
        "MR",
        date(2024, 4, 18),
        [("lateral_femoral_condyle", "right"), ("lateral_tibial_plateau", "right"), ("knee", "right")],
        "MRI right knee",
    )
    for site in ("lateral_femoral_condyle", "lateral_tibial_plateau"):
        c.finding(mri, "geographic_reticular_bme_trauma_pattern", site, "right", method="PD FS")
        c.finding(mri, "bone_marrow_edema", site, "right")
    c.finding(mri, "joint_effusion", "knee", "right", note="Haemarthrosis; ACL tear")
    c.finding(mri, "fracture_line", "lateral_tibial_plateau", "right", present=False)
    return c, expect(
        ["bone_contusion"],
        [],
        ["transient_osteoporosis", "regional_migratory_osteoporosis", "osteonecrosis", "infection"],
    )


@case("synth-crps")
def synth_crps() -> tuple[Case, Expectation]:
    """CRPS type I of the left wrist and hand after a distal radius fracture treated in a cast."""
    c = Case("synth-crps", label="Synthetic CRPS", gender="female", birth_date=date(1965, 9, 30))
    v = date(2024, 3, 11)
    c.condition(
        "fracture",
        [cond_code("fracture")],
        date(2024, 1, 8),
        date(2024, 2, 19),
        text="Distal radius fracture, left",
        site="wrist",
        side="left",
        note="Cast for 6 weeks",
    )
    c.condition(
        "pain-wrist",
        [cond_code("joint_pain")],
        date(2024, 2, 26),
        text="Burning pain left wrist and hand",
        site="wrist",
        side="left",
    )
    for n, (concept, value, note) in enumerate(
        [
            ("skin_changes", True, "Red-blue discolouration, sweating, shiny skin"),
            ("allodynia", True, None),
            ("joint_swelling", True, None),
            ("joint_warmth", True, None),
            ("rest_pain", True, "Burning pain at rest"),
            ("trauma", True, "Fracture 2024-01-08"),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, v, value, site="wrist", side="left", note=note)
    c.lab("crp-1", "1988-5", v, 3, "mg/L")
    xr = c.study("xr-1", "DX", v, [("wrist", "left")], "Radiograph left wrist")
    c.finding(xr, "periarticular_osteopenia", "wrist", "left", note="Patchy, periarticular")
    mri = c.study("mri-1", "MR", date(2024, 3, 18), [("scaphoid", "left"), ("lunate", "left")], "MRI left wrist")
    c.finding(mri, "bone_marrow_edema", "scaphoid", "left", note="Patchy, several carpal bones")
    c.finding(mri, "bone_marrow_edema", "lunate", "left", note="Patchy")
    nm = c.study("nm-1", "NM", date(2024, 3, 20), [("wrist", "left")], "Three-phase bone scintigraphy")
    c.finding(nm, "scintigraphy_diffuse_uptake", "wrist", "left", note="Periarticular, delayed phase")
    return c, expect(["crps"], [], ["transient_osteoporosis", "infection", "neoplasm", "bone_contusion"])


# ================================ published cases (benchmarks/cases) ===========================
# Each is built from the facts of a published case report the benchmark already cites (id in the
# docstring; the case's YAML holds the citation, URL and every approximation). Dates: day 0 of the
# benchmark case = the anchor below; the analysis of the tests (2026-11-01) keeps the children under 18.


@case("pub-osteoid-osteoma-child")
def pub_osteoid_osteoma() -> tuple[Case, Expectation]:
    """Benchmark case neo-oo-femneck-9m-radiopaedia16 (ElBeialy MA, Radiopaedia "osteoid-osteoma-16"):
    9-year-old boy, left hip, night pain relieved by salicylates; CT nidus in the femoral neck cortex."""
    c = Case("pub-oo", label="Published Osteoid-Osteoma", gender="male", birth_date=date(2016, 2, 22))
    v = date(2025, 6, 2)  # day 0: presenting visit
    c.condition(
        "pain-hip",
        [cond_code("joint_pain")],
        date(2025, 5, 3),
        text="Left hip pain, limping",
        site="hip",
        side="left",
        note="Duration not stated in the source; about a month assumed",
    )
    for n, (concept, value, note) in enumerate(
        [
            ("limp", True, None),
            ("rest_pain", True, "Pain at night"),
            ("night_pain_nsaid_relief", True, "Night pain relieved by salicylates"),
        ],
        start=1,
    ):
        c.exam(f"exam-1-{n}", concept, v, value, site="hip", side="left", note=note)
    xr = c.study("xr-1", "CR", v, [("hip", "left")], "Radiograph left hip")
    c.finding(xr, "normal_study", "hip", "left")
    mri = c.study("mri-1", "MR", date(2025, 6, 3), [("femoral_neck", "left")], "MRI left hip")
    c.finding(mri, "bone_marrow_edema", "femoral_neck", "left", note="Focal, anterior cortex; non-specific")
    ct = c.study("ct-1", "CT", date(2025, 6, 4), [("femoral_neck", "left")], "CT left hip")
    c.finding(ct, "lytic_lesion", "femoral_neck", "left", note="Small, intracortical, anterior; 4.5 mm")
    c.finding(
        ct, "osteoid_osteoma_nidus", "femoral_neck", "left", note="Central sclerotic focus, thin rim, cortex thickened"
    )
    c.finding(ct, "fracture_line", "femoral_neck", "left", present=False)
    return c, expect(
        ["neoplasm"], ["neoplasm"], ["transient_osteoporosis", "regional_migratory_osteoporosis", "bone_contusion"]
    )


@case("pub-epiphyseal-lymphoma-biopsy")
def pub_epiphyseal_lymphoma() -> tuple[Case, Expectation]:
    """Benchmark case neo-lymphoma-epiph-13m-crpath2018 (Case Rep Pathol 2018;2018:4160925): 13-year-old boy,
    left knee; imaging of unstated modality; core biopsy: primary lymphoma of bone."""
    c = Case("pub-lym", label="Published Lymphoma", gender="male", birth_date=date(2012, 4, 17))
    v = date(2025, 9, 8)  # day 0: presenting visit
    c.condition(
        "pain-knee",
        [cond_code("joint_pain")],
        date(2025, 3, 12),
        text="Left knee pain, progressive over six months",
        site="knee",
        side="left",
    )
    c.exam("exam-1-1", "rom_limited", v, True, site="knee", side="left", note="Passive range of motion lost")
    c.exam("exam-1-2", "constitutional_symptoms", v, False, note="No systemic symptoms")
    # The source does not say how the lesion was imaged: findings without an ImagingStudy.
    for concept, note in (
        ("lytic_lesion", "Mixed radiolucent lesion of the distal medial femoral epiphysis"),
        ("cortical_destruction", "Cortical breakthrough"),
    ):
        c.unimaged_finding("img-1", v, "Imaging of the left knee", concept, "medial_femoral_condyle", "left", note=note)
    c.pathology(
        "path-1",
        date(2025, 9, 15),
        "Core needle biopsy, left distal femur",
        "Small blue round cell tumour; on immunohistochemistry primary lymphoma of bone.",
        ["histology_malignancy"],
        issued="2025-09-18T11:00:00Z",
    )
    return c, expect(["neoplasm"], ["neoplasm"], ["transient_osteoporosis", "osteonecrosis", "infection"])


@case("pub-sif-hip-histology")
def pub_sif_hip() -> tuple[Case, Expectation]:
    """Benchmark case sif-hip-bilat-histology-68f (bilateral SIF of the femoral head, 68-year-old woman):
    left SIF band with BME and collapse, fracture line on the resected head; the right hip later."""
    c = Case("pub-sif", label="Published Insufficiency", gender="female", birth_date=date(1957, 1, 29))
    v = date(2025, 3, 3)  # day 0: onset of the left hip pain
    c.condition("pain-hip-l", [cond_code("joint_pain")], v, text="Left hip pain, sudden", site="hip", side="left")
    c.exam("exam-1-1", "sudden_onset_pain", v, True, site="hip", side="left")
    c.exam("exam-1-2", "trauma", v, False, site="hip", side="left")
    xr = c.study("xr-1", "CR", date(2025, 3, 17), [("femoral_head", "left")], "Radiograph left hip")
    c.finding(xr, "articular_collapse", "femoral_head", "left")
    mri = c.study("mri-1", "MR", date(2025, 3, 19), [("femoral_head", "left")], "MRI left hip")
    c.finding(mri, "t1_low_signal", "femoral_head", "left", method="T1", note="Whole head")
    c.finding(mri, "t2_high_signal", "femoral_head", "left", method="T2", note="Whole head")
    c.finding(mri, "bone_marrow_edema", "femoral_head", "left")
    c.finding(
        mri, "sif_band", "femoral_head", "left", method="T1", note="Subchondral low-signal line, convex to the surface"
    )
    c.pathology(
        "path-1",
        date(2025, 4, 2),
        "Femoral head, left, hemiarthroplasty specimen",
        "Subchondral fracture line on section; no osteonecrosis described.",
        ["histology_fracture"],
        issued="2025-04-07T10:00:00Z",
    )
    c.condition(
        "pain-hip-r",
        [cond_code("joint_pain")],
        date(2025, 5, 22),
        text="Right hip pain",
        site="hip",
        side="right",
        note="Interval after the left not given in the source; approximated",
    )
    xr2 = c.study("xr-2", "CR", date(2025, 6, 11), [("femoral_head", "right")], "Radiograph right hip, follow-up")
    c.finding(xr2, "articular_collapse", "femoral_head", "right", note="Surface irregularity, 3 weeks after onset")
    # SIF-BAND raises the SIF flag (collapse risk); the collapse also raises the osteonecrosis one (ON-COLLAPSE).
    return c, expect(
        ["subchondral_insufficiency_fracture"],
        ["subchondral_insufficiency_fracture"],
        ["transient_osteoporosis", "regional_migratory_osteoporosis", "osteonecrosis"],
    )


# ================================ text-only forms ==============================================
# Each case again, with every imaging finding (the imaging Observations and any conclusionCode) replaced
# by the radiologist's report of its study: the input bmefhir reads as narrative (docs/report-text.md).
# Language = that of the seed paper (000/001 Turkish, 002/003 English, 004 Chinese); attachment shapes
# vary (inline text/plain, text/html, a Binary by url, a DocumentReference instead of a DiagnosticReport).

TEXT_FORMS: dict[str, TextForm] = {
    "seed-000-transient-osteoporosis-hip": TextForm(
        "tr",
        "44 yaşında erkek hasta; ani başlayan, yük vermekle artan sağ kalça ağrısı ve topallama. Travma öyküsü yok.",
        "AVN?",
        ("plain", "html", "binary"),
        later="Sağ kalça ağrısı, kontrol.",
    ),
    "seed-001-rmo-hip-ankle-knee": TextForm(
        "tr",
        "54 yaşında erkek; yürümekle artan eklem ağrısı, travma yok.",
        "Kemik iliği ödemi? AVN ekarte edilmeli.",
        ("binary", "plain"),
        later="Sağ kalça, kontrol MRG.",
    ),
    "seed-002-to-talus-to-tibia": TextForm(
        "en",
        "51-year-old man with disabling right foot pain without trauma, worse on weight bearing.",
        "Evaluate for stress fracture or osteonecrosis.",
        ("html",),
        tag_language=False,
        later="Follow-up of right ankle pain.",
    ),
    "seed-003-rmo-sacroiliac": TextForm(
        "en",
        "49-year-old man with left low back and buttock pain; sacroiliac provocation tests positive.",
        "r/o sacroiliitis, tumour or fracture.",
        ("docref",),
        later="Follow-up of sacroiliac joint pain.",
    ),
    "seed-004-marrow-reconversion": TextForm(
        "zh",
        "39岁女性，双髋疼痛16天，休息不能缓解；1年前曾使用糖皮质激素。",
        "排除股骨头坏死。",
    ),
    "synth-steroid-osteonecrosis": TextForm(
        "tr",
        "33 yaşında kadın; SLE, uzun süreli prednizon kullanımı, sol kasık ağrısı.",
        "AVN?",
        ("html", "plain"),
    ),
    "synth-insufficiency-fracture": TextForm(
        "zh", "72岁女性，骨质疏松，右膝内侧突发疼痛，无外伤。", "排除应力性骨折。", ("binary",)
    ),
    "synth-septic-arthritis": TextForm(
        "en", "67-year-old diabetic man with fever and a hot, swollen left knee.", "r/o septic arthritis."
    ),
    "synth-metastasis": TextForm(
        "en",
        "61-year-old woman with a history of breast cancer; progressive right hip pain, worse at night.",
        "Metastasis?",
        ("binary", "html"),
    ),
    "synth-sacroiliitis-hla-b27": TextForm(
        "en",
        "28-year-old man with inflammatory back pain and morning stiffness; HLA-B27 positive.",
        "Evaluate for sacroiliitis.",
        ("docref", "plain"),
    ),
    "synth-pregnancy-transient-osteoporosis": TextForm(
        "zh",
        "32岁女性，孕33周，左髋突发疼痛伴跛行。",
        "排除股骨头坏死。",
        ("html", "docref"),
        tag_language=False,
        later="产后复查，左髋疼痛。",
    ),
    "synth-bone-contusion": TextForm(
        "en",
        "24-year-old man with a twisting football injury of the right knee 5 days ago.",
        "Internal derangement? Fracture?",
        tag_language=False,
    ),
    "synth-crps": TextForm(
        "tr",
        "58 yaşında kadın; sol distal radius kırığı sonrası 6 hafta alçı, ardından yanıcı ağrı, şişlik ve ciltte renk "
        "değişikliği.",
        "KBAS (CRPS)?",
        ("docref",),
    ),
    "pub-osteoid-osteoma-child": TextForm(
        "en",
        "9-year-old boy with left hip pain and a limp; night pain relieved by salicylates.",
        "Osteoid osteoma?",
        ("plain", "html", "docref"),
    ),
    "pub-epiphyseal-lymphoma-biopsy": TextForm(
        "en",
        "13-year-old boy with six months of progressive left knee pain and loss of motion.",
        "Tumour? Infection?",
        ("binary",),
    ),
    "pub-sif-hip-histology": TextForm(
        "en",
        "68-year-old woman with sudden left hip pain, no trauma.",
        "Osteonecrosis or insufficiency fracture?",
        ("plain", "html"),
        tag_language=False,
        later="Right hip pain.",
    ),
}
TEXT_SUFFIX = "-text"  # text forms get their own ids, so both forms can sit in one folder or server
_LATER = ("follow-up", "control", "month", "after onset")


def _renamed(node: Any, old: str, new: str) -> Any:
    """A copy of ``node`` with the case's ids and references moved from ``old`` to ``new``."""
    if isinstance(node, list):
        return [_renamed(v, old, new) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _renamed(v, old, new) for k, v in node.items()}
    if isinstance(out.get("id"), str) and out["id"].startswith(old) and "resourceType" in out:
        out["id"] = new + out["id"][len(old) :]
    if isinstance(out.get("reference"), str):
        kind, _, rid = out["reference"].partition("/")
        if rid.startswith(old):
            out["reference"] = f"{kind}/{new}{rid[len(old) :]}"
    return out


def _is_coded_finding(r: Json) -> bool:
    """An imaging finding in coded form. A pathology report is not imaging: the text form keeps it coded
    (bmefhir reads only its conclusion codes, docs/input-conventions.md)."""
    if r["resourceType"] == "DiagnosticReport":
        return r["category"][0]["coding"][0]["system"] != V2_0074
    return r["resourceType"] == "Observation" and r["code"].get("coding", [{}])[0].get("system") == FINDING_CS


def _attachment(text: str, content_type: str, language: str | None, title: str, when: str) -> Json:
    att: Json = {
        "contentType": content_type,
        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
        "title": title,
        "creation": when,
    }
    if language:
        att["language"] = language
    return att


def text_form(c: Case, form: TextForm) -> Case:
    """The text-only form of case ``c``: same patient and data, findings only as report text."""
    new_id = c.case_id + TEXT_SUFFIX
    t = copy.copy(c)
    t.case_id, t.resources, t.stated = new_id, [], {}
    writer = WRITERS[form.language]
    language = writer.bcp47 if form.tag_language else None
    earlier_bme: set[tuple[str, str | None]] = set()
    n_report = 0
    for original in c.resources:
        if _is_coded_finding(original):
            continue
        resource = _renamed(copy.deepcopy(original), c.case_id, new_id)
        t.resources.append(resource)
        if resource["resourceType"] == "Patient":
            t.patient = resource
        if resource["resourceType"] != "ImagingStudy":
            continue
        resource["identifier"][0]["value"] = f"urn:oid:{dicom_uid(resource['id'])}"
        for n, series in enumerate(resource["series"], start=1):
            series["uid"] = dicom_uid(f"{resource['id']}-series-{n}")
        stated = c.stated.get(original["id"], [])
        if not stated:
            continue
        later = form.later and any(w in resource["description"].lower() for w in _LATER)
        this_form = TextForm(form.language, form.later if later else form.history, form.question)
        modality = resource["modality"][0]["code"]
        report = writer.report(modality, resource["description"], stated, earlier_bme, this_form)
        earlier_bme |= {(s.structure, s.side) for s in stated if s.concept == "bone_marrow_edema" and s.present}
        shape = form.shapes[n_report % len(form.shapes)]
        n_report += 1
        add_text_report(
            t, resource, report.title, report.plain(), report.html(language), report.impression, shape, language
        )
    for sid, (when, description) in c.unimaged.items():
        # A report that does not say how the lesion was imaged: no ImagingStudy, no modality.
        report = writer.report("unknown", description, c.stated[sid], earlier_bme, form)
        shape = form.shapes[n_report % len(form.shapes)]
        n_report += 1
        add_text_report(
            t,
            {"id": sid.replace(c.case_id, new_id, 1), "started": when.isoformat(), "modality": [], "series": []},
            report.title,
            report.plain(),
            report.html(language),
            report.impression,
            shape,
            language,
            imaged=False,
        )
    return t


def add_text_report(
    self: Case,
    study: Json,
    title: str,
    plain: str,
    html: str,
    impression: str,
    shape: str,
    language: str | None,
    *,
    imaged: bool = True,
) -> None:
    """Add the report of ``study`` in one of the attachment shapes (see ``TEXT_FORMS``); ``imaged`` False:
    ``study`` only carries the id and date of a report that names no study (no ``imagingStudy``)."""
    when = study["started"]
    issued = f"{when}T17:00:00Z"
    base = f"{study['id']}-report"
    ankle = (
        imaged
        and study["modality"][0]["code"] == "MR"
        and all(STRUCTURES[s["bodySite"]["code"]].joint == "ankle" for s in study["series"])
    )
    code = loinc("24538-1" if ankle else "18748-4")
    category = [_cc(_coding(LOINC, "LP29684-5", "Radiology"))]
    if shape == "docref":
        self._add(
            {
                "resourceType": "DocumentReference",
                "id": base,
                "status": "current",
                "docStatus": "final",
                "type": code,
                "category": category,
                "subject": _ref(self.patient),
                "date": issued,
                "description": title,
                "content": [{"attachment": _attachment(plain, "text/plain; charset=utf-8", language, title, when)}],
                "context": {"period": {"start": when, "end": when}}
                | ({"related": [{"reference": f"ImagingStudy/{study['id']}"}]} if imaged else {}),
            }
        )
        return
    if shape == "html":
        form = _attachment(html, "text/html; charset=utf-8", language, title, when)
    else:
        form = _attachment(plain, "text/plain; charset=utf-8", language, title, when)
    if shape == "binary":
        binary = self._add(
            {
                "resourceType": "Binary",
                "id": f"{base}-text",
                "contentType": "text/plain; charset=utf-8",
                "data": form.pop("data"),
            }
        )
        form["url"] = f"Binary/{binary['id']}"
    report: Json = {
        "resourceType": "DiagnosticReport",
        "id": base,
        "status": "final",
        "category": category,
        "code": code,
        "subject": _ref(self.patient),
        "effectiveDateTime": when,
        "issued": issued,
        "conclusion": impression,
        "presentedForm": [form],
    }
    if imaged:
        report["imagingStudy"] = [{"reference": f"ImagingStudy/{study['id']}"}]
    self._add(report)


# ================================ output =======================================================


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build(out_dir: Path) -> list[Path]:
    """Write every case bundle and ``expected.yaml`` into ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Expectation] = {}
    written = []
    for name, fn in CASES.items():
        c, expectation = fn()
        path = out_dir / f"{name}.json"
        path.write_text(dump(c.bundle()), encoding="utf-8")
        expected[path.name] = {"patient": c.case_id, **expectation}
        written.append(path)
    exp_path = out_dir / "expected.yaml"
    exp_path.write_text(dump(expected), encoding="utf-8")
    return [*written, exp_path, *build_text(out_dir / "text", expected)]


def build_text(out_dir: Path, coded: dict[str, Expectation]) -> list[Path]:
    """Write the text-only form of every case and its ``expected.yaml`` (the coded form's conclusions)."""
    if missing := sorted(CASES.keys() - TEXT_FORMS.keys()):
        raise ValueError(f"no text form for {', '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Expectation] = {}
    written = []
    for name, fn in CASES.items():
        c = text_form(fn()[0], TEXT_FORMS[name])
        path = out_dir / f"{name}.json"
        path.write_text(dump(c.bundle()), encoding="utf-8")
        expected[path.name] = {**coded[path.name], "patient": c.case_id}
        written.append(path)
    exp_path = out_dir / "expected.yaml"
    exp_path.write_text(dump(expected), encoding="utf-8")
    return [*written, exp_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
