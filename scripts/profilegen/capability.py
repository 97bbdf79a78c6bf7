"""The client CapabilityStatement: what bmefhir needs from a FHIR R4 server."""

from __future__ import annotations

from typing import Final

from .common import Json, metadata, url

# CapabilityStatement.date is mandatory; a fixed publication date keeps the
# output reproducible. Bump it by hand when the statement changes.
CAPABILITY_DATE: Final = "2025-01-01"

SEARCH_PARAMS: Final[dict[str, Json]] = {
    "patient": {
        "name": "patient",
        "type": "reference",
        "definition": "http://hl7.org/fhir/SearchParameter/clinical-patient",
    },
    "_lastUpdated": {
        "name": "_lastUpdated",
        "type": "date",
        "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
    },
    "_count": {"name": "_count", "type": "number", "documentation": "Result parameter: page size."},
}


def capability_statement() -> Json:
    def search(*names: str, category: str | None = None) -> list[Json]:
        params = [SEARCH_PARAMS[n] for n in names]
        if category:
            params.append({"name": "category", "type": "token", "definition": category})
        return sorted(params, key=lambda p: str(p["name"]))

    def read_only(rtype: str, params: list[Json], profile_id: str | None = None) -> Json:
        r: Json = {"type": rtype, "interaction": [{"code": "read"}, {"code": "search-type"}], "searchParam": params}
        if profile_id:
            r["supportedProfile"] = [url("StructureDefinition", profile_id)]
        return r

    def written(rtype: str, profile_id: str | None, *, read: bool = False) -> Json:
        codes = ["read", "search-type"] if read else []
        r: Json = {
            "type": rtype,
            "interaction": [{"code": c} for c in [*codes, "create", "update"]],
            "conditionalCreate": True,
            "conditionalUpdate": True,
        }
        if profile_id:
            r["supportedProfile"] = [url("StructureDefinition", profile_id)]
        return r

    clinical = ("_count", "_lastUpdated", "patient")
    dr = written("DiagnosticReport", "bmefhir-diagnostic-report", read=True)
    dr["searchParam"] = search(*clinical, category="http://hl7.org/fhir/SearchParameter/DiagnosticReport-category")
    resources = [
        read_only("Patient", search("_count", "_lastUpdated")),
        read_only(
            "Observation",
            search(*clinical, category="http://hl7.org/fhir/SearchParameter/Observation-category"),
            "bmefhir-imaging-finding",
        ),
        read_only("ImagingStudy", search(*clinical)),
        read_only("MedicationStatement", search(*clinical)),
        read_only("MedicationRequest", search(*clinical)),
        read_only("Condition", search(*clinical)),
        dr,
        written("ClinicalImpression", "bmefhir-clinical-impression"),
        written("RiskAssessment", "bmefhir-risk-assessment"),
        # R4 Provenance has no identifier: it is PUT at a logical id derived from the patient.
        {
            "type": "Provenance",
            "interaction": [{"code": "update"}],
            "supportedProfile": [url("StructureDefinition", "bmefhir-provenance")],
        },
        written("Device", None),
    ]
    cs = metadata(
        "CapabilityStatement",
        "bmefhir-client",
        "bmefhir client requirements",
        "What bmefhir needs from a FHIR R4 server: the reads and searches it uses to build a "
        "patient record, and the writes of its assessment (conditional update on the business "
        "identifier, in a transaction).",
    )
    cs |= {
        "date": CAPABILITY_DATE,
        "kind": "requirements",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "client",
                "documentation": "Reads patient data and writes one transaction Bundle per patient.",
                "resource": sorted(resources, key=lambda r: str(r["type"])),
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
    return cs
