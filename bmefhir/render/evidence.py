"""The report phrases behind a conclusion: text-derived findings quoted where evidence is shown.

A coded finding is cited by its resource; a finding read from report text is cited by its
resource *and* the phrase it was read from ("DiagnosticReport/x: 'diffuse marrow edema of the
right femoral head'"), so a clinician can check the reading. Quotes are patient data: they go to
the clinician and the EHR, never to logs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from bmefhir.anatomy import lane_label
from bmefhir.derive.imaging import concepts_behind
from bmefhir.record import ImagingFinding, PatientRecord, TextEvidence


@dataclass(frozen=True, slots=True)
class Quote:
    ref: str
    element: str
    concept: str
    quote: str
    assertion: str
    site: str | None  # "Right femoral head"

    def label(self) -> str:
        """ "DiagnosticReport/x: 'diffuse marrow edema of the right femoral head'" (+ the assertion if not affirmed)."""
        status = "" if self.assertion == "affirmed" else f" ({self.assertion})"
        return f"{self.ref}: '{self.quote}'{status}"


class QuoteIndex:
    """Text-derived findings of one record by resource, for quoting the evidence of facts."""

    __slots__ = ("_by_ref",)

    def __init__(self, record: PatientRecord) -> None:
        by_ref: defaultdict[str, list[ImagingFinding]] = defaultdict(list)
        for f in record.findings:
            if f.text is not None:
                by_ref[f.ref].append(f)
        self._by_ref = dict(by_ref)

    def __bool__(self) -> bool:
        return bool(self._by_ref)

    def quotes(self, refs: Iterable[str], facts: Iterable[str]) -> tuple[Quote, ...]:
        """The phrases, in ``refs`` that state the findings behind ``facts``; each phrase once."""
        if not self._by_ref:
            return ()
        concepts = frozenset().union(*(concepts_behind(f) for f in facts))
        out: dict[tuple[str, str, int], Quote] = {}
        for ref in refs:
            for f in self._by_ref.get(ref, ()):
                if f.concept in concepts and f.text is not None:
                    out.setdefault((ref, f.text.element, f.text.start), _quote(f, f.text))
        return tuple(out[k] for k in sorted(out))

    def all(self) -> tuple[Quote, ...]:
        """Every text-derived finding, in reference then text order."""
        return tuple(
            _quote(f, text)
            for ref in sorted(self._by_ref)
            for f, text in sorted(
                ((f, f.text) for f in self._by_ref[ref] if f.text is not None),
                key=lambda pair: (pair[1].element, pair[1].start, pair[0].concept),
            )
        )


def _quote(f: ImagingFinding, text: TextEvidence) -> Quote:
    site = lane_label(f.site.structure, f.site.side) if f.site else None
    return Quote(f.ref, text.element, f.concept, text.quote, text.assertion, site)
