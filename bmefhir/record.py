"""The typed snapshot of one patient that every source produces.

A ``PatientRecord`` is what the pure core sees: codes are already mapped to
bmefhir concepts (``bmefhir.terminology``), lab values are in one canonical UCUM
unit, dates are ``datetime.date``. Anything the builder could not use is kept as
a ``DataQualityIssue`` naming the resource and the element, so nothing is lost
silently. Every item keeps ``ref`` ("Observation/abc") so conclusions can cite
the resource behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from bmefhir.safetext import bounded

Side = Literal["left", "right", "bilateral"]
Severity = Literal["error", "warning", "information"]
# How a report sentence asserts a finding (medspaCy ConText categories, Harkema 2009): affirmed;
# negated ("no", "resolved"); uncertain ("cannot exclude", "suggestive of"); historical (a prior
# finding, not one of this study); hypothetical (the clinical question, "r/o AVN").
Assertion = Literal["affirmed", "negated", "uncertain", "historical", "hypothetical"]
Sex = Literal["male", "female", "other", "unknown"]
_ISSUE_FIELD_LIMITS = (("resource", 160), ("element", 160), ("message", 600))


@dataclass(frozen=True, slots=True)
class DataQualityIssue:
    """Something in the input the adapter could not use, or used with a caveat.

    ``resource`` is a reference ("Observation/abc") or, when the resource has no
    id, its position ("Bundle.entry[3]"); ``element`` is a FHIRPath-like path.
    Messages never contain patient data values beyond codes and units.
    """

    severity: Severity
    code: str  # OperationOutcome issue type: invalid, structure, value, code-invalid, not-supported, incomplete
    resource: str
    element: str
    message: str

    def __post_init__(self) -> None:
        # Built from input (a resourceType, an id, an element name): keep each field short and printable.
        for name, limit in _ISSUE_FIELD_LIMITS:
            value = getattr(self, name)
            if len(value) > limit or not value.isprintable():
                object.__setattr__(self, name, bounded(value, limit))


@dataclass(frozen=True, slots=True)
class Site:
    """An anatomical site: a bmefhir structure key (see ``bmefhir.anatomy``) and a side."""

    structure: str
    side: Side | None = None


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A source resource as read, with its version for the Provenance entity."""

    ref: str
    version: str | None = None


@dataclass(frozen=True, slots=True)
class PatientInfo:
    ref: str
    birth_date: date | None
    sex: Sex | None
    display_name: str | None = None  # for the clinician's page only; never logged


@dataclass(frozen=True, slots=True)
class LabResult:
    """A laboratory value, normalised: ``concept`` e.g. "crp", value in ``unit`` (canonical UCUM)."""

    ref: str
    concept: str
    code: str  # the LOINC code as received
    value: float | None
    unit: str | None
    date: date | None
    coded_value: str | None = None  # "positive" / "negative" for qualitative results
    high_flag: bool | None = None  # Observation.interpretation H/HH/A, or value above referenceRange.high
    low_flag: bool | None = None  # Observation.interpretation L/LL (true) or N/H (false)


@dataclass(frozen=True, slots=True)
class ClinicalObservation:
    """Social history, exam, symptom and vital-sign facts.

    ``concept`` e.g. "smoking_current", "pack_years", "alcohol_heavy",
    "audit_c", "fever", "body_temperature", "weight_bearing_pain",
    "skin_changes", "trauma", "dxa_t_score", "pregnancy", "gestational_age_weeks",
    "postpartum", "joint_swelling", "limp". ``value`` is True/False for findings,
    a float for measurements (in the canonical unit), or None when only present.
    """

    ref: str
    concept: str
    value: bool | float | None
    unit: str | None
    date: date | None
    site: Site | None = None


@dataclass(frozen=True, slots=True)
class TextEvidence:
    """Where a finding read from report text stands in that text.

    ``element`` is the FHIRPath-like element the text came from ("DiagnosticReport.conclusion",
    "DiagnosticReport.presentedForm[0]", "DocumentReference.content[0].attachment"); ``start`` and
    ``end`` are character offsets into that text as decoded (markup stripped), and ``quote`` is the
    phrase there, verbatim. Shown to the clinician; never logged.
    """

    element: str
    start: int
    end: int
    quote: str
    assertion: Assertion
    language: str  # "en", "tr", "zh"
    section: str | None = None  # "clinical_information", "technique", "findings", "impression", ...


@dataclass(frozen=True, slots=True)
class ImagingFinding:
    """One imaging finding at one site on one date; ``present`` False means looked for and not seen.

    ``text`` is None for a coded finding and says where in the report a finding read from
    narrative text stands; ``uncertain`` marks a hedged one ("cannot exclude", "suggestive of").
    """

    ref: str
    concept: str  # bmefhir imaging-finding code, e.g. "bone_marrow_edema"
    present: bool
    site: Site | None
    date: date | None
    modality: str | None = None  # DICOM: MR, CR, DX, CT, NM, US
    study_ref: str | None = None
    text: TextEvidence | None = None

    @property
    def uncertain(self) -> bool:
        return self.text is not None and self.text.assertion == "uncertain"


@dataclass(frozen=True, slots=True)
class ImagingStudyInfo:
    ref: str
    modalities: tuple[str, ...]
    date: date | None
    sites: tuple[Site, ...] = ()
    contrast: bool = False  # an MRI whose description says contrast was given (so contrast MRI is on record)


@dataclass(frozen=True, slots=True)
class MedicationExposure:
    """A medication course mapped to a drug class ``concept`` (e.g. "glucocorticoid")."""

    ref: str
    concept: str
    drug: str  # ingredient name, lower case
    route: str | None  # "oral", "intravenous", "intra-articular", "inhaled", "topical"
    start: date | None
    end: date | None
    status: str | None  # active, completed, stopped, ...
    daily_dose_mg: float | None = None  # prednisone-equivalent where known


@dataclass(frozen=True, slots=True)
class ConditionEntry:
    """A diagnosis or problem mapped to a ``concept`` (e.g. "rheumatoid_arthritis")."""

    ref: str
    concept: str
    onset: date | None
    abatement: date | None
    active: bool
    site: Site | None = None
    # Not confirmed: verificationStatus unconfirmed / provisional / differential, or a health concern
    # nobody confirmed; facts resting only on such entries count as uncertain (docs/input-conventions.md).
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class RadiologyReport:
    ref: str
    date: date | None
    study_refs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PatientRecord:
    patient: PatientInfo
    labs: tuple[LabResult, ...] = ()
    observations: tuple[ClinicalObservation, ...] = ()
    findings: tuple[ImagingFinding, ...] = ()
    studies: tuple[ImagingStudyInfo, ...] = ()
    medications: tuple[MedicationExposure, ...] = ()
    conditions: tuple[ConditionEntry, ...] = ()
    reports: tuple[RadiologyReport, ...] = ()
    sources: tuple[SourceRef, ...] = ()
    issues: tuple[DataQualityIssue, ...] = field(default=())
