"""What a patient's assessment was computed from, so a sync can tell "nothing changed" without analysing.

Two checks use what is stored with the sync state after each successful write-back
(``sync_patient_state``: the input fingerprint, the version of every input, the
analysis version and the outputs' content hash):

* **At discovery** (no request at all): every resource that discovery found for the
  patient (``_lastUpdated`` search or ``$export``) is already in its stored inputs at the
  same ``meta.versionId``. This is what keeps the overlap window cheap: the resources it
  finds again are the ones the previous run already analysed.
* **After the fetch** (one request, no analysis, no write): the fingerprint of what was
  fetched equals the stored one, and the outputs on the server still carry the stored
  content hash (nobody deleted or replaced them).

The fingerprint covers the input resources by type, id and version (a resource with no
``meta.versionId``, e.g. from a server without versioning, by its content), the
data-quality issues of the fetch (a failed search changes what the analysis sees), the
options that change the outputs (``write_findings``) and the *analysis version*: the
knowledge-base version, a digest of the package's data files (criteria, terminology tables,
report-text lexicons: an edited rule changes it even when nobody bumped a version) and the
bmefhir version. A new knowledge base, edited tables or a new release therefore re-analyse
everyone, and nothing else does.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

import bmefhir
from bmefhir import __version__
from bmefhir.differential.knowledge_base import content_digest, load_knowledge
from bmefhir.fhir.raw import RawPatient

__all__ = ["analysis_version", "data_digest", "input_fingerprint", "input_versions", "resource_key", "resource_version"]


@functools.cache
def data_digest(root: Path = Path(bmefhir.__file__).parent) -> str:
    """SHA-256 over every YAML data file under ``root`` (the package), by relative path; read once per process."""
    return content_digest(root)[:12]


def analysis_version() -> str:
    """The knowledge base, its data and the software that turn inputs into outputs; any change re-analyses."""
    return f"knowledge {load_knowledge().version}+{data_digest()}; bmefhir {__version__}"


def resource_key(resource: Mapping[str, Any]) -> str | None:
    kind, rid = resource.get("resourceType"), resource.get("id")
    return f"{kind}/{rid}" if isinstance(kind, str) and isinstance(rid, str) else None


def resource_version(resource: Mapping[str, Any]) -> str:
    """``meta.versionId``; without one, a digest of the content (meta left out: it changes on every read)."""
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    if isinstance(version, str) and version:
        return version
    content = {k: v for k, v in resource.items() if k != "meta"}
    return "sha256:" + hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def input_versions(resources: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``{"Observation/x": "3", …}`` for every input that has a type and an id."""
    versions: dict[str, str] = {}
    for resource in resources:
        if (key := resource_key(resource)) is not None:
            versions[key] = resource_version(resource)
    return versions


def input_fingerprint(
    raw: RawPatient, versions: Mapping[str, str], *, write_findings: bool, analysis: str | None = None
) -> str:
    """Hex SHA-256 (32 digits) of everything an analysis of ``raw`` depends on (see the module text)."""
    content = {
        "analysis": analysis if analysis is not None else analysis_version(),
        "write_findings": write_findings,
        "inputs": sorted(versions.items()),
        # resources without type or id still reach the analysis (as data-quality issues): count their content
        "unnamed": sorted(resource_version(r) for r in raw.resources if resource_key(r) is None),
        "issues": sorted([i.severity, i.code, i.resource, i.element, i.message] for i in raw.issues),
    }
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
