"""The per-patient JSON summary (CLI ``--format json``, folder sink ``summary.json``, web API)."""

from __future__ import annotations

from typing import Any

from bmefhir.analysis import Analysis
from bmefhir.anatomy import lane_label
from bmefhir.differential.confidence import confidence_band
from bmefhir.render.evidence import QuoteIndex


def summarize(analysis: Analysis) -> dict[str, Any]:
    d = analysis.differential
    timeline = analysis.derived.timeline
    quotes = QuoteIndex(analysis.record)
    return {
        "patient": analysis.record.patient.ref,
        "ranking": [
            {
                "code": c.code,
                "display": c.display,
                "probability": c.probability,
                "confidence": confidence_band(c.probability, leading=i == 0),
                "for": [h.criterion_id for h in c.supporting],
                "against": [h.criterion_id for h in c.opposing],
                "explanation": [
                    {
                        "criterion": h.criterion_id,
                        "weight": h.weight,
                        "uncertain": h.uncertain,
                        "evidence": list(h.evidence),
                        "quotes": [q.label() for q in quotes.quotes(h.evidence, h.facts)],
                    }
                    for h in (*c.supporting, *c.opposing)
                ],
            }
            for i, c in enumerate(d.ranking)
        ],
        "red_flags": [
            {
                "candidate": f.code,
                "criterion": f.criterion_id,
                "message": f.message,
                "citation": f.citation.text,
                "evidence": list(f.evidence),
                "uncertain": f.uncertain,
                "quotes": [q.label() for q in quotes.quotes(f.evidence, f.facts)],
            }
            for f in d.red_flags
        ],
        "next_steps": [
            {"id": s.id, "text": s.text, "citation": s.citation.text, "evidence": list(s.evidence)}
            for s in d.next_steps
        ],
        "withheld": [
            {
                "id": w.id,
                "text": w.text,
                "drugs": list(w.drugs),
                "reasons": [
                    {
                        "contraindication": r.contraindication_id,
                        "reason": r.reason,
                        "citation": r.citation.text,
                        "evidence": list(r.evidence),
                    }
                    for r in w.reasons
                ],
            }
            for w in d.withheld
        ],
        "data_quality": [
            {"severity": i.severity, "code": i.code, "resource": i.resource, "element": i.element, "message": i.message}
            for i in analysis.record.issues
        ],
        "timeline": {
            "episodes": [
                {
                    "site": lane_label(e.structure, e.side),
                    "structure": e.structure,
                    "side": e.side,
                    "first_seen": e.first_seen.isoformat(),
                    "last_seen": e.last_seen.isoformat(),
                    "resolved_on": e.resolved_on.isoformat() if e.resolved_on else None,
                }
                for e in timeline.episodes
            ],
            "migrations": [
                {
                    "from": m.from_episode,
                    "to": m.to_episode,
                    "interval_days": m.interval_days,
                    "kind": m.kind,
                    "proximal_to_distal": m.proximal_to_distal,
                }
                for m in timeline.migrations
            ],
        },
        "text_findings": [
            {
                "resource": q.ref,
                "element": q.element,
                "concept": q.concept,
                "site": q.site,
                "assertion": q.assertion,
                "quote": q.quote,
            }
            for q in quotes.all()
        ],
        "risk_factors": list(analysis.derived.risk_factors),
        "insufficient_data": d.insufficient_data,
        "knowledge_version": d.knowledge_version,
    }
