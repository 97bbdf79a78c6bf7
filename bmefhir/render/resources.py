"""FHIR R4 output resources built from an Analysis (pure; plain JSON dicts).

Shapes follow docs/output-resources.md and the profiles in profiles/. Only
verified codes are emitted (terminology.md §9 and docs/terminology-verification.md).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from html import escape
from typing import Any, Final

from bmefhir import __version__
from bmefhir.analysis import Analysis
from bmefhir.differential.model import CandidateResult, CriterionHit
from bmefhir.render import ids
from bmefhir.render.evidence import QuoteIndex
from bmefhir.render.narrative import DISCLAIMER, LEADING_COUNT, conclusion_text, html_document, narrative_div
from bmefhir.render.signature import Signature

Json = dict[str, Any]

LOINC: Final = "http://loinc.org"
RISK_PROBABILITY: Final = "http://terminology.hl7.org/CodeSystem/risk-probability"
PARTICIPANT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"

# risk-probability codes (terminology.md §9, verified) with their lower bounds.
_QUALITATIVE: Final = (
    (0.5, "high", "High likelihood"),
    (0.2, "moderate", "Moderate likelihood"),
    (0.05, "low", "Low likelihood"),
    (0.0, "negligible", "Negligible likelihood"),
)


def ref(reference: str, display: str | None = None) -> Json:
    out: Json = {"reference": reference}
    if display:
        out["display"] = display
    return out


def urn(uuid: str) -> str:
    return f"urn:uuid:{uuid}"


def candidate_concept(code: str, display: str) -> Json:
    return {"coding": [{"system": ids.DIFFERENTIAL_SYSTEM, "code": code, "display": display}], "text": display}


def qualitative_risk(probability: float) -> Json:
    for bound, code, display in _QUALITATIVE:
        if probability >= bound:
            return {"coding": [{"system": RISK_PROBABILITY, "code": code, "display": display}]}
    raise AssertionError("unreachable: probabilities are >= 0")


def instant(analysis: Analysis) -> str:
    return analysis.now.isoformat(timespec="seconds")


def _text(plain: str) -> Json:
    """A generated narrative (dom-6) from plain text, escaped."""
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{escape(plain)}</p></div>'}


def _identifier(analysis: Analysis, kind: str) -> list[Json]:
    return [{"system": ids.ASSESSMENT_SYSTEM, "value": ids.identifier_value(analysis.record.patient.ref, kind)}]


def _hit_text(hit: CriterionHit, quotes: QuoteIndex | None) -> str:
    hedged = ", uncertain" if hit.uncertain else ""
    text = f"{hit.criterion_id} {hit.title} ({hit.weight:+.1f}{hedged}; {hit.citation.text})"
    found = quotes.quotes(hit.evidence, hit.facts) if quotes else ()
    return text + (" — " + "; ".join(q.label() for q in found) if found else "")


def rationale(c: CandidateResult, quotes: QuoteIndex | None = None) -> str:
    """For and against, each criterion with its weight and citation and, for report text, the phrase."""
    fors = "; ".join(_hit_text(h, quotes) for h in c.supporting) or "none"
    against = "; ".join(_hit_text(h, quotes) for h in c.opposing) or "none"
    return f"For: {fors}. Against: {against}."


def used_refs(analysis: Analysis, extra: Iterable[str] = ()) -> frozenset[str]:
    """The input resources the outputs rest on: the evidence of every criterion that fired (for or
    against any candidate), red flag, next step and withheld treatment, of the lesion timeline the
    report shows, of the risk factors, plus the Patient; ``extra`` adds the sources of written text
    findings. Only references to resources actually read count (so each can carry its version);
    the rest of the record changed nothing the outputs say and is not cited (issue 11)."""
    d, derived = analysis.differential, analysis.derived
    cited: set[str] = set(extra)
    for candidate in d.ranking:
        for hit in (*candidate.supporting, *candidate.opposing):
            cited.update(hit.evidence)
    for flag in d.red_flags:
        cited.update(flag.evidence)
    for step in d.next_steps:
        cited.update(step.evidence)
    for withheld in d.withheld:
        for reason in withheld.reasons:
            cited.update(reason.evidence)
    timeline = derived.timeline
    for episode in timeline.episodes:
        cited.update(episode.evidence)
    for migration in timeline.migrations:
        cited.update(migration.evidence)
    for caveat in timeline.caveats:
        cited.update(caveat.evidence)
    for name in derived.risk_factors:
        fact = derived.facts.get(name)
        if fact is not None:
            cited.update(fact.evidence)
    known = {s.ref for s in analysis.record.sources}
    return frozenset(cited & known | {analysis.record.patient.ref})


def input_refs(analysis: Analysis, used: frozenset[str] | None = None) -> dict[str, list[str]]:
    """The used input references (``used_refs``), grouped for investigation/result/basis;
    ``other`` holds the used ones no group takes (e.g. a DocumentReference whose text was read)."""
    r = analysis.record
    used = used_refs(analysis) if used is None else used

    def pick(refs: Iterable[str]) -> list[str]:
        return sorted(set(refs) & used)

    groups = {
        "imaging": pick(f.ref for f in r.findings if f.ref.startswith("Observation/")),
        "labs": pick(lab.ref for lab in r.labs),
        "observations": pick(o.ref for o in r.observations if o.ref.startswith("Observation/")),
        "studies": pick(s.ref for s in r.studies),
        "reports": pick(rep.ref for rep in r.reports),
        "medications": pick(m.ref for m in r.medications),
        "conditions": pick(c.ref for c in r.conditions),
    }
    grouped = {ref for refs in groups.values() for ref in refs}
    groups["other"] = sorted(used - grouped - {r.patient.ref})
    return groups


def versioned(analysis: Analysis, refs: Iterable[str]) -> list[str]:
    """``Type/id/_history/N`` for each reference whose version was read (server input), else ``Type/id``."""
    versions = {s.ref: s.version for s in analysis.record.sources}
    return [f"{r}/_history/{versions[r]}" if versions.get(r) else r for r in sorted(set(refs))]


def device() -> Json:
    """The software as a Device: one per released version, created once and never updated."""
    return {
        "resourceType": "Device",
        "id": ids.device_uuid(),
        "identifier": [{"system": ids.DEVICE_SYSTEM, "value": ids.device_identifier_value()}],
        "deviceName": [{"name": "bmefhir", "type": "manufacturer-name"}],
        "version": [{"value": __version__}],
        "status": "active",
        "note": [{"text": "bmefhir clinical decision-support adapter (software)."}],
        "text": _text(f"bmefhir {__version__}: clinical decision-support software (bone marrow edema differential)."),
    }


def diagnostic_report(analysis: Analysis, signature: Signature | None, used: frozenset[str] | None = None) -> Json:
    refs = input_refs(analysis, used)
    dates = sorted(f.date for f in analysis.record.findings if f.date is not None)
    d = analysis.differential
    leading = [c for c in d.ranking[:LEADING_COUNT] if c.probability >= 0.1] or list(d.ranking[:1])
    div = narrative_div(analysis)
    html = html_document(analysis, div).encode()
    res: Json = {
        "resourceType": "DiagnosticReport",
        "id": ids.output_uuid(analysis.record.patient.ref, "diagnostic-report"),
        "meta": {"profile": [ids.profile_url("diagnostic-report")]},
        "text": {"status": "generated", "div": div},
        "identifier": _identifier(analysis, "diagnostic-report"),
        "status": "final" if signature else "preliminary",
        "category": [{"coding": [{"system": LOINC, "code": "LP29684-5", "display": "Radiology"}]}],
        "code": {
            "coding": [{"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}],
            "text": "Bone marrow edema differential diagnosis (decision support)",
        },
        "subject": ref(analysis.record.patient.ref),
        "issued": instant(analysis),
    }
    if dates:
        res["effectivePeriod"] = {"start": dates[0].isoformat(), "end": dates[-1].isoformat()}
    else:
        res["effectiveDateTime"] = instant(analysis)
    if signature:
        res["performer"] = [ref(signature.practitioner_ref, signature.display)]
        res["resultsInterpreter"] = [ref(signature.practitioner_ref, signature.display)]
    results = refs["imaging"] + refs["labs"]
    if results:
        res["result"] = [ref(r) for r in results]
    if refs["studies"]:
        res["imagingStudy"] = [ref(r) for r in refs["studies"]]
    conclusion = conclusion_text(analysis)
    if signature and signature.comment:
        conclusion += f" Clinician comment: {signature.comment}"
    res["conclusion"] = conclusion
    res["conclusionCode"] = [candidate_concept(c.code, c.display) for c in leading]
    issues = data_quality_issues(analysis)
    if issues:
        res["contained"] = issues
    res["presentedForm"] = [
        {
            "contentType": "text/html",
            "language": "en",
            "data": base64.b64encode(html).decode(),
            "title": "bmefhir assessment",
            "creation": instant(analysis),
        }
    ]
    return res


def clinical_impression(
    analysis: Analysis, signature: Signature | None, risk_urn: str, used: frozenset[str] | None = None
) -> Json:
    refs = input_refs(analysis, used)
    d = analysis.differential
    investigation: list[Json] = []
    for key, label in (
        ("imaging", "Imaging findings"),
        ("studies", "Imaging studies"),
        ("reports", "Radiology reports"),
        ("labs", "Laboratory"),
        ("observations", "History and examination"),
    ):
        if refs[key]:
            investigation.append({"code": {"text": label}, "item": [ref(r) for r in refs[key]]})
    quotes = QuoteIndex(analysis.record)
    findings = [
        {
            "itemCodeableConcept": candidate_concept(c.code, c.display),
            "basis": f"Probability {c.probability:.2f}. {rationale(c, quotes)}",
        }
        for c in d.ranking[:LEADING_COUNT]
    ]
    notes = [{"text": DISCLAIMER}]
    for f in d.red_flags:
        found = "; ".join(q.label() for q in quotes.quotes(f.evidence, f.facts))
        hedged = " (on uncertain evidence: a hedged report finding or an unconfirmed diagnosis)" if f.uncertain else ""
        text = f"RED FLAG ({f.code}): {f.message}{hedged} [{f.criterion_id}; {f.citation.text}]"
        notes.append({"text": text + (f" — {found}" if found else "")})
    notes += [{"text": f"Next step: {s.text} [{s.citation.text}]"} for s in d.next_steps]
    notes += [
        {
            "text": f"Not suggested ({w.id}, contraindicated): "
            + "; ".join(f"{r.reason} [{r.citation.text}]" for r in w.reasons)
        }
        for w in d.withheld
    ]
    if signature and signature.comment:
        notes.append({"text": f"Clinician comment: {signature.comment}"})
    conclusion = conclusion_text(analysis)
    res: Json = {
        "resourceType": "ClinicalImpression",
        "text": _text(conclusion),
        "id": ids.output_uuid(analysis.record.patient.ref, "clinical-impression"),
        "meta": {"profile": [ids.profile_url("clinical-impression")]},
        "identifier": _identifier(analysis, "clinical-impression"),
        "status": "completed" if signature else "in-progress",
        "description": "Differential diagnosis of bone marrow edema (decision support)",
        "subject": ref(analysis.record.patient.ref),
        "effectiveDateTime": instant(analysis),
        "date": instant(analysis),
        "protocol": [f"{ids.PROTOCOL_URL}|{d.knowledge_version}"],
        "summary": conclusion,
        "finding": findings,
        "prognosisReference": [ref(risk_urn)],
        "note": notes,
    }
    if signature:
        res["assessor"] = ref(signature.practitioner_ref, signature.display)
    if investigation:
        res["investigation"] = investigation
    supporting = refs["medications"] + refs["conditions"]
    if supporting:
        res["supportingInfo"] = [ref(r) for r in supporting]
    return res


def risk_assessment(analysis: Analysis, signature: Signature | None, used: frozenset[str] | None = None) -> Json:
    refs = input_refs(analysis, used)
    d = analysis.differential
    basis = sorted({ref for refs_of_group in refs.values() for ref in refs_of_group})
    res: Json = {
        "resourceType": "RiskAssessment",
        "text": _text("; ".join(f"{c.display}: {c.probability:.2f}" for c in d.ranking) + f". {DISCLAIMER}"),
        "id": ids.output_uuid(analysis.record.patient.ref, "risk-assessment"),
        "meta": {"profile": [ids.profile_url("risk-assessment")]},
        "identifier": _identifier(analysis, "risk-assessment"),
        "status": "final" if signature else "preliminary",
        "subject": ref(analysis.record.patient.ref),
        "occurrenceDateTime": instant(analysis),
        "method": {"text": f"bmefhir knowledge base {d.knowledge_version} ({ids.PROTOCOL_URL})"},
        "prediction": [
            {
                "outcome": candidate_concept(c.code, c.display),
                "probabilityDecimal": c.probability,
                "qualitativeRisk": qualitative_risk(c.probability),
                "rationale": rationale(c),
            }
            for c in d.ranking
        ],
        "note": [{"text": DISCLAIMER}],
    }
    if signature:
        res["performer"] = ref(signature.practitioner_ref, signature.display)
    if basis:
        res["basis"] = [ref(r) for r in basis]
    return res


def provenance(
    analysis: Analysis,
    signature: Signature | None,
    targets: list[str],
    device_urn: str,
    used: frozenset[str] | None = None,
) -> Json:
    """``target`` = the outputs (their ``urn:uuid`` fullUrls in the transaction: the server resolves each to
    the version it writes, see docs/output-resources.md); ``entity`` = the used inputs, version-specific
    where the version was read."""
    used = used_refs(analysis) if used is None else used
    agents: list[Json] = [
        {
            "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author", "display": "Author"}]},
            "who": ref(device_urn, f"bmefhir {__version__}"),
        }
    ]
    if signature:
        agents.append(
            {
                "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "verifier", "display": "Verifier"}]},
                "who": ref(signature.practitioner_ref, signature.display),
            }
        )
    entities = [{"role": "source", "what": ref(r)} for r in versioned(analysis, used)]
    res: Json = {
        "resourceType": "Provenance",
        "text": _text(
            f"Written by bmefhir {__version__} from {len(used)} of {len(analysis.record.sources)} source resources"
            " (those its conclusions cite)"
            + (f"; signed by {signature.display or signature.practitioner_ref}." if signature else ".")
        ),
        "id": ids.output_uuid(analysis.record.patient.ref, "provenance"),
        "meta": {"profile": [ids.profile_url("provenance")]},
        "target": [ref(t) for t in targets],
        "recorded": instant(analysis),
        "agent": agents,
    }
    if entities:
        res["entity"] = entities
    return res


# OperationOutcome issue severity → DetectedIssue.severity (required binding detectedissue-severity).
_ISSUE_SEVERITY: Final = {"error": "high", "warning": "moderate", "information": "low"}


def data_quality_issues(analysis: Analysis) -> list[Json]:
    """The data-quality issues as DetectedIssues contained in the DiagnosticReport, so they reach the EHR
    with the report (docs/output-resources.md). Each refers to its container (``#``, dom-3). A warning or
    error is one DetectedIssue naming the input it concerns in ``implicated`` when that is a reference.
    Information (an input read but not used, e.g. a code bmefhir does not read) is one DetectedIssue per
    kind, whose ``detail`` names every resource and element: those inputs are not evidence, so the
    report does not reference them (a realistic record has hundreds, each a reference the server would
    resolve on every write; docs/performance.md)."""
    out: list[Json] = []
    notes: dict[tuple[str, str], list[str]] = {}
    for issue in analysis.record.issues:
        where = f"{issue.resource} {issue.element}".strip()
        if issue.severity == "information":
            notes.setdefault((issue.code, issue.message), []).append(where)
            continue
        implicated = [ref("#", "this report")]
        if "/" in issue.resource and not issue.resource.startswith("Bundle."):
            implicated.insert(0, ref(issue.resource))
        out.append(
            _detected_issue(analysis, len(out) + 1, issue.severity, issue.code, f"{where}: {issue.message}", implicated)
        )
    for (code, message), places in notes.items():
        detail = f"{places[0]}: {message}" if len(places) == 1 else f"{message} ({len(places)}): {'; '.join(places)}"
        out.append(_detected_issue(analysis, len(out) + 1, "information", code, detail, [ref("#", "this report")]))
    return out


def _detected_issue(analysis: Analysis, n: int, severity: str, code: str, detail: str, implicated: list[Json]) -> Json:
    return {
        "resourceType": "DetectedIssue",
        "id": f"dq{n}",
        "text": _text(f"Data-quality issue ({severity}, {code}): {detail}"),
        "status": "final",
        "severity": _ISSUE_SEVERITY[severity],
        "patient": ref(analysis.record.patient.ref),
        "identifiedDateTime": instant(analysis),
        "implicated": implicated,
        "detail": detail,
    }


def operation_outcome(analysis: Analysis) -> Json:
    """Data-quality issues as an OperationOutcome (always present; 'no issues' is stated)."""
    issues = [
        {
            "severity": i.severity,
            "code": i.code,
            "diagnostics": f"{i.resource}: {i.message}",
            "expression": [i.element] if i.element else [],
        }
        for i in analysis.record.issues
    ]
    for issue in issues:
        if not issue["expression"]:
            del issue["expression"]
    if not issues:
        issues = [{"severity": "information", "code": "informational", "diagnostics": "No data-quality issues."}]
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(str(i[key]))}</td>" for key in ("severity", "code", "diagnostics")) + "</tr>"
        for i in issues
    )
    div = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Data-quality issues of the input</p>'
        f"<table><tr><th>Severity</th><th>Type</th><th>Issue</th></tr>{rows}</table></div>"
    )
    return {
        "resourceType": "OperationOutcome",
        "id": ids.output_uuid(analysis.record.patient.ref, "data-quality"),
        "text": {"status": "generated", "div": div},
        "issue": issues,
    }
