"""Which patients changed since the cursor: ``_lastUpdated`` searches grouped to patient ids.

Each resource type the analysis reads is searched with ``_lastUpdated=ge{since}``
and ``_elements`` cut down to the reference that names the patient, so a page
costs little and carries almost no clinical data. bmefhir's own outputs (the
DiagnosticReport it writes) are skipped, or every write-back would re-trigger
its patient on the next run forever.

The run's upper bound ``until`` is the *server's* time (``Bundle.meta.lastUpdated``
of the first page), never this machine's clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bmefhir.fhir import existing
from bmefhir.fhir.client import FhirClient
from bmefhir.render.ids import BASE

__all__ = [
    "CHANGE_TYPES",
    "Discovery",
    "discover_all",
    "discover_changed",
    "is_own_output",
    "patient_of",
    "server_time",
    "since_with_overlap",
]

# resource type → the search parameter / element that names the patient ("" = the Patient itself)
CHANGE_TYPES: Final[dict[str, str]] = {
    "Patient": "",
    "Observation": "subject",
    "ImagingStudy": "subject",
    "MedicationStatement": "subject",
    "MedicationRequest": "subject",
    "Condition": "subject",
    "DiagnosticReport": "subject",
    "DocumentReference": "subject",
    "Procedure": "subject",
}
DISCOVERY_PAGE: Final = 500  # HAPI's maximum page size


@dataclass(slots=True)
class Discovery:
    """Filled while the id iterator is consumed: the server time of the first page, pages read, and
    per patient the version of every changed resource found (``versions``: "Type/id" → ``meta.versionId``,
    None when it had none or two different ones were seen). A resource found again at a version the
    patient's last analysis used is no change (``bmefhir.sync.fingerprint``)."""

    until: str | None = None
    pages: int = 0
    skipped_own: int = 0
    types: list[str] = field(default_factory=list)
    versions: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def patient_of(self, resource: Mapping[str, Any]) -> str | None:
        """The patient a discovered resource belongs to, its version noted; None for bmefhir's own
        outputs (counted) and for resources of no patient."""
        if is_own_output(resource):
            self.skipped_own += 1
            return None
        if pid := patient_of(resource):
            self.saw(pid, resource)
        return pid

    def saw(self, patient_id: str, resource: Mapping[str, Any]) -> None:
        kind, rid, meta = resource.get("resourceType"), resource.get("id"), resource.get("meta")
        version = meta.get("versionId") if isinstance(meta, Mapping) else None
        key = f"{kind}/{rid}" if isinstance(kind, str) and isinstance(rid, str) else None
        seen = self.versions.setdefault(patient_id, {})
        if key is None or not isinstance(version, str):
            seen[f"?{len(seen)}"] = None  # unnamed or unversioned: the patient must be analysed
        elif seen.get(key, version) != version:
            seen[key] = None
        else:
            seen[key] = version


def since_with_overlap(cursor: str, overlap: timedelta) -> str:
    """The search lower bound: the cursor moved back by the overlap window (clock skew, late commits)."""
    return iso(parse_instant(cursor) - overlap)


def parse_instant(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("a FHIR instant needs a time zone")
    return when.astimezone(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def server_time(bundle: Mapping[str, Any]) -> str | None:
    meta = bundle.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, Mapping) else None
    if not isinstance(value, str):
        return None
    try:
        return iso(parse_instant(value))
    except ValueError:
        return None


def patient_of(resource: Mapping[str, Any]) -> str | None:
    """The patient id a resource belongs to (``Patient/x`` references only; the Patient's own id)."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    for key in ("subject", "patient"):
        ref = resource.get(key)
        value = ref.get("reference") if isinstance(ref, Mapping) else None
        if isinstance(value, str) and "Patient/" in value:
            tail = value.rsplit("Patient/", 1)[1].split("/_history", 1)[0]
            return tail or None
    return None


def is_own_output(resource: Mapping[str, Any]) -> bool:
    """bmefhir wrote it: our assessment identifier or output profile, or a bmefhir ``meta.tag``."""
    if existing.is_own_output(resource):
        return True
    meta = resource.get("meta")
    if isinstance(meta, Mapping):
        for tag in meta.get("tag") or []:
            if isinstance(tag, Mapping) and str(tag.get("system", "")).startswith(BASE):
                return True
    return False


def discover_all(client: FhirClient, found: Discovery) -> Iterator[str]:
    """Every Patient id (the first run for a server: everything is new)."""
    found.types.append("Patient")
    for bundle in client.search_bundles("Patient", {"_elements": "id", "_count": DISCOVERY_PAGE}):
        found.pages += 1
        if found.until is None:
            found.until = server_time(bundle)
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if isinstance(resource, Mapping) and (pid := patient_of(resource)):
                yield pid


def discover_changed(client: FhirClient, since: str, found: Discovery) -> Iterator[str]:
    """Ids of patients with any relevant resource updated at or after ``since`` (duplicates possible)."""
    for kind, element in CHANGE_TYPES.items():
        found.types.append(kind)
        elements = "id" if not element else f"{element},identifier"
        params: dict[str, str | int] = {"_lastUpdated": f"ge{since}", "_elements": elements, "_count": DISCOVERY_PAGE}
        for bundle in client.search_bundles(kind, params):
            found.pages += 1
            if found.until is None:
                found.until = server_time(bundle)
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, Mapping) else None
                if not isinstance(resource, Mapping):
                    continue
                if pid := found.patient_of(resource):
                    yield pid
