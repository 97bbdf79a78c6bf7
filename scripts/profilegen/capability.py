"""The client CapabilityStatement: what bmefhir does against a FHIR R4 server, and nothing more.

Built from the code's own lists of what it reads and writes, so a new search or write shows up here
(and ``tests/test_capability.py`` checks the statement against the requests the code builds):

* reads: one ``batch`` per patient (``bmefhir.fhir.patient_fetch``) with one Patient search that
  brings bmefhir's own outputs along (``_id``, ``_revinclude=Provenance:entity``,
  ``_include:iterate=Provenance:target``: ``bmefhir.fhir.existing.outputs_request``) and the
  ``FOLDED_TYPES`` (``_revinclude=T:patient``), and a ``patient=`` search per other type in
  ``PATIENT_SEARCHES`` (of every type where the server does not serve the folded ones whole);
  where a server refuses that search, the
  Patient read and the per-output lookups (by ``identifier``, Provenance by ``_id``); Binaries behind
  report attachments in one more batch; the SMART app reads single resources of ``READ_TYPES``;
* population runs and sync: Patient search, and ``_lastUpdated`` searches of ``CHANGE_TYPES``;
* writes: one ``transaction`` per patient: update by id with If-Match, or create-once (conditional
  create on the identifier) of an output not found, Provenance PUT at its fixed id (update as
  create), the Device by conditional create, text findings (Observation) by conditional update;
  the SMART app creates an AuditEvent.
"""

from __future__ import annotations

from typing import Final

from bmefhir.fhir.existing import OUTPUT_TYPES
from bmefhir.fhir.patient_fetch import FOLDED_TYPES, PATIENT_SEARCHES
from bmefhir.smart.scopes import AUDIT_TYPES, READ_TYPES
from bmefhir.sync.discovery import CHANGE_TYPES

from .common import Json, metadata, url

# CapabilityStatement.date is mandatory; a fixed publication date keeps the
# output reproducible. Bump it by hand when the statement changes.
CAPABILITY_DATE: Final = "2026-12-01"

SEARCH_PARAMS: Final[dict[str, Json]] = {
    "patient": {
        "name": "patient",
        "type": "reference",
        "definition": "http://hl7.org/fhir/SearchParameter/clinical-patient",
    },
    "identifier": {
        "name": "identifier",
        "type": "token",
        "documentation": "bmefhir's own outputs, by their business identifier (http://bmefhir.org/fhir/sid/assessment).",
    },
    "_id": {
        "name": "_id",
        "type": "token",
        "definition": "http://hl7.org/fhir/SearchParameter/Resource-id",
    },
    "_lastUpdated": {
        "name": "_lastUpdated",
        "type": "date",
        "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
    },
    "_count": {"name": "_count", "type": "number", "documentation": "Result parameter: page size."},
    "_elements": {"name": "_elements", "type": "string", "documentation": "Result parameter: ids only."},
}
# Profiles of what bmefhir writes, by type (the text findings are Observations of the input profile).
PROFILES: Final[dict[str, str]] = {
    **{kind: f"bmefhir-{name}" for kind, name in OUTPUT_TYPES.items()},
    "Observation": "bmefhir-imaging-finding",
}
# Written by conditional update on an identifier (bmefhir.render.bundle.transaction_bundle): text findings.
CONDITIONAL_UPDATE: Final = ("Observation",)
# Updated by id with If-Match when found, else created once (conditional create on the identifier).
ASSESSMENTS: Final = tuple(t for t in OUTPUT_TYPES if t != "Provenance")


def _resource(rtype: str) -> Json:
    reads: list[str] = []
    params: set[str] = set()
    if rtype in READ_TYPES or rtype == "Patient":
        reads.append("read")
    if rtype in PATIENT_SEARCHES:
        params |= {"patient", "_count"}
    if rtype in CHANGE_TYPES:
        params |= {"_lastUpdated", "_count", "_elements"}
    if rtype in OUTPUT_TYPES:
        params.add("_id" if rtype == "Provenance" else "identifier")
    if rtype == "Patient":
        params.add("_id")  # with the outputs: bmefhir.fhir.existing.outputs_request
    if params:
        reads.append("search-type")
    writes: list[str] = []
    r: Json = {"type": rtype}
    if rtype in CONDITIONAL_UPDATE:
        writes.append("update")
        r["conditionalUpdate"] = True
    if rtype in ASSESSMENTS:
        writes += ["create", "update"]
        r["conditionalCreate"] = True  # POST with If-None-Exist on the assessment identifier
    if rtype == "Provenance":
        writes.append("update")
        r["updateCreate"] = True  # PUT at a logical id derived from the patient (R4 Provenance has no identifier)
    if rtype == "Device":
        writes.append("create")
        r["conditionalCreate"] = True  # POST with If-None-Exist on the versioned identifier
    if rtype in AUDIT_TYPES:
        writes.append("create")
    r["interaction"] = [{"code": c} for c in [*reads, *writes]]
    if params:
        r["searchParam"] = [SEARCH_PARAMS[n] for n in sorted(params)]
    if rtype == "Patient":
        r["searchInclude"] = ["Provenance:target"]  # as _include:iterate, from the revincluded Provenance
        # Provenance: bmefhir's outputs; the folded types: the patient's data (bmefhir.fhir.patient_fetch).
        r["searchRevInclude"] = ["Provenance:entity", *(f"{kind}:patient" for kind in FOLDED_TYPES)]
    if rtype in PROFILES:
        r["supportedProfile"] = [url("StructureDefinition", PROFILES[rtype])]
    return r


def capability_statement() -> Json:
    types = {"Patient", *READ_TYPES, *PATIENT_SEARCHES, *CHANGE_TYPES, *OUTPUT_TYPES, "Device", *AUDIT_TYPES}
    cs = metadata(
        "CapabilityStatement",
        "bmefhir-client",
        "bmefhir client requirements",
        "What bmefhir does against a FHIR R4 server: one batch of reads and searches per patient, "
        "and one transaction writing its assessment (update by id with If-Match, or create-once on the "
        "business identifier).",
    )
    cs |= {
        "date": CAPABILITY_DATE,
        "kind": "requirements",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "client",
                "documentation": "Reads a patient with one batch Bundle (and Binaries in a second one) and "
                "writes one transaction Bundle per patient.",
                "resource": [_resource(t) for t in sorted(types)],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
    return cs
