"""ImagingStudy → ImagingStudyInfo; radiology DiagnosticReport → RadiologyReport, coded findings, report text."""

from __future__ import annotations

import re
from datetime import date

from bmefhir import terminology
from bmefhir.normalize.context import Context
from bmefhir.normalize.fhirjson import JSON, codings, obj, objs, string, texts
from bmefhir.normalize.report_sources import IMAGING_DOCUMENT_CODES, LOINC, TextSource, diagnostic_report_texts
from bmefhir.normalize.sites import side_of, structure_of
from bmefhir.normalize.text import negated_text_reason
from bmefhir.record import ImagingFinding, ImagingStudyInfo, RadiologyReport, Site

DCM = "http://dicom.nema.org/resources/ontology/DCM"
RADIOLOGY_CATEGORIES = frozenset(
    {("http://loinc.org", "LP29684-5"), ("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD")}
)


def _modality(ctx: Context | None, ref: str, element: str, c: JSON | None) -> str | None:
    for coding in codings(c):
        if coding.code and (coding.system in (None, DCM)) and terminology.is_modality(DCM, coding.code):
            return coding.code
        if ctx is not None:
            ctx.note(
                "information", "code-invalid", ref, element, "imaging modality not recognised (DICOM DCM code expected)"
            )
    return None


def study_parts(res: JSON, ctx: Context | None = None, ref: str = "") -> tuple[tuple[str, ...], tuple[Site, ...]]:
    """Modalities and series sites of an ImagingStudy; issues only when ``ctx`` is given."""
    modalities: set[str] = set()
    sites: set[Site] = set()
    for i, m in enumerate(objs(res, "modality")):
        if (code := _modality(ctx, ref, f"ImagingStudy.modality[{i}]", m)) is not None:
            modalities.add(code)
    for i, series in enumerate(objs(res, "series")):
        if (code := _modality(ctx, ref, f"ImagingStudy.series[{i}].modality", obj(series, "modality"))) is not None:
            modalities.add(code)
        body = obj(series, "bodySite")
        structure, implied = structure_of(body)
        if body is not None and structure is None and ctx is not None:
            ctx.note(
                "information", "code-invalid", ref, f"ImagingStudy.series[{i}].bodySite", "body site not recognised"
            )
        lat = obj(series, "laterality")
        side = implied or side_of(lat) or side_of(body)
        if lat is not None and side_of(lat) is None and ctx is not None:
            ctx.note(
                "warning",
                "code-invalid",
                ref,
                f"ImagingStudy.series[{i}].laterality",
                "laterality not recognised; side unknown",
            )
        if structure is not None:
            sites.add(Site(structure, side))
    return tuple(sorted(modalities)), tuple(sorted(sites, key=_site_key))


def _site_key(s: Site) -> tuple[str, str]:
    return s.structure, s.side or ""


# An ImagingStudy (or series) description that says contrast was given: "with contrast", "with and without
# contrast", "post-contrast", "contrast-enhanced", "gadolinium", "Gd-DTPA". "Without contrast" alone does not match.
_CONTRAST_GIVEN = re.compile(
    r"\bwith (?:and without )?(?:iv |gadolinium |gd )?contrast\b|\bpost[- ]?contrast\b|\bcontrast[- ]enhanced\b"
    r"|\bgadolinium\b|\bgd[- ]?(?:dtpa|enhanced)\b",
    re.IGNORECASE,
)


def _contrast_given(res: JSON) -> bool:
    descriptions = [string(res, "description"), *(string(s, "description") for s in objs(res, "series"))]
    return any(d is not None and _CONTRAST_GIVEN.search(d) for d in descriptions)


def read_imaging_study(ctx: Context, ref: str, res: JSON) -> ImagingStudyInfo:
    modalities, sites = study_parts(res, ctx, ref)
    started = ctx.date(ref, "ImagingStudy.started", res.get("started"))
    if started is None:
        series_dates = [
            d
            for i, s in enumerate(objs(res, "series"))
            if (d := ctx.date(ref, f"ImagingStudy.series[{i}].started", s.get("started"))) is not None
        ]
        started = min(series_dates) if series_dates else None
    if not modalities:
        ctx.note(
            "warning", "incomplete", ref, "ImagingStudy.modality", "no recognised modality; findings from it carry none"
        )
    return ImagingStudyInfo(ref, modalities, started, sites, contrast="MR" in modalities and _contrast_given(res))


def study_context(ctx: Context, study_refs: list[str]) -> tuple[str | None, tuple[Site, ...]]:
    """(single modality or None, all sites) of the referenced studies present in the input."""
    modalities: set[str] = set()
    sites: set[Site] = set()
    for sref in study_refs:
        study = ctx.by_ref.get(sref)
        if study is None:
            continue
        mods, ss = study_parts(study)
        modalities.update(mods)
        sites.update(ss)
    modality = next(iter(modalities)) if len(modalities) == 1 else None
    return modality, tuple(sorted(sites, key=_site_key))


def is_radiology(res: JSON) -> bool:
    """Radiology category, an imaging report code (terminology.md §4b), or a referenced ImagingStudy."""
    for cat in objs(res, "category"):
        for c in codings(cat):
            if (terminology.canonical_system(c.system), c.code) in RADIOLOGY_CATEGORIES:
                return True
    for c in codings(obj(res, "code")):
        if terminology.canonical_system(c.system) == LOINC and c.code in IMAGING_DOCUMENT_CODES:
            return True
    return bool(objs(res, "imagingStudy"))


def report_date(ctx: Context, ref: str, res: JSON) -> date | None:
    if "effectiveDateTime" in res:
        return ctx.date(ref, "DiagnosticReport.effectiveDateTime", res.get("effectiveDateTime"))
    if (period := obj(res, "effectivePeriod")) is not None:
        return ctx.date(ref, "DiagnosticReport.effectivePeriod.start", period.get("start"))
    return ctx.date(ref, "DiagnosticReport.issued", res.get("issued"))


def read_diagnostic_report(
    ctx: Context, ref: str, res: JSON
) -> tuple[RadiologyReport | None, list[ImagingFinding], list[TextSource]]:
    """The report, its coded conclusions as findings, and its text (read by ``report_findings``)."""
    conclusion_codes = objs(res, "conclusionCode")
    finding_codes = [cc for cc in conclusion_codes if _finding_mapping(cc) is not None]
    if not is_radiology(res) and not finding_codes:
        ctx.note(
            "information",
            "not-supported",
            ref,
            "DiagnosticReport.category",
            "not a radiology report; only radiology reports are read (lab values come from their Observations)",
        )
        return None, [], []
    when = report_date(ctx, ref, res)
    study_refs = sorted({r for s in objs(res, "imagingStudy") if (r := ctx.resolve(s)) is not None})
    report = RadiologyReport(ref, when, tuple(study_refs))
    modality, sites = study_context(ctx, study_refs)
    site = sites[0] if len(sites) == 1 else None
    findings: list[ImagingFinding] = []
    for i, cc in enumerate(conclusion_codes):
        element = f"DiagnosticReport.conclusionCode[{i}]"
        mapping = _finding_mapping(cc)
        if mapping is None:
            reason = negated_text_reason(cc, ("finding",)) or "conclusion code is not an imaging finding bmefhir reads"
            ctx.note("information", "code-invalid", ref, element, reason)
            continue
        if mapping.match == "text":
            ctx.note("information", "code-invalid", ref, element, f"finding matched by text as {mapping.concept}")
        if len(sites) > 1:
            ctx.note(
                "information",
                "incomplete",
                ref,
                element,
                "the report's studies cover several sites; the finding's site is left unknown",
            )
        findings.append(
            ImagingFinding(
                ref, mapping.concept, True, site, when, modality, study_refs[0] if len(study_refs) == 1 else None
            )
        )
    # Only a radiology report's narrative is read; a pathology (or other) report with finding codes gives its
    # codes only (docs/input-conventions.md: "a pathology report's free text is not read").
    text_sources = diagnostic_report_texts(ctx, ref, res, when, tuple(study_refs)) if is_radiology(res) else []
    if not conclusion_codes and not study_refs and not text_sources:
        ctx.note(
            "information",
            "incomplete",
            ref,
            "DiagnosticReport.conclusionCode",
            "radiology report without coded conclusions or readable text",
        )
    return report, findings, text_sources


def _finding_mapping(cc: JSON) -> terminology.Mapping | None:
    for c in codings(cc):
        if (m := terminology.concept_for(c.system, c.code, "finding")) is not None:
            return m
    for text in texts(cc):
        if (m := terminology.concept_for_text(text, "finding")) is not None:
            return m
    return None


__all__ = ["read_diagnostic_report", "read_imaging_study", "string", "study_context"]
