"""The identifier and tag systems bmefhir's outputs carry, defined: NamingSystems for the identifier
systems, CodeSystems for the ``meta.tag`` systems. The URLs come from the code that writes them."""

from __future__ import annotations

from typing import Final

from bmefhir.render.content_hash import CONTENT_HASH_SYSTEM
from bmefhir.render.findings import FINDING_IDENTIFIER_SYSTEM, TEXT_FINDING_TAG
from bmefhir.render.ids import ASSESSMENT_SYSTEM, DEVICE_SYSTEM

from .common import PUBLISHER, Json, metadata, narrative, pascal

# NamingSystem.date is mandatory; fixed so that the output is reproducible.
NAMING_DATE: Final = "2026-11-01"

# (id, uri, title, description)
IDENTIFIER_SYSTEMS: Final = (
    (
        "assessment",
        ASSESSMENT_SYSTEM,
        "bmefhir assessment identifiers",
        "Business identifier of bmefhir's DiagnosticReport, ClinicalImpression and RiskAssessment of a "
        "patient: '{patient id}/{diagnostic-report|clinical-impression|risk-assessment}'. Writers update "
        "by it, and readers drop resources carrying it (bmefhir's outputs are never its input).",
    ),
    (
        "device",
        DEVICE_SYSTEM,
        "bmefhir software versions",
        "Identifier of the Device that stands for one released version of bmefhir: 'bmefhir/{version}'. "
        "Created once per server with If-None-Exist, never updated.",
    ),
    (
        "text-finding",
        FINDING_IDENTIFIER_SYSTEM,
        "bmefhir imaging findings read from report text",
        "Identifier of an Observation bmefhir wrote for a finding read from radiology report text: "
        "'{report reference}/{concept}/{structure}/{side}' ('-' for none).",
    ),
)


def naming_system(rid: str, uri: str, title: str, description: str) -> Json:
    # R4 NamingSystem has no url, version or title: it is found by its uniqueId.
    return {
        "resourceType": "NamingSystem",
        "id": f"bmefhir-{rid}",
        "text": narrative(f"{title} ({uri}). {description}"),
        "name": pascal(f"bmefhir-{rid}"),
        "status": "active",
        "kind": "identifier",
        "date": NAMING_DATE,
        "publisher": PUBLISHER,
        "responsible": PUBLISHER,
        "description": description,
        "usage": title,
        "uniqueId": [{"type": "uri", "value": uri, "preferred": True}],
    }


def naming_systems() -> list[Json]:
    return [naming_system(*spec) for spec in IDENTIFIER_SYSTEMS]


def _tag_system(rid: str, uri: str, title: str, description: str) -> Json:
    cs = metadata("CodeSystem", rid, title, description)
    if cs["url"] != uri:
        raise ValueError(f"CodeSystem {rid}: the code writes {uri}, the profiles would define {cs['url']}")
    cs["caseSensitive"] = True
    return cs


def tag_code_systems() -> list[Json]:
    """The ``meta.tag`` systems: the content hash (codes not enumerable) and the kind of output."""
    content_hash = _tag_system(
        "content-hash",
        CONTENT_HASH_SYSTEM,
        "bmefhir content hash",
        "meta.tag on each assessment output: the first 32 hex digits of a SHA-256 over what the assessment "
        "says and what it was concluded from (not the time). Equal hash, equal content: write-back skips it.",
    )
    content_hash |= {"content": "not-present"}
    kind_uri = str(TEXT_FINDING_TAG["system"])
    output_kind = _tag_system(
        kind_uri.rsplit("/", 1)[-1],
        kind_uri,
        "bmefhir output kinds",
        "meta.tag marking how bmefhir made a resource it wrote.",
    )
    output_kind |= {
        "content": "complete",
        "count": 1,
        "concept": [{"code": TEXT_FINDING_TAG["code"], "display": TEXT_FINDING_TAG["display"]}],
    }
    return [content_hash, output_kind]
