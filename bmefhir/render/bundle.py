"""Output bundles: a transaction for FHIR servers, a collection for files.

Without knowledge of the server's copies the transaction uses conditional update
on each output's business identifier, so writing the same patient again updates the
existing resources instead of creating duplicates, and the server applies it all or
nothing. Write-back (``bmefhir.writeback``) knows what is there: it updates those by
id with ``If-Match``, so a concurrent change fails the transaction rather than being
overwritten, and creates the rest only if their identifier is not on the server yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bmefhir.analysis import Analysis
from bmefhir.render import ids
from bmefhir.render.content_hash import content_hash, hash_tag
from bmefhir.render.findings import finding_identifier, text_findings, writable
from bmefhir.render.resources import (
    Json,
    clinical_impression,
    device,
    diagnostic_report,
    instant,
    operation_outcome,
    provenance,
    risk_assessment,
    urn,
    used_refs,
)
from bmefhir.render.signature import Signature


@dataclass(frozen=True, slots=True)
class Outputs:
    patient_ref: str
    device: Json
    diagnostic_report: Json
    clinical_impression: Json
    risk_assessment: Json
    provenance: Json
    data_quality: Json
    timestamp: str
    content_hash: str = ""  # see ``content_hash``; also in each assessment output's meta.tag
    # ``bmefhir-imaging-finding`` Observations of the findings read from report text (``write_findings``)
    findings: tuple[Json, ...] = ()

    def written(self) -> tuple[Json, ...]:
        """The resources written to a server, in transaction order."""
        return (
            self.device,
            self.risk_assessment,
            self.clinical_impression,
            self.diagnostic_report,
            *self.findings,
            self.provenance,
        )

    def assessment(self) -> tuple[Json, ...]:
        """The patient's own outputs (not the shared Device), in transaction order."""
        return (self.risk_assessment, self.clinical_impression, self.diagnostic_report, *self.findings, self.provenance)


def render_outputs(
    analysis: Analysis,
    signature: Signature | None = None,
    *,
    write_findings: bool = False,
    summary: Mapping[str, Any] | None = None,
) -> Outputs:
    """The output resources; ``write_findings`` adds one Observation per finding read from report text
    (``bmefhir.render.findings``), a Provenance target like the others. ``summary``: the analysis's
    ``summarize`` when the caller has it (the content hash reads it), else it is made here."""
    pref = analysis.record.patient.ref
    dev = device()
    found = text_findings(analysis) if write_findings else ()
    # A written text finding is derived from its report (and study): those are sources of the outputs too.
    sources = [r for f in analysis.record.findings if writable(f) for r in (f.ref, f.study_ref) if r] if found else []
    used = used_refs(analysis, sources)
    ra = risk_assessment(analysis, signature, used)
    ci = clinical_impression(analysis, signature, urn(ra["id"]), used)
    dr = diagnostic_report(analysis, signature, used)
    targets = [urn(dr["id"]), urn(ci["id"]), urn(ra["id"]), *(urn(f["id"]) for f in found)]
    prov = provenance(analysis, signature, targets, urn(dev["id"]), used)
    written = [finding_identifier(f) for f in analysis.record.findings if writable(f)] if found else []
    digest = content_hash(analysis, signature, findings=written, inputs=used, summary=summary)
    for res in (dr, ci, ra, prov):
        res.setdefault("meta", {}).setdefault("tag", []).append(hash_tag(digest))
    return Outputs(pref, dev, dr, ci, ra, prov, operation_outcome(analysis), instant(analysis), digest, found)


_ASSESSMENT_TYPES = frozenset({"DiagnosticReport", "ClinicalImpression", "RiskAssessment"})


def _conditional_url(resource: Json) -> str:
    ident = resource["identifier"][0]
    return f"{resource['resourceType']}?identifier={ident['system']}|{ident['value']}"


def create_once(resource: Json) -> tuple[Json, Json]:
    """Body (no id) and request creating ``resource`` only if its first identifier is not on the server yet.

    For the Device: created once, never updated, as an update per patient would serialise every writer on it.
    """
    ident = resource["identifier"][0]
    body = {k: v for k, v in resource.items() if k != "id"}
    request = {
        "method": "POST",
        "url": resource["resourceType"],
        "ifNoneExist": f"identifier={ident['system']}|{ident['value']}",
    }
    return body, request


def transaction_bundle(
    outputs: Outputs,
    current: Mapping[str, tuple[str, str | None]] | None = None,
    *,
    extra_tags: Sequence[Mapping[str, str]] = (),
    create_missing: bool = False,
) -> Json:
    """One all-or-nothing transaction writing the outputs.

    ``current`` maps a resource type to the server's ``(id, versionId)`` of the
    existing output: that one is updated by id with ``ifMatch`` (a concurrent
    change then fails the transaction with 412/409). Outputs not in ``current``
    are written by conditional update on their business identifier or, with
    ``create_missing`` (write-back, which looked them up), created only if that
    identifier is not on the server yet: an output the lookup missed is then left
    as it is rather than overwritten without If-Match. Provenance (no identifier in
    R4) is written by its fixed id, text findings by conditional update.
    ``extra_tags`` are added to every resource's ``meta.tag`` (e.g. to mark test data).
    """
    current = current or {}
    entries: list[Json] = []
    for res in outputs.written():
        body = dict(res)  # shallow: rendered outputs are never mutated
        kind = body["resourceType"]
        request: Json = {"method": "PUT"}
        if kind == "Device":
            body, request = create_once(res)
        elif kind in current:
            body["id"], version = current[kind]
            request["url"] = f"{kind}/{body['id']}"
            if version is not None:
                request["ifMatch"] = f'W/"{version}"'
        elif create_missing and kind in _ASSESSMENT_TYPES:
            body, request = create_once(res)
        elif kind == "Provenance":
            # R4 Provenance has no identifier: a stable client-assigned id makes re-runs update it.
            request["url"] = f"Provenance/{body['id']}"
        else:
            # Servers reject a body id that differs from the matched resource's; let the server assign it.
            del body["id"]
            request["url"] = _conditional_url(res)
        if extra_tags:
            meta = dict(body.get("meta", {}))
            meta["tag"] = [*meta.get("tag", []), *(dict(t) for t in extra_tags)]
            body["meta"] = meta
        entries.append({"fullUrl": urn(res["id"]), "resource": body, "request": request})
    return {
        "resourceType": "Bundle",
        "id": ids.output_uuid(outputs.patient_ref, "transaction"),
        "type": "transaction",
        "timestamp": outputs.timestamp,
        "entry": entries,
    }


def collection_bundle(outputs: Outputs) -> Json:
    """Everything the analysis produced, data-quality OperationOutcome included, for files."""
    resources: list[Json] = [*outputs.written(), outputs.data_quality]
    return {
        "resourceType": "Bundle",
        "id": ids.output_uuid(outputs.patient_ref, "collection"),
        "type": "collection",
        "timestamp": outputs.timestamp,
        "entry": [{"fullUrl": urn(r["id"]), "resource": r} for r in resources],
    }
