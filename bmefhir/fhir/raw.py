"""What every source yields: one patient's raw FHIR resources, before the record builder."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bmefhir.fhir.existing import ExistingOutput, is_own_output
from bmefhir.fhir.jsonlimits import Violation, screen
from bmefhir.record import DataQualityIssue

__all__ = [
    "RawPatient",
    "SourceProblem",
    "prefer_statements",
    "refusal",
    "refused_as",
    "screened_inputs",
    "usable_inputs",
]


@dataclass(frozen=True, slots=True)
class RawPatient:
    """``resources`` as read (Patient first when present); ``issues`` found while reading them.

    ``requests`` counts the HTTP requests it took (0 for files). ``existing`` is
    bmefhir's own outputs found on the server with the data (see
    ``bmefhir.fhir.existing``); ``None`` when they were not looked up (files).
    ``failure`` is set when the source found the patient but cannot hand it on
    (e.g. its Patient id is not a FHIR id): the runner lists it as failed with
    that reason instead of analysing it.
    """

    patient_id: str
    resources: tuple[dict[str, Any], ...]
    issues: tuple[DataQualityIssue, ...] = ()
    requests: int = 0
    existing: tuple[ExistingOutput, ...] | None = None
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """An issue that belongs to no patient: an unreadable file with no patient in it, or a
    resource that points at no patient. ``source`` names the file or folder."""

    source: str
    issue: DataQualityIssue


def prefer_statements(
    resources: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[DataQualityIssue]]:
    """Drop MedicationRequests when any MedicationStatement exists, saying so.

    A statement records what was taken; an order only what was prescribed, so
    orders are used only when there is nothing better (docs/input-conventions.md).
    """
    items = list(resources)
    if not any(r.get("resourceType") == "MedicationStatement" for r in items):
        return items, []
    kept = [r for r in items if r.get("resourceType") != "MedicationRequest"]
    dropped = len(items) - len(kept)
    if not dropped:
        return items, []
    issue = DataQualityIssue(
        severity="information",
        code="informational",
        resource="MedicationRequest",
        element="MedicationRequest",
        message=f"{dropped} MedicationRequest resource(s) not used: MedicationStatement resources exist "
        "and describe what was actually taken",
    )
    return kept, [issue]


def usable_inputs(
    resources: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[DataQualityIssue]]:
    """What every source hands the record builder: bmefhir's own outputs dropped, then
    ``prefer_statements``. Our outputs are not clinical input (and not bad input either,
    so dropping them is not an issue: it keeps a re-run's result identical)."""
    return prefer_statements(r for r in resources if not is_own_output(r))


def refusal(resource: dict[str, Any], place: str, index: int | None = None) -> DataQualityIssue | None:
    """The error issue for a resource over a limit of ``bmefhir.fhir.jsonlimits`` (None if it keeps
    within them), naming it by ``Type/id`` when those are sound, else by its place: ``place``, or
    ``place[index]`` (made only for a refused resource: this runs for every input)."""
    violation = screen(resource)
    return None if violation is None else refused_as(resource, violation, place, index)


def refused_as(
    resource: dict[str, Any], violation: Violation, place: str, index: int | None = None
) -> DataQualityIssue:
    """The error issue of ``refusal`` for a resource ``screen`` (or ``screen_all``) found over a limit."""
    if index is not None:
        place = f"{place}[{index}]"
    kind, rid = resource.get("resourceType"), resource.get("id")
    sound = violation.element not in ("resourceType", f"{kind}.id") and isinstance(rid, str)
    return DataQualityIssue(
        "error",
        violation.code,
        f"{kind}/{rid}" if sound else place,
        violation.element,
        f"{place}: {violation.message}; the resource was skipped",
    )


def screened_inputs(resources: Iterable[object], where: str) -> tuple[list[dict[str, Any]], list[DataQualityIssue]]:
    """The resources that keep within ``bmefhir.fhir.jsonlimits``; each other one becomes an error
    issue naming its place (``where[i]``) and element, and is skipped."""
    kept: list[dict[str, Any]] = []
    issues: list[DataQualityIssue] = []
    for i, resource in enumerate(resources):
        if not isinstance(resource, dict):
            place = f"{where}[{i}]"
            issues.append(DataQualityIssue("error", "structure", place, "resource", "not a JSON object; skipped"))
        elif (refused := refusal(resource, where, i)) is not None:
            issues.append(refused)
        else:
            kept.append(resource)
    return kept, issues
