"""Small builders for PatientRecords in derive tests: one line per resource."""

from __future__ import annotations

from datetime import date

from bmefhir.derive import Derived, derive
from bmefhir.record import (
    ClinicalObservation,
    ConditionEntry,
    ImagingFinding,
    ImagingStudyInfo,
    LabResult,
    MedicationExposure,
    PatientInfo,
    PatientRecord,
    Sex,
    Side,
    Site,
)

TODAY = date(2024, 6, 1)
Item = LabResult | ClinicalObservation | ImagingFinding | ImagingStudyInfo | MedicationExposure | ConditionEntry


def d(text: str) -> date:
    return date.fromisoformat(text)


def record(*items: Item, sex: Sex | None = "male", birth: date | None = date(1970, 3, 15)) -> PatientRecord:
    return PatientRecord(
        patient=PatientInfo("Patient/p1", birth, sex),
        labs=tuple(i for i in items if isinstance(i, LabResult)),
        observations=tuple(i for i in items if isinstance(i, ClinicalObservation)),
        findings=tuple(i for i in items if isinstance(i, ImagingFinding)),
        studies=tuple(i for i in items if isinstance(i, ImagingStudyInfo)),
        medications=tuple(i for i in items if isinstance(i, MedicationExposure)),
        conditions=tuple(i for i in items if isinstance(i, ConditionEntry)),
    )


def run(*items: Item, today: date = TODAY, **patient: object) -> Derived:
    return derive(record(*items, **patient), today)  # type: ignore[arg-type]


def finding(
    concept: str,
    day: str | None,
    structure: str | None,
    side: Side | None = None,
    present: bool = True,
    modality: str | None = "MR",
    ref: str | None = None,
) -> ImagingFinding:
    site = Site(structure, side) if structure else None
    ref = ref or f"Observation/{concept}-{structure}-{side}-{day}-{present}"
    return ImagingFinding(ref, concept, present, site, d(day) if day else None, modality)


def bme(
    day: str | None, structure: str | None, side: Side | None = None, present: bool = True, ref: str | None = None
) -> ImagingFinding:
    return finding("bone_marrow_edema", day, structure, side, present, ref=ref)


def lab(
    concept: str,
    value: float | None,
    day: str | None = "2024-05-01",
    coded: str | None = None,
    high: bool | None = None,
    ref: str | None = None,
    low: bool | None = None,
) -> LabResult:
    ref = ref or f"Observation/{concept}-{value}-{coded}-{day}"
    return LabResult(ref, concept, "0000-0", value, None, d(day) if day else None, coded, high, low)


def obs(
    concept: str, value: bool | float | None = True, day: str | None = "2024-05-01", site: Site | None = None
) -> ClinicalObservation:
    return ClinicalObservation(
        f"Observation/{concept}-{value}-{day}", concept, value, None, d(day) if day else None, site
    )


def med(
    concept: str,
    drug: str,
    route: str | None,
    start: str | None,
    end: str | None = None,
    status: str = "completed",
) -> MedicationExposure:
    return MedicationExposure(
        f"MedicationStatement/{drug}-{route}-{start}",
        concept,
        drug,
        route,
        d(start) if start else None,
        d(end) if end else None,
        status,
    )


def cond(concept: str, onset: str | None = None, site: Site | None = None) -> ConditionEntry:
    return ConditionEntry(f"Condition/{concept}-{onset}", concept, d(onset) if onset else None, None, True, site)


def study(day: str, *modalities: str) -> ImagingStudyInfo:
    return ImagingStudyInfo(f"ImagingStudy/{'-'.join(modalities)}-{day}", modalities, d(day))
