"""Human-readable text of an analysis: the conclusion line and an XHTML narrative.

Everything that comes from input data is escaped; the narrative uses only the
XHTML subset FHIR allows (no scripts, styles or external references).
"""

from __future__ import annotations

import functools
from html import escape

from bmefhir.analysis import Analysis

DISCLAIMER = (
    "Decision support only: bmefhir ranks and explains a differential diagnosis from the data on record, "
    "with the literature behind each criterion. It does not make a diagnosis; a clinician reviews and decides."
)

LEADING_COUNT = 3

# Knowledge-base text (candidate names, criterion titles and ids, citations, red-flag messages, next
# steps) and probabilities are the same few hundred strings for every patient: escaped once per
# process (~100 escapes per narrative otherwise). Never used for patient data, which would stay in memory.
_escape_known = functools.lru_cache(maxsize=4096)(escape)


def pct(p: float) -> str:
    if p > 0.99:
        return ">99%"  # never "100%": the model is never certain (combine.py)
    return f"{p * 100:.0f}%" if p >= 0.01 else "<1%"


def conclusion_text(analysis: Analysis) -> str:
    d = analysis.differential
    parts: list[str] = []
    if d.insufficient_data:
        parts.append("No bone marrow edema imaging on record: the ranking reflects prior probabilities only.")
    lead = ", ".join(f"{c.display} {pct(c.probability)}" for c in d.ranking[:LEADING_COUNT])
    parts.append(f"Most likely: {lead}.")
    if d.red_flags:
        flagged = sorted({_display(analysis, f.code) for f in d.red_flags})
        parts.append(f"Red flags (must not miss): {', '.join(flagged)}.")
    parts.append(DISCLAIMER)
    return " ".join(parts)


def _display(analysis: Analysis, code: str) -> str:
    for c in analysis.differential.ranking:
        if c.code == code:
            return c.display
    return code.replace("_", " ")


def narrative_div(analysis: Analysis) -> str:
    """The XHTML narrative for DiagnosticReport.text and presentedForm."""
    d = analysis.differential
    out: list[str] = ['<div xmlns="http://www.w3.org/1999/xhtml">']
    out.append("<h3>Bone marrow edema: differential diagnosis (decision support)</h3>")
    if d.red_flags:
        out.append("<p><b>Red flags</b></p><ul>")
        for f in d.red_flags:
            out.append(
                f"<li><b>{_escape_known(_display(analysis, f.code))}</b>: {_escape_known(f.message)} "
                f"<i>[{_escape_known(f.criterion_id)}; {_escape_known(f.citation.text)}]</i></li>"
            )
        out.append("</ul>")
    if d.insufficient_data:
        out.append("<p>No bone marrow edema imaging on record: the ranking reflects prior probabilities only.</p>")
    out.append("<table><tr><th>Candidate</th><th>Probability</th><th>For</th><th>Against</th></tr>")
    for c in d.ranking:
        fors = "; ".join(_escape_known(h.title) for h in c.supporting) or "-"
        against = "; ".join(_escape_known(h.title) for h in c.opposing) or "-"
        out.append(
            f"<tr><td>{_escape_known(c.display)}</td><td>{_escape_known(pct(c.probability))}</td>"
            f"<td>{fors}</td><td>{against}</td></tr>"
        )
    out.append("</table>")
    episodes = analysis.derived.timeline.episodes
    if episodes:
        out.append("<p><b>Lesion timeline</b></p><ul>")
        for e in episodes:
            end = (
                f"resolved by {e.resolved_on.isoformat()}" if e.resolved_on else f"last seen {e.last_seen.isoformat()}"
            )
            site = f"{e.side + ' ' if e.side else ''}{e.structure.replace('_', ' ')}"
            out.append(f"<li>{escape(site)}: first seen {e.first_seen.isoformat()}, {escape(end)}</li>")
        out.append("</ul>")
    if d.next_steps:
        out.append("<p><b>Recommended next steps (for consideration)</b></p><ul>")
        for s in d.next_steps:
            out.append(f"<li>{_escape_known(s.text)} <i>[{_escape_known(s.citation.text)}]</i></li>")
        out.append("</ul>")
    issues = analysis.record.issues
    if issues:
        out.append(f"<p><b>Data-quality issues of the input ({len(issues)})</b></p><ul>")
        for i in issues:
            where = f"{i.resource} {i.element}".strip()
            out.append(f"<li>{escape(i.severity)}: {escape(where)}: {escape(i.message)}</li>")
        out.append("</ul>")
    out.append(f"<p><i>{_escape_known(DISCLAIMER)}</i></p>")
    out.append(f"<p>Knowledge base version {_escape_known(d.knowledge_version)}.</p>")
    out.append("</div>")
    return "".join(out)


def html_document(analysis: Analysis, div: str | None = None) -> str:
    """A standalone HTML page (presentedForm) wrapping the narrative (``div``: ``narrative_div(analysis)``
    when the caller has it already)."""
    body = (narrative_div(analysis) if div is None else div).replace(' xmlns="http://www.w3.org/1999/xhtml"', "", 1)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>bmefhir assessment</title></head><body>" + body + "</body></html>"
    )
