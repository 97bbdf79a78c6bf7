"""What every generator module shares: canonical URLs, coded values and the metadata of a conformance resource
(for what is written as JSON here; the FSH gets its metadata from ig/fsh/input/fsh/rulesets.fsh)."""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import Any, Final

from bmefhir import __version__

Json = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent.parent
BASE: Final = "http://bmefhir.org/fhir"
SCT: Final = "http://snomed.info/sct"
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
PUBLISHER: Final = "bmefhir"
# CapabilityStatement.date is mandatory; a fixed publication date keeps the
# output reproducible. Bump it by hand when the statement changes.
CAPABILITY_DATE: Final = "2025-01-01"
VERIFICATION_DOC: Final = REPO / "docs" / "terminology-verification.md"
# Our own laterality extension: the HL7 'observation-structureLaterality' is an
# Extensions-Pack (R5-era) extension, absent from the R4 core definitions that
# HAPI's R4 validator ships, and its context is Observation.bodySite only.
LATERALITY_EXT: Final = f"{BASE}/StructureDefinition/laterality"


def url(kind: str, rid: str) -> str:
    return f"{BASE}/{kind}/{rid}"


def pascal(rid: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", rid))


def fhir_id(key: str) -> str:
    """A concept key as a FHIR id ([A-Za-z0-9-.]{1,64}: underscores are not allowed)."""
    return key.replace("_", "-")


def coding(system: str, code: str, display: str | None = None) -> Json:
    c: Json = {"system": system, "code": code}
    if display is not None:
        c["display"] = display
    return c


def concept(system: str, code: str, display: str | None = None) -> Json:
    return {"coding": [coding(system, code, display)]}


def narrative(text: str) -> Json:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{escape(text)}</div>'}


def metadata(resource_type: str, rid: str, title: str, description: str) -> Json:
    return {
        "resourceType": resource_type,
        "id": rid,
        "text": narrative(f"{title}. {description}"),
        "url": url(resource_type, rid),
        "version": __version__,
        "name": pascal(rid),
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": description,
    }


def render(resource: Json) -> str:
    """Pretty-printed, sorted keys, trailing newline: the committed form of every file."""
    return json.dumps(resource, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
