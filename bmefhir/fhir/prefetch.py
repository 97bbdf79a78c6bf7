"""CDS Hooks prefetch as a source: the templates bmefhir asks for, and the resources a client sent.

The templates read what :func:`bmefhir.fhir.patient_fetch.fetch_patient` reads (the
Patient and the resources of every type in ``PATIENT_SEARCHES``), so a prefetched and a
fetched patient give the same record. The fetch folds three of the types into its Patient
search (``FOLDED_TYPES``); the templates keep one plain search per type, which every CDS
client can run and whose ``next`` link says when it is incomplete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES
from bmefhir.fhir.raw import RawPatient, refusal, usable_inputs
from bmefhir.record import DataQualityIssue

__all__ = ["PREFETCH_COUNT", "Prefetched", "prefetch_templates", "read_prefetch"]

PREFETCH_COUNT = 500  # per search; a bundle with a next link is incomplete


def prefetch_templates() -> dict[str, str]:
    """Key → FHIR query template, as the discovery document lists them."""
    templates = {"patient": "Patient/{{context.patientId}}"}
    for kind in PATIENT_SEARCHES:
        templates[kind] = f"{kind}?patient={{{{context.patientId}}}}&_count={PREFETCH_COUNT}"
    return templates


@dataclass(frozen=True, slots=True)
class Prefetched:
    """The prefetched patient, or what kept it from being complete."""

    raw: RawPatient
    missing: tuple[str, ...]  # keys absent or null: the client could not (or did not) fetch them
    incomplete: tuple[str, ...]  # searchset bundles with a next page

    @property
    def complete(self) -> bool:
        return not self.missing and not self.incomplete


def read_prefetch(prefetch: Mapping[str, Any] | None, patient_id: str) -> Prefetched:
    """The resources of a prefetch, keyed as :func:`prefetch_templates`; malformed values become issues."""
    prefetch = prefetch or {}
    resources: list[dict[str, Any]] = []
    issues: list[DataQualityIssue] = []
    missing: list[str] = []
    incomplete: list[str] = []
    for key in prefetch_templates():
        value = prefetch.get(key)
        if value is None:
            missing.append(key)
            continue
        element = f"prefetch.{key}"
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            problem = "not a FHIR resource; not used"
            issues.append(DataQualityIssue("error", "structure", "CDS request", element, problem))
            missing.append(key)
            continue
        if value["resourceType"] != "Bundle":
            if (refused := refusal(value, element)) is not None:
                issues.append(refused)
                missing.append(key)
            else:
                resources.append(value)
            continue
        if any(isinstance(link, dict) and link.get("relation") == "next" for link in _list(value.get("link"))):
            incomplete.append(key)
        for i, entry in enumerate(_list(value.get("entry"))):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                issues.append(
                    DataQualityIssue("error", "structure", "CDS request", f"{element}.entry[{i}]", "no resource")
                )
            elif (refused := refusal(resource, f"{element}.entry", i)) is not None:
                issues.append(refused)
            elif resource.get("resourceType") != "OperationOutcome":  # a server's search warnings
                resources.append(resource)
    usable, dropped = usable_inputs(resources)
    raw = RawPatient(patient_id, tuple(usable), tuple(issues + dropped))
    return Prefetched(raw, tuple(missing), tuple(incomplete))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
