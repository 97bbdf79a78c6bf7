"""The knowledge base published as FHIR: a PlanDefinition generated from ``bmefhir.differential.knowledge``.

The YAML stays the source a clinician reviews; this is its FHIR form, at the canonical URL and
version ClinicalImpression.protocol cites. Generic over the YAML: every candidate, every criterion
and every next step becomes an action, with its citation as ``documentation`` (RelatedArtifact
citation) and its logic as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Final

from bmefhir.differential.knowledge_base import DEFAULT_DIR, KnowledgeBase, NextStepSpec, load_knowledge
from bmefhir.differential.model import Citation
from bmefhir.render.ids import DIFFERENTIAL_SYSTEM, PROTOCOL_URL
from bmefhir.yamlio import load_yaml

from .common import PUBLISHER, Json, pascal

PLAN_TYPE: Final = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
_OPS: Final = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


def condition_text(data: object) -> str:
    """A ``when`` condition (``Condition.to_data()``) as readable text."""
    if not isinstance(data, Mapping):
        return str(data)
    if "all" in data:
        return "(" + " and ".join(condition_text(c) for c in data["all"]) + ")"
    if "any" in data:
        return "(" + " or ".join(condition_text(c) for c in data["any"]) + ")"
    if "not" in data:
        return f"not {condition_text(data['not'])}"
    fact = data["fact"]
    if "is" in data:
        return f"{fact} is {str(data['is']).replace('_', ' ')}"
    op = next(k for k in _OPS if k in data)
    return f"{fact} {_OPS[op]} {data[op]:g}"


def citation(c: Citation) -> Json:
    art: Json = {"type": "citation", "citation": c.text}
    if c.doi:
        art["url"] = f"https://doi.org/{c.doi}"
    elif c.pmid:
        art["url"] = f"https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/"
    if c.seed:
        art["display"] = f"Seed paper {c.seed}"
    return art


def _trigger_text(step: NextStepSpec) -> str:
    parts: list[str] = []
    if step.when is not None:
        parts.append(f"when {condition_text(step.when.to_data())}")
    if step.plausible:
        parts.append(f"when {' or '.join(step.plausible)} reaches probability {step.min_probability:g}")
    if step.red_flag:
        parts.append(f"on a red flag for {' or '.join(step.red_flag)}")
    if step.on_insufficient_data:
        parts.append("when no bone marrow edema imaging is on record")
    text = "Suggested " + "; or ".join(parts) if parts else "Suggested"
    if step.unless is not None:
        text += f"; unless {condition_text(step.unless.to_data())}"
    return text + "."


def _candidate_actions(kb: KnowledgeBase) -> list[Json]:
    return [
        {
            "id": f"candidate-{c.code.replace('_', '-')}",
            "title": c.display,
            "description": c.definition,
            "textEquivalent": f"Prior (log-odds) {c.prior:+.1f}: {c.prior_rationale} Red-flag rank {c.severity_rank}.",
            "code": [{"coding": [{"system": DIFFERENTIAL_SYSTEM, "code": c.code, "display": c.display}]}],
            "documentation": [citation(c.citation)],
        }
        for c in kb.candidates
    ]


def _criterion_actions(kb: KnowledgeBase) -> list[Json]:
    out: list[Json] = []
    for c in kb.criteria:
        weights = "; ".join(f"{code} {w:+.1f}" for code, w in c.effects)
        text = f"When {condition_text(c.when.to_data())}. Weights (natural-log likelihood ratio): {weights}."
        if c.red_flag is not None:
            text += f" Red flag for {c.red_flag.candidate}: {c.red_flag.message}"
        out.append(
            {
                "id": c.id,
                "prefix": c.id,
                "title": c.title,
                "description": c.rationale,
                "textEquivalent": text,
                "documentation": [citation(c.citation)],
            }
        )
    return out


def _next_step_actions(kb: KnowledgeBase) -> list[Json]:
    return [
        {
            "id": s.id,
            "prefix": s.id,
            "description": s.text,
            "textEquivalent": _trigger_text(s),
            "documentation": [citation(s.citation)],
        }
        for s in kb.next_steps
    ]


def _narrative(kb: KnowledgeBase, title: str) -> Json:
    rows = "".join(
        f"<tr><td>{escape(c.id)}</td><td>{escape(c.title)}</td>"
        f"<td>{escape('; '.join(f'{code} {w:+.1f}' for code, w in c.effects))}</td>"
        f"<td>{escape(c.citation.text)}</td></tr>"
        for c in kb.criteria
    )
    div = (
        f'<div xmlns="http://www.w3.org/1999/xhtml"><p><b>{escape(title)}</b>, version {escape(kb.version)}: '
        f"{len(kb.candidates)} candidates, {len(kb.criteria)} criteria, {len(kb.next_steps)} next steps.</p>"
        f"<table><tr><th>Criterion</th><th>Title</th><th>Weights</th><th>Source</th></tr>{rows}</table></div>"
    )
    return {"status": "generated", "div": div}


def plan_definition(kb: KnowledgeBase | None = None, meta: Mapping[str, object] | None = None) -> Json:
    """The PlanDefinition of the knowledge base (the packaged one by default)."""
    kb = kb if kb is not None else load_knowledge()
    meta = meta if meta is not None else load_yaml(DEFAULT_DIR / "knowledge.yaml")
    if kb.url != PROTOCOL_URL:
        raise ValueError(f"knowledge.yaml url {kb.url} is not the protocol ClinicalImpression cites ({PROTOCOL_URL})")
    rid = kb.url.rsplit("/", 1)[-1]
    title = str(meta.get("title") or rid)
    sources: dict[str, Json] = {}
    cited = (
        [c.citation for c in kb.candidates] + [c.citation for c in kb.criteria] + [s.citation for s in kb.next_steps]
    )
    for c in cited:
        sources.setdefault(c.text, citation(c))
    return {
        "resourceType": "PlanDefinition",
        "id": rid,
        "text": _narrative(kb, title),
        "url": kb.url,
        "version": kb.version,
        "name": pascal(str(meta.get("name") or rid)),
        "title": title,
        "type": {"coding": [{"system": PLAN_TYPE, "code": "clinical-protocol", "display": "Clinical Protocol"}]},
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": "The knowledge base of bmefhir's explainable differential diagnosis of painful bone marrow "
        "edema, generated from its YAML (bmefhir/differential/knowledge/): the candidates ranked, the criteria "
        "(a condition over facts derived from the record and a natural-log likelihood ratio per candidate, "
        "each with its source) and the suggested next steps. Decision support: a clinician decides.",
        "purpose": "Cited by bmefhir's ClinicalImpression.protocol (with this version) as the reasoning behind "
        "each assessment.",
        "relatedArtifact": list(sources.values()),
        "action": [
            {
                "id": "candidates",
                "title": "Rank the candidate diagnoses",
                "description": "Each candidate's score is its prior plus the weights of the criteria that hold; "
                "probabilities are the softmax of the scores.",
                "action": _candidate_actions(kb),
            },
            {
                "id": "criteria",
                "title": "Apply the criteria",
                "description": "A criterion that holds adds its weight to each candidate it names; a hedged "
                f"report finding counts with {kb.uncertain_weight:g} of it. Red flags are raised whatever the rank.",
                "action": _criterion_actions(kb),
            },
            {
                "id": "next-steps",
                "title": "Suggest next steps",
                "description": "Considerations for the clinician, in priority order.",
                "action": _next_step_actions(kb),
            },
        ],
    }
