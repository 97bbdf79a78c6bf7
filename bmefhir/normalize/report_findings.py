"""Report text into the record: reader mentions → ``ImagingFinding`` with ``TextEvidence``.

Pure. Each ``TextSource`` is read once (sources with the same text are read once, the report's
own ``presentedForm`` first); a mention becomes a finding dated by its report, sited from the text
or else from the report's studies, with the study's modality. Affirmed and uncertain mentions are
present findings (uncertain ones say so in their evidence), negated ones absent findings; a
historical or hypothetical mention is not a finding of this study. Where a coded finding of the
same concept says the opposite for the same study, the coded one wins (docs/report-text.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from bmefhir import anatomy, terminology
from bmefhir.concepts import FINDING_CONCEPTS
from bmefhir.normalize.context import Context
from bmefhir.normalize.imaging import study_context
from bmefhir.normalize.report_sources import (
    Note,
    TextSource,
    emit,
    normalized,
    study_date,
    study_descriptions,
)
from bmefhir.record import ImagingFinding, Site, TextEvidence
from bmefhir.reporttext import SUPPORTED_LANGUAGES, Mention, Reading, read_report

__all__ = ["Reader", "text_findings"]

Reader = Callable[[str, str | None], Reading]

# Which copy of a repeated text is read: the report's own form, then its conclusion, then documents.
_PRIORITY = {
    "DiagnosticReport.presentedForm": 0,
    "DiagnosticReport.conclusion": 1,
    "DocumentReference.content": 2,
    "Observation.valueString": 3,
}
_NOT_OF_THIS_STUDY = ("historical", "hypothetical")


@dataclass
class _Read:
    source: TextSource
    notes: list[Note] = field(default_factory=list)
    findings: list[ImagingFinding] = field(default_factory=list)


def _priority(source: TextSource) -> tuple[int, str, str]:
    kind = next((p for key, p in _PRIORITY.items() if source.element.startswith(key)), len(_PRIORITY))
    return kind, source.ref, source.element


def _site_key(site: Site | None) -> tuple[str, str]:
    return (site.structure, site.side or "") if site else ("", "")


def text_findings(
    ctx: Context,
    sources: Sequence[TextSource],
    coded: Sequence[ImagingFinding],
    read: Reader = read_report,
) -> list[ImagingFinding]:
    """Findings read from ``sources``; issues for each source element go to ``ctx``."""
    reads: list[_Read] = []
    first: dict[str, TextSource] = {}
    for source in sorted(sources, key=_priority):
        item = _Read(source, list(source.notes))
        reads.append(item)
        key = normalized(source.text)
        if (earlier := first.get(key)) is not None:  # the same text in another resource or element
            item.notes.append(
                Note("information", "duplicate", f"same text as {earlier.ref} {earlier.element}; read once")
            )
            continue
        first[key] = source
        _read_source(ctx, item, read)
    _coded_wins(reads, coded)
    findings: list[ImagingFinding] = []
    stated: set[tuple[str, str, bool, bool, Site | None, date | None]] = set()
    for item in reads:
        # An impression restating a finding of the report's body (or of its presentedForm) adds nothing:
        # the first statement, in priority order, is the one kept and quoted.
        repeated = 0
        for f in item.findings:
            said = (f.ref, f.concept, f.present, f.uncertain, f.site, f.date)
            if said in stated:
                repeated += 1
                continue
            stated.add(said)
            findings.append(f)
        if repeated:
            item.notes.append(
                Note("information", "duplicate", f"{repeated} finding(s) restated earlier in the report; read once")
            )
        emit(ctx, item.source.ref, item.source.element, item.notes)
    return findings


@dataclass(frozen=True, slots=True)
class _StudyContext:
    modality: str | None
    sites: tuple[Site, ...]


def _study_context(ctx: Context, source: TextSource, read: Reader) -> _StudyContext:
    """Modality and sites of the source's studies: coded first, else their descriptions."""
    modality, sites = study_context(ctx, list(source.study_refs))
    if modality is not None and sites:
        return _StudyContext(modality, sites)
    described: set[Site] = set()
    modalities: set[str] = set()
    for text in study_descriptions(ctx, source.study_refs):
        mapping = terminology.concept_for_text(text, "structure")
        if mapping is not None:
            described.add(Site(mapping.concept, terminology.laterality_for_text(text)))
        if modality is None and (m := read(text, source.language).modality) is not None:
            modalities.add(m)
    if modality is None and len(modalities) == 1:
        modality = modalities.pop()
    return _StudyContext(modality, sites or tuple(sorted(described, key=_site_key)))


def _read_source(ctx: Context, item: _Read, read: Reader) -> None:
    source = item.source
    reading = read(source.text, source.language)
    problems = "; ".join(reading.problems)
    if reading.language not in SUPPORTED_LANGUAGES:
        why = f" ({problems})" if problems else ""
        item.notes.append(
            Note(
                "warning",
                "not-supported",
                f"report language not one bmefhir reads ({', '.join(SUPPORTED_LANGUAGES)}); no findings read{why}",
            )
        )
        return
    if problems:
        item.notes.append(Note("information", "informational", f"report text partly read: {problems}"))
    study = _study_context(ctx, source, read)
    when = source.date or study_date(ctx, source.study_refs)
    study_ref = source.study_refs[0] if len(source.study_refs) == 1 else None
    skipped: Counter[str] = Counter()
    unsited = False
    for mention in reading.mentions:
        if mention.assertion in _NOT_OF_THIS_STUDY:
            skipped[mention.assertion] += 1
            continue
        if mention.concept not in FINDING_CONCEPTS or source.text[mention.start : mention.end] != mention.quote:
            skipped["unusable"] += 1
            continue
        site = _site(mention, study.sites)
        unsited |= site is None and len(study.sites) > 1
        evidence = TextEvidence(
            source.element,
            mention.start,
            mention.end,
            mention.quote,
            mention.assertion,
            mention.language,
            mention.section,
        )
        item.findings.append(
            ImagingFinding(
                source.ref,
                mention.concept,
                mention.assertion != "negated",
                site,
                when,
                study.modality or mention.modality or reading.modality,
                study_ref,
                evidence,
            )
        )
    if skipped["historical"] or skipped["hypothetical"]:
        item.notes.append(
            Note(
                "information",
                "informational",
                f"{skipped['historical']} historical and {skipped['hypothetical']} hypothetical mention(s) "
                "(earlier studies, the clinical question) not read as findings of this study",
            )
        )
    if skipped["unusable"]:
        item.notes.append(
            Note("information", "informational", f"{skipped['unusable']} mention(s) the reader returned not usable")
        )
    if unsited:
        item.notes.append(
            Note(
                "information",
                "incomplete",
                "the report's studies cover several sites; findings without a site in the text have none",
            )
        )


def _site(mention: Mention, study_sites: tuple[Site, ...]) -> Site | None:
    """The mention's site, else the single study site; a side-less site takes the study's side."""
    site = mention.site
    if site is None:
        return study_sites[0] if len(study_sites) == 1 else None
    if site.side is None:
        joint = anatomy.joint_of(site.structure)
        sides = {
            s.side
            for s in study_sites
            if s.side and (s.structure == site.structure or (joint and anatomy.joint_of(s.structure) == joint))
        }
        if len(sides) == 1:
            return Site(site.structure, sides.pop())
    return site


def _same_place(a: Site | None, b: Site | None) -> bool:
    if a is None or b is None:
        return True
    return a.structure == b.structure and (a.side is None or b.side is None or a.side == b.side)


def _same_study(coded: ImagingFinding, text: ImagingFinding) -> bool:
    if coded.study_ref is not None and coded.study_ref == text.study_ref:
        return True
    return coded.date is not None and coded.date == text.date and _same_place(coded.site, text.site)


def _coded_wins(reads: list[_Read], coded: Sequence[ImagingFinding]) -> None:
    """Drop text findings contradicted by a coded finding of the same concept for the same study."""
    by_concept: dict[str, list[ImagingFinding]] = {}
    for c in coded:
        by_concept.setdefault(c.concept, []).append(c)
    for item in reads:
        kept = []
        for finding in item.findings:
            rival = next(
                (
                    c
                    for c in sorted(by_concept.get(finding.concept, ()), key=lambda c: (c.ref, repr(c)))
                    if c.present != finding.present and _same_study(c, finding)
                ),
                None,
            )
            if rival is None:
                kept.append(finding)
                continue
            said = "present" if rival.present else "absent"
            item.notes.append(
                Note(
                    "warning",
                    "conflict",
                    f"the text and the coded finding {rival.ref} disagree on {finding.concept} "
                    f"(coded: {said}); the coded finding is used",
                )
            )
        item.findings = kept
