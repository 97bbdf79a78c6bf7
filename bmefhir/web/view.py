"""What the patient page shows, computed from one ``PatientResult`` (pure; the template only lays it out)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from markupsafe import Markup

from bmefhir.differential.model import Citation, CriterionHit, RedFlag
from bmefhir.render.evidence import Quote, QuoteIndex
from bmefhir.render.narrative import DISCLAIMER, LEADING_COUNT, conclusion_text, pct
from bmefhir.web.body_map_svg import body_map_svg
from bmefhir.web.timeline_svg import timeline_svg

if TYPE_CHECKING:
    from bmefhir.pipeline import PatientResult

__all__ = ["EvidenceView", "FlagGroupView", "PageView", "page_view", "source_path"]

_REF: Final = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True, slots=True)
class SourceLink:
    ref: str
    href: str | None  # None when the reference is not a plain Type/id on this server


@dataclass(frozen=True, slots=True)
class CitationView:
    text: str
    href: str | None


@dataclass(frozen=True, slots=True)
class EvidenceView:
    title: str
    weight: float
    citation: CitationView
    sources: tuple[SourceLink, ...]
    quotes: tuple[str, ...] = ()  # report phrases behind it ("DiagnosticReport/x: '...'")
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class TextFindingView:
    concept: str
    site: str | None
    assertion: str
    quote: str
    source: SourceLink
    element: str


@dataclass(frozen=True, slots=True)
class CandidateView:
    code: str
    display: str
    percent: str
    bar: int  # 0-100, for the probability bar
    supporting: tuple[EvidenceView, ...]
    opposing: tuple[EvidenceView, ...]


@dataclass(frozen=True, slots=True)
class FlagView:
    candidate: str
    message: str
    citation: CitationView
    sources: tuple[SourceLink, ...]
    quotes: tuple[str, ...] = ()
    uncertain: bool = False
    title: str = ""  # the criterion's short title ("Double-line sign on T2-weighted MRI")


@dataclass(frozen=True, slots=True)
class FlagGroupView:
    """One must-not-miss candidate and every criterion that raised it: one line on the page."""

    code: str
    candidate: str
    percent: str
    flags: tuple[FlagView, ...]

    @property
    def uncertain(self) -> bool:
        """Every criterion rests on hedged report text."""
        return all(f.uncertain for f in self.flags)


@dataclass(frozen=True, slots=True)
class StepView:
    text: str
    citation: CitationView
    sources: tuple[SourceLink, ...]


@dataclass(frozen=True, slots=True)
class IssueView:
    severity: str
    resource: str
    element: str
    message: str


@dataclass(frozen=True, slots=True)
class PageView:
    patient_ref: str
    name: str | None
    birth_date: str | None
    sex: str | None
    conclusion: str
    red_flags: tuple[FlagView, ...]
    ranking: tuple[CandidateView, ...]
    leading: tuple[CandidateView, ...]
    next_steps: tuple[StepView, ...]
    issues: tuple[IssueView, ...]
    risk_factors: tuple[str, ...]
    insufficient_data: bool
    knowledge_version: str
    timeline: Markup
    body_map: Markup
    flag_groups: tuple[FlagGroupView, ...] = ()
    text_findings: tuple[TextFindingView, ...] = ()
    disclaimer: str = DISCLAIMER


def source_path(ref: str, prefix: str) -> str | None:
    """The in-app link showing a source resource, or None for references we cannot show."""
    return f"{prefix}/{ref}" if _REF.match(ref) else None


def _sources(refs: tuple[str, ...], prefix: str) -> tuple[SourceLink, ...]:
    return tuple(SourceLink(r, source_path(r, prefix)) for r in dict.fromkeys(refs))


def _citation(c: Citation) -> CitationView:
    if c.doi:
        return CitationView(c.text, f"https://doi.org/{c.doi}")
    if c.pmid:
        return CitationView(c.text, f"https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/")
    return CitationView(c.text, None)


def _evidence(hits: tuple[CriterionHit, ...], prefix: str, quotes: QuoteIndex) -> tuple[EvidenceView, ...]:
    ordered = sorted(hits, key=lambda h: -abs(h.weight))
    return tuple(
        EvidenceView(
            h.title,
            h.weight,
            _citation(h.citation),
            _sources(h.evidence, prefix),
            _quotes(quotes.quotes(h.evidence, h.facts)),
            h.uncertain,
        )
        for h in ordered
    )


def _quotes(found: tuple[Quote, ...]) -> tuple[str, ...]:
    return tuple(q.label() for q in found)


def page_view(result: PatientResult, source_prefix: str) -> PageView:
    analysis = result.analysis
    d = analysis.differential
    patient = analysis.record.patient
    displays = {c.code: c.display for c in d.ranking}
    titles = {h.criterion_id: h.title for c in d.ranking for h in (*c.supporting, *c.opposing)}
    quotes = QuoteIndex(analysis.record)
    ranking = tuple(
        CandidateView(
            c.code,
            c.display,
            pct(c.probability),
            max(1, round(c.probability * 100)),
            _evidence(c.supporting, source_prefix, quotes),
            _evidence(c.opposing, source_prefix, quotes),
        )
        for c in d.ranking
    )
    red_flags = tuple(
        FlagView(
            displays.get(f.code, f.code.replace("_", " ")),
            f.message,
            _citation(f.citation),
            _sources(f.evidence, source_prefix),
            _quotes(quotes.quotes(f.evidence, f.facts)),
            f.uncertain,
            titles.get(f.criterion_id, f.message),
        )
        for f in d.red_flags
    )
    return PageView(
        patient_ref=patient.ref,
        name=patient.display_name,
        birth_date=patient.birth_date.isoformat() if patient.birth_date else None,
        sex=patient.sex,
        conclusion=conclusion_text(analysis),
        red_flags=red_flags,
        flag_groups=_flag_groups(d.red_flags, red_flags, ranking),
        ranking=ranking,
        leading=ranking[:LEADING_COUNT],
        next_steps=tuple(
            StepView(s.text, _citation(s.citation), _sources(s.evidence, source_prefix)) for s in d.next_steps
        ),
        issues=tuple(IssueView(i.severity, i.resource, i.element, i.message) for i in analysis.record.issues),
        risk_factors=tuple(r.replace("_", " ") for r in analysis.derived.risk_factors),
        insufficient_data=d.insufficient_data,
        knowledge_version=d.knowledge_version,
        timeline=Markup(timeline_svg(analysis)),
        body_map=Markup(body_map_svg(analysis.derived.timeline)),
        text_findings=tuple(
            TextFindingView(
                q.concept.replace("_", " "),
                q.site,
                q.assertion,
                q.quote,
                SourceLink(q.ref, source_path(q.ref, source_prefix)),
                q.element,
            )
            for q in quotes.all()
        ),
    )


def _flag_groups(
    flags: tuple[RedFlag, ...], views: tuple[FlagView, ...], ranking: tuple[CandidateView, ...]
) -> tuple[FlagGroupView, ...]:
    """Red flags grouped by candidate, in the order the candidates were first flagged."""
    by_code: dict[str, list[FlagView]] = {}
    for flag, view in zip(flags, views, strict=True):
        by_code.setdefault(flag.code, []).append(view)
    percent = {c.code: c.percent for c in ranking}
    return tuple(
        FlagGroupView(code, group[0].candidate, percent.get(code, ""), tuple(group)) for code, group in by_code.items()
    )
