"""Raw FHIR R4 resources of one patient → ``PatientRecord``.

Every input resource ends up somewhere: as an item of the record, as a
``DataQualityIssue`` (ignored type, bad element, unknown code), or both. Output
tuples are sorted so the same input always gives an identical record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date
from itertools import groupby
from operator import attrgetter
from typing import Any

from bmefhir.normalize.conditions import read_condition, read_procedure
from bmefhir.normalize.context import Context
from bmefhir.normalize.fhirjson import JSON, obj, objs, relative_ref, string
from bmefhir.normalize.imaging import read_diagnostic_report, read_imaging_study
from bmefhir.normalize.medications import read_medication_use
from bmefhir.normalize.observations import SKIPPED_STATUS, effective_date, imaging_study_refs, read_observation
from bmefhir.normalize.parse import READ_TYPES, validate
from bmefhir.normalize.patient import read_patient
from bmefhir.normalize.relevance import Skip, SkipLog, skip_reason, unused_type
from bmefhir.normalize.report_findings import Reader, text_findings
from bmefhir.normalize.report_sources import (
    TextSource,
    document_reference_texts,
    is_imaging_observation,
    observation_text,
)
from bmefhir.record import (
    ClinicalObservation,
    ConditionEntry,
    DataQualityIssue,
    ImagingFinding,
    ImagingStudyInfo,
    LabResult,
    MedicationExposure,
    PatientInfo,
    PatientRecord,
    RadiologyReport,
    SourceRef,
)
from bmefhir.reporttext import read_report

# The element naming the patient a resource is about.
SUBJECT_ELEMENT = {
    "Observation": "subject",
    "ImagingStudy": "subject",
    "MedicationStatement": "subject",
    "MedicationRequest": "subject",
    "Condition": "subject",
    "Procedure": "subject",
    "DiagnosticReport": "subject",
    "DocumentReference": "subject",
}
_MAX_BUNDLE_DEPTH = 3
_UNUSED_BINARY = Skip(
    "information", "informational", "Binary", "Binary not used: no report attachment of this patient points at it"
)
_UNUSED_MEDICATION = Skip(
    "information",
    "informational",
    "Medication",
    "Medication not used: unreferenced, or its drug is not in a class bmefhir reads",
)


# (reference, resource): a plain tuple, as a record makes one per input resource (a NamedTuple's
# constructor is a Python function).
_Entry = tuple[str, JSON]


def _flatten(resources: Iterable[object], ctx: Context) -> list[_Entry]:
    """Input resources (Bundles unpacked, their fullUrls remembered), each with its reference; each
    first copy in ``ctx.by_ref`` too."""
    entries: list[_Entry] = []
    seen = ctx.by_ref
    for i, item in enumerate(resources):
        # A first copy of a resource with a type and an id, inline (``_visit``'s own path for it): most
        # inputs. The rest (Bundles, duplicates, no id, not a resource) go through ``_visit``.
        if isinstance(item, dict) and isinstance(rtype := item.get("resourceType"), str) and rtype != "Bundle":
            rid = item.get("id")
            if isinstance(rid, str) and rid.strip() and (ref := f"{rtype}/{rid}") not in seen:
                seen[ref] = item
                entries.append((ref, item))
                continue
        _visit(ctx, entries, seen, item, i, 0)
    return entries


def _visit(ctx: Context, entries: list[_Entry], seen: dict[str, JSON], item: object, index: int, depth: int) -> None:
    """One input item of ``_flatten``. A module function, not a recursive closure: a closure that
    calls itself is a reference cycle, which kept every record's entries, context and resources alive
    until the collector's next middle-generation pass (~9,000 objects per 1,000-resource record, each
    pass walking them again) instead of freeing them when the record is built."""
    # The position ("Bundle.entry[3]") names a resource only when it has no id: made when needed.
    if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
        position = f"Bundle.entry[{index}]"
        ctx.note("error", "structure", position, "resourceType", "not a FHIR resource (no resourceType); ignored")
        return
    if item["resourceType"] == "Bundle" and depth < _MAX_BUNDLE_DEPTH:
        for j, entry in enumerate(objs(item, "entry")):
            resource = obj(entry, "resource")
            if resource is None:
                continue
            full_url, rid = string(entry, "fullUrl"), string(resource, "id")
            if full_url and rid and isinstance(resource.get("resourceType"), str):
                ctx.full_urls[full_url] = f"{resource['resourceType']}/{rid}"
            _visit(ctx, entries, seen, resource, j, depth + 1)
        return
    rid = string(item, "id")
    ref = f"{item['resourceType']}/{rid}" if rid else f"Bundle.entry[{index}]"
    if ref in seen:
        ctx.note(
            "warning",
            "duplicate",
            ref,
            item["resourceType"],
            "resource appears more than once; the first copy is used",
        )
        return
    seen[ref] = item
    entries.append((ref, item))


def _subject(ctx: Context, res: JSON) -> str | None:
    element = SUBJECT_ELEMENT.get(res.get("resourceType"))  # type: ignore[arg-type]
    reference = res.get(element) if element else None
    target = ctx.resolve(reference) if isinstance(reference, dict) else None
    return target if target and target.startswith("Patient/") else None


def _choose_patient(ctx: Context, entries: list[_Entry], patient_id: str | None) -> str:
    if patient_id:
        return relative_ref(patient_id) if "/" in patient_id else f"Patient/{patient_id}"
    patients = sorted(ref for ref, res in entries if res.get("resourceType") == "Patient" and "/" in ref)
    if patients:
        return patients[0]
    subjects = Counter(s for _, res in entries if (s := _subject(ctx, res)) is not None)
    if subjects:
        # Most referenced patient; ties broken by reference for determinism.
        return min(subjects, key=lambda s: (-subjects[s], s))
    return "Patient/unknown"


def _date_key(d: date | None) -> tuple[bool, date]:
    return d is None, d or date.min


def _sorted(items: list[Any], when: Callable[[Any], date | None]) -> tuple[Any, ...]:
    """By date, reference, then repr: the repr only among items of one resource and date (a repr
    per item is the cost of the sort)."""
    items = sorted(items, key=lambda x: (_date_key(when(x)), x.ref))
    out: list[Any] = []
    for _, group in groupby(items, key=lambda x: (_date_key(when(x)), x.ref)):
        tied = list(group)
        out += sorted(tied, key=repr) if len(tied) > 1 else tied
    return tuple(out)


def build_record(
    resources: Iterable[dict[str, Any]],
    *,
    patient_id: str | None = None,
    source_issues: Iterable[DataQualityIssue] = (),
    read: Reader = read_report,
    skip_irrelevant: bool = True,
) -> PatientRecord:
    """Build the typed record of one patient from raw FHIR R4 JSON resources (Bundles are unpacked).

    ``patient_id`` ("abc" or "Patient/abc") picks the patient when the input holds
    several; resources about another patient are left out with a warning.
    ``source_issues`` (e.g. from the fetcher) are carried into ``record.issues``.
    ``read`` reads report text (``bmefhir.reporttext.read_report``; the benchmarks time it).
    ``skip_irrelevant=False`` validates and reads every resource of a read type, relevant or not, each
    whole with fhir.resources, without the element memo (``parse.validate``): the benchmarks' baseline,
    and the tests' proof that skipping and the memo lose nothing.
    """
    ctx = Context()
    memo = ctx.validated if skip_irrelevant else None
    ctx.issues.extend(list(source_issues))
    entries = _flatten(resources, ctx)
    patient_ref = _choose_patient(ctx, entries, patient_id)

    patient: PatientInfo | None = None
    labs: list[LabResult] = []
    observations: list[ClinicalObservation] = []
    findings: list[ImagingFinding] = []
    studies: list[ImagingStudyInfo] = []
    medications: list[MedicationExposure] = []
    conditions: list[ConditionEntry] = []
    reports: list[RadiologyReport] = []
    sources: list[SourceRef] = []
    requests: list[MedicationExposure] = []
    binaries: dict[str, JSON] = {}
    medication_resources: dict[str, JSON] = {}
    text_sources: list[TextSource] = []
    skipped = SkipLog()

    # Whether a subject reference names another patient than the one analysed, by its text: a
    # record names its patient the same way in thousands of resources.
    other_patient: dict[str, bool] = {}
    for ref, res in entries:
        rtype = str(res["resourceType"])
        if rtype not in READ_TYPES:
            skipped.add(rtype, ref, unused_type(rtype))
            continue
        if rtype == "Binary":  # read only as the target of an attachment url, below
            binaries[ref] = res
            continue
        if rtype == "Patient" and ref != patient_ref:
            ctx.note("warning", "business-rule", ref, "Patient", "another patient than the one analysed; not used")
            continue
        element = SUBJECT_ELEMENT.get(rtype)
        holder = res.get(element) if element else None
        raw = holder.get("reference") if isinstance(holder, dict) else None
        if isinstance(raw, str):  # otherwise no subject (``_subject``)
            other = other_patient.get(raw)
            if other is None:
                subject = _subject(ctx, res)
                other = other_patient[raw] = subject is not None and subject != patient_ref
            if other:
                ctx.note("warning", "business-rule", ref, f"{rtype}.subject", "about another patient; not used")
                continue
        meta = res.get("meta")
        sources.append(SourceRef(ref, string(meta, "versionId") if isinstance(meta, dict) else None))
        if rtype == "Medication":  # read only through a statement or request that uses it, below
            medication_resources[ref] = res
            continue
        if skip_irrelevant and (skip := skip_reason(ctx, res)) is not None:
            skipped.add(rtype, ref, skip)  # relevance before validation: counted, not validated (relevance.py)
            continue
        ctx.issues.extend(validate(res, ref, memo))
        if rtype == "Patient":
            patient = read_patient(ctx, ref, res)
        elif rtype == "Observation":
            text = _observation_text(ctx, ref, res)
            text_sources += [text] if text else []
            items = read_observation(ctx, ref, res, has_text=text is not None)
            labs += items.labs
            observations += items.observations
            findings += items.findings
        elif rtype == "ImagingStudy":
            studies.append(read_imaging_study(ctx, ref, res))
        elif rtype == "DiagnosticReport":
            report, report_findings, report_texts = read_diagnostic_report(ctx, ref, res)
            reports += [report] if report else []
            findings += report_findings
            text_sources += report_texts
        elif rtype == "DocumentReference":
            text_sources += document_reference_texts(ctx, ref, res)
        elif rtype == "Condition":
            if (condition := read_condition(ctx, ref, res)) is not None:
                conditions.append(condition)
        elif rtype == "Procedure":
            if (condition := read_procedure(ctx, ref, res)) is not None:
                conditions.append(condition)
        elif (exposure := read_medication_use(ctx, ref, res)) is not None:
            (medications if rtype == "MedicationStatement" else requests).append(exposure)

    findings += text_findings(ctx, text_sources, findings, read=read)
    sources += _binaries(ctx, binaries, skipped, memo)
    _medications(ctx, medication_resources, skipped, memo)
    medications += _requests_without_statement(ctx, requests, medications)
    skipped.emit(ctx, patient_ref)
    if patient is None:
        patient = PatientInfo(patient_ref, None, None)
        ctx.note(
            "warning", "not-found", patient_ref, "Patient", "no Patient resource in the input; age and sex unknown"
        )

    issues = sorted(ctx.issues.items(), key=lambda i: (i.resource, i.element, i.severity, i.code, i.message))
    return PatientRecord(
        patient=patient,
        labs=_sorted(labs, lambda x: x.date),
        observations=_sorted(observations, lambda x: x.date),
        findings=_sorted(findings, lambda x: x.date),
        studies=_sorted(studies, lambda x: x.date),
        medications=_sorted(medications, lambda x: x.start),
        conditions=_sorted(conditions, lambda x: x.onset),
        reports=_sorted(reports, lambda x: x.date),
        sources=tuple(sorted(sources, key=attrgetter("ref"))),  # refs are unique (``_flatten``)
        issues=tuple(issues),
    )


def _observation_text(ctx: Context, ref: str, res: JSON) -> TextSource | None:
    """The valueString of an imaging Observation as report text."""
    if "valueString" not in res or string(res, "status") in SKIPPED_STATUS or not is_imaging_observation(res):
        return None
    return observation_text(ctx, ref, res, effective_date(ctx, ref, res), tuple(imaging_study_refs(ctx, res)))


def _binaries(
    ctx: Context, binaries: dict[str, JSON], skipped: SkipLog, memo: dict[Any, Any] | None
) -> list[SourceRef]:
    """Binaries an attachment url read are sources (validated); the others are not used (counted)."""
    used = []
    for ref, res in binaries.items():
        if ref in ctx.used_refs:
            used.append(SourceRef(ref, string(obj(res, "meta"), "versionId")))
            ctx.issues.extend(validate(res, ref, memo))
        else:
            skipped.add("Binary", ref, _UNUSED_BINARY)
    return used


def _medications(ctx: Context, medications: dict[str, JSON], skipped: SkipLog, memo: dict[Any, Any] | None) -> None:
    """Medications a statement or request used are validated; the others are not used (counted)."""
    for ref, res in medications.items():
        if ref in ctx.used_refs:
            ctx.issues.extend(validate(res, ref, memo))
        else:
            skipped.add("Medication", ref, _UNUSED_MEDICATION)


def _requests_without_statement(
    ctx: Context, requests: list[MedicationExposure], statements: list[MedicationExposure]
) -> list[MedicationExposure]:
    """MedicationRequests count only for drugs with no MedicationStatement (docs/input-conventions.md)."""
    stated = {(m.concept, m.drug) for m in statements}
    kept = []
    for r in requests:
        if (r.concept, r.drug) in stated:
            ctx.note(
                "information",
                "informational",
                r.ref,
                "MedicationRequest",
                "a MedicationStatement for the same drug is used instead",
            )
        else:
            kept.append(r)
    return kept
