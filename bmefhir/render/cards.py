"""CDS Hooks cards (CDS Hooks 2.0 ``Card``) for an analysis: the differential and its red flags.

No card when there is no bone marrow edema imaging on record: a patient-view hook
fires for every chart opened, and a ranking of priors would be noise. Red flags
come first, one ``warning`` card per candidate that must not be missed; then one
``info`` card with the ranked differential, its criteria and citations, and a
SMART link to the full app when one is configured. Card uuids are derived from the
content, so the same analysis always yields the same cards.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Final

from bmefhir.analysis import Analysis
from bmefhir.differential.confidence import confidence_band
from bmefhir.differential.model import CandidateResult, CriterionHit
from bmefhir.render.evidence import Quote, QuoteIndex
from bmefhir.render.ids import BASE
from bmefhir.render.narrative import DISCLAIMER, LEADING_COUNT, pct

__all__ = ["SUMMARY_MAX", "cds_cards"]

SUMMARY_MAX: Final = 140  # CDS Hooks: "<140 characters"
_SOURCE: Final = {"label": "bmefhir (decision support)"}
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, f"{BASE}/cds-card")
_HITS_SHOWN: Final = 3
_QUOTES_SHOWN: Final = 2


def cds_cards(analysis: Analysis, *, app_url: str | None = None) -> list[dict[str, Any]]:
    """Cards for a patient-view hook; empty when the record has no BME imaging."""
    d = analysis.differential
    if d.insufficient_data or not d.ranking:
        return []
    displays = {c.code: c.display for c in d.ranking}
    quotes = QuoteIndex(analysis.record)
    cards: list[dict[str, Any]] = []
    seen: set[str] = set()
    for flag in d.red_flags:
        if flag.code in seen:
            continue
        seen.add(flag.code)
        name = displays.get(flag.code, flag.code.replace("_", " "))
        hedged = (
            " The evidence behind it is uncertain (a hedged report finding or an unconfirmed diagnosis)."
            if flag.uncertain
            else ""
        )
        detail = (
            f"{flag.message}{hedged}\n\n"
            f"Criterion `{flag.criterion_id}` ({flag.citation.text}); "
            f"evidence: {_refs(flag.evidence)}.{_quoted(quotes.quotes(flag.evidence, flag.facts))}\n\n*{DISCLAIMER}*"
        )
        cards.append(_card(f"Must not miss: {name}. {flag.message}", "warning", detail))
    top = d.ranking[0]
    band = confidence_band(top.probability, leading=True).removeprefix("leading, ")  # "most likely" says leading
    summary = f"Bone marrow edema: {top.display} most likely ({pct(top.probability)}), {band}; decision support"
    main = _card(summary, "info", _differential_detail(analysis, quotes))
    if app_url:
        main["links"] = [{"label": "Open the bmefhir differential", "url": app_url, "type": "smart"}]
    cards.append(main)
    return cards


def _card(summary: str, indicator: str, detail: str) -> dict[str, Any]:
    summary = summary if len(summary) < SUMMARY_MAX else summary[: SUMMARY_MAX - 2].rstrip() + "…"
    content = json.dumps([summary, indicator, detail], ensure_ascii=False)
    return {
        "uuid": str(uuid.uuid5(_NAMESPACE, content)),
        "summary": summary,
        "indicator": indicator,
        "detail": detail,
        "source": dict(_SOURCE),
    }


def _differential_detail(analysis: Analysis, quotes: QuoteIndex) -> str:
    d = analysis.differential
    lines = [f"**Most likely** (of {len(d.ranking)} candidates):", ""]
    for i, c in enumerate(d.ranking[:LEADING_COUNT], 1):
        band = confidence_band(c.probability, leading=i == 1)
        lines.append(f"{i}. **{c.display}** {pct(c.probability)}, {band}{_reasons(c, quotes)}")
    if d.next_steps:
        lines += ["", "**Next steps to consider:**", ""]
        lines += [f"- {s.text} ({s.citation.text})" for s in d.next_steps]
    if d.withheld:
        lines += ["", "**Not suggested (contraindicated for this patient):**", ""]
        lines += [f"- {w.text} Withheld: " + "; ".join(f"{r.reason} ({r.citation.text})" for r in w.reasons)
                  for w in d.withheld]  # fmt: skip
    if analysis.record.issues:
        lines += ["", f"{len(analysis.record.issues)} data-quality issue(s) in the input; the app lists them."]
    lines += ["", f"*{DISCLAIMER}* Knowledge base version {d.knowledge_version}."]
    return "\n".join(lines)


def _reasons(c: CandidateResult, quotes: QuoteIndex) -> str:
    parts = []
    if c.supporting:
        parts.append("for: " + "; ".join(_hit(h, quotes) for h in c.supporting[:_HITS_SHOWN]))
    if c.opposing:
        parts.append("against: " + "; ".join(_hit(h, quotes) for h in c.opposing[:_HITS_SHOWN]))
    return " (" + " · ".join(parts) + ")" if parts else ""


def _hit(h: CriterionHit, quotes: QuoteIndex) -> str:
    hedged = " (uncertain)" if h.uncertain else ""
    return f"{h.title}{hedged} [{h.citation.text}; {_refs(h.evidence)}]{_quoted(quotes.quotes(h.evidence, h.facts))}"


def _quoted(found: tuple[Quote, ...]) -> str:
    """The report phrases behind a conclusion, as the card shows them (markdown emphasis stripped)."""
    if not found:
        return ""
    return " " + "; ".join(q.label().replace("*", "").replace("`", "'") for q in found[:_QUOTES_SHOWN])


def _refs(evidence: tuple[str, ...]) -> str:
    return ", ".join(evidence) if evidence else "no single resource"
