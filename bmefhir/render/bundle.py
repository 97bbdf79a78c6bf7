"""Output bundles: a transaction for FHIR servers, a collection for files.

The transaction uses conditional update on each output's business identifier,
so writing the same patient again updates the existing resources instead of
creating duplicates, and the server applies it all or nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bmefhir.render import ids
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
)
from bmefhir.render.signature import Signature

if TYPE_CHECKING:
    from bmefhir.pipeline import Analysis


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

    def written(self) -> tuple[Json, ...]:
        """The resources written to a server, in transaction order."""
        return (self.device, self.risk_assessment, self.clinical_impression, self.diagnostic_report, self.provenance)


def render_outputs(analysis: Analysis, signature: Signature | None = None) -> Outputs:
    pref = analysis.record.patient.ref
    dev = device()
    ra = risk_assessment(analysis, signature)
    ci = clinical_impression(analysis, signature, urn(ra["id"]))
    dr = diagnostic_report(analysis, signature)
    prov = provenance(analysis, signature, [urn(dr["id"]), urn(ci["id"]), urn(ra["id"])], urn(dev["id"]))
    return Outputs(pref, dev, dr, ci, ra, prov, operation_outcome(analysis), instant(analysis))


def _conditional_url(resource: Json) -> str:
    ident = resource["identifier"][0]
    return f"{resource['resourceType']}?identifier={ident['system']}|{ident['value']}"


def transaction_bundle(outputs: Outputs) -> Json:
    """One all-or-nothing transaction; conditional updates on the business identifiers."""
    entries: list[Json] = []
    for res in outputs.written():
        body = copy.deepcopy(res)
        if body["resourceType"] == "Provenance":
            # R4 Provenance has no identifier: a stable client-assigned id makes re-runs update it.
            url = f"Provenance/{body['id']}"
        else:
            # Servers reject a body id that differs from the matched resource's; let the server assign it.
            del body["id"]
            url = _conditional_url(res)
        entries.append({"fullUrl": urn(res["id"]), "resource": body, "request": {"method": "PUT", "url": url}})
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
