"""Which patient a resource belongs to, and grouping in-memory resources per patient.

Patient-compartment resources point at their Patient through ``subject`` or
``patient``. Shared resources (Medication, Practitioner, ...) point at nobody;
they go with every patient whose resources reference them. Bundle-local
references (``urn:uuid:`` fullUrls, absolute URLs) are rewritten to
``Type/id`` the way a server does when it processes a transaction, so the
record builder only ever sees relative references.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bmefhir.fhir.binaries import binary_refs
from bmefhir.fhir.jsonlimits import MAX_REFERENCE, Violation, describe_id, screen, valid_id
from bmefhir.fhir.raw import RawPatient, SourceProblem, usable_inputs
from bmefhir.record import DataQualityIssue, Severity

__all__ = ["Item", "group_items", "issue", "linked", "patient_reference", "referenced", "relative_reference"]

_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_PATIENT_ELEMENTS = ("subject", "patient")
_FHIR_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")


@dataclass(frozen=True, slots=True)
class Item:
    """A resource as found: ``where`` names its place ("a.json#Bundle.entry[3]", "Observation.ndjson:17");
    ``file`` the file it came from (its file-level issues go to the patients it held)."""

    where: str
    resource: object
    full_url: str | None = None
    file: str | None = None


def relative_reference(reference: str) -> tuple[str, str] | None:
    """``("Patient", "1")`` for "Patient/1", ".../fhir/Patient/1/_history/2"; None otherwise."""
    if len(reference) > MAX_REFERENCE:  # the search is quadratic in the worst case
        return None
    match = _REFERENCE.search(reference)
    return (match.group(1), match.group(2)) if match else None


def patient_reference(resource: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(element, reference)`` of the resource's patient link, e.g. ("subject", "Patient/1").

    A Binary has no subject: its ``securityContext`` links it when that is a Patient (else it is
    shared, and goes with the patient whose report attachment points at it).
    """
    for element in _PATIENT_ELEMENTS:
        value = resource.get(element)
        if isinstance(value, Mapping) and isinstance(value.get("reference"), str):
            return element, value["reference"]
    if resource.get("resourceType") == "Binary":
        context = resource.get("securityContext")
        reference = context.get("reference") if isinstance(context, Mapping) else None
        target = relative_reference(reference) if isinstance(reference, str) else None
        if isinstance(reference, str) and target is not None and target[0] == "Patient":
            return "securityContext", reference
    return None


def referenced(node: object) -> Iterator[str]:
    """Every ``reference`` string anywhere inside a resource."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from referenced(value)
    elif isinstance(node, list):
        for value in node:
            yield from referenced(value)


def linked(resource: Mapping[str, Any]) -> Iterator[str]:
    """What a resource points at: its references, and the Binaries its attachment urls name."""
    yield from referenced(resource)
    yield from binary_refs(resource)


def _rewrite(node: Any, aliases: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: aliases.get(value, value)
            if key == "reference" and isinstance(value, str)
            else _rewrite(value, aliases)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(value, aliases) for value in node]
    return node


def issue(severity: Severity, code: str, where: str, element: str, message: str) -> DataQualityIssue:
    return DataQualityIssue(severity=severity, code=code, resource=where, element=element, message=message)


@dataclass
class _Groups:
    source: str
    patients: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    issues: dict[str, list[DataQualityIssue]] = field(default_factory=lambda: defaultdict(list))
    shared: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[SourceProblem] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # shown id → why the patient cannot be analysed
    refused: set[str] = field(default_factory=set)  # patients whose Patient resource broke a limit
    held: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # file → patients it held

    def hold(self, item: Item, owner: str | None) -> None:
        if owner is not None and item.file is not None:
            self.held[item.file].add(owner)

    def problem(self, found: DataQualityIssue) -> None:
        self.problems.append(SourceProblem(self.source, found))

    def report(self, owner: str | None, found: DataQualityIssue) -> None:
        """To the patient when the resource could be attributed, else to the source."""
        if owner is None:
            self.problem(found)
        else:
            self.issues[owner].append(found)


def group_items(
    source: str,
    items: list[Item],
    file_issues: Mapping[str, Sequence[DataQualityIssue]],
    problems: list[SourceProblem],
) -> list[RawPatient]:
    """Group resources per patient (sorted by id). Unattributable issues go to ``problems``.

    ``file_issues`` (file → issues about the whole file: unreadable, not a Bundle, ...) go to ``problems``,
    once each, and to the patients whose resources the file held; not to the source's other patients, whose
    data the file says nothing about (a folder of 1,000 patients with one bad file: one issue, not 1,000)."""
    groups = _Groups(source)
    aliases = _aliases(items)
    seen: set[str] = set()
    for item in items:
        _place(item, aliases, groups, seen)
    for file, found in file_issues.items():
        groups.problems.extend(SourceProblem(source, f) for f in found)
        for owner in groups.held.get(file, ()):
            groups.issues[owner].extend(found)
    # A patient whose only resources were skipped still appears, with the issues saying why.
    patients = sorted(set(groups.patients) | set(groups.issues))
    used_shared: set[str] = set()
    result = [RawPatient(shown, (), (), failure=reason) for shown, reason in sorted(groups.failed.items())]
    for pid in patients:
        resources = sorted(groups.patients.get(pid, ()), key=lambda r: r.get("resourceType") != "Patient")
        if pid not in groups.refused and (not resources or resources[0].get("resourceType") != "Patient"):
            groups.issues[pid].append(
                issue(
                    "warning",
                    "not-found",
                    f"Patient/{pid}",
                    "Patient",
                    f"resources reference Patient/{pid} but {source} holds no such Patient",
                )
            )
        wanted = {ref for r in resources for ref in linked(r) if ref in groups.shared}
        used_shared |= wanted
        resources += [groups.shared[ref] for ref in sorted(wanted)]
        kept, med_issues = usable_inputs(resources)
        result.append(RawPatient(pid, tuple(kept), tuple(groups.issues[pid] + med_issues)))
    for ref in sorted(set(groups.shared) - used_shared):
        groups.problem(
            issue(
                "information",
                "informational",
                ref,
                ref.split("/")[0],
                f"{ref} in {source} is not referenced by any patient's resources; not used",
            )
        )
    problems.extend(groups.problems)
    return result


def _aliases(items: list[Item]) -> dict[str, str]:
    """fullUrl → ``Type/id`` for every entry that has both (ids come from ``urn:uuid:`` when missing)."""
    aliases: dict[str, str] = {}
    for item in items:
        resource = item.resource
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            continue
        rid = resource.get("id") or _uuid(item.full_url)
        if valid_id(rid) and item.full_url and _FHIR_TYPE.fullmatch(resource["resourceType"]):
            aliases[item.full_url] = f"{resource['resourceType']}/{rid}"
    return aliases


def _uuid(full_url: str | None) -> str | None:
    """The id a ``urn:uuid:`` fullUrl gives an entry without one (None unless it is a valid FHIR id)."""
    rid = full_url[len("urn:uuid:") :] if full_url and full_url.startswith("urn:uuid:") else None
    return rid if valid_id(rid) else None


def _place(item: Item, aliases: Mapping[str, str], groups: _Groups, seen: set[str]) -> None:
    resource = item.resource
    if not isinstance(resource, dict):
        groups.problem(
            issue("error", "structure", item.where, "resource", f"{item.where} has no resource object; skipped")
        )
        return
    if "resourceType" not in resource:
        owner = _owner(resource, _link(resource, aliases), item, groups)
        groups.hold(item, owner)
        found = issue(
            "error",
            "required",
            item.where,
            "resourceType",
            f"{item.where} has no resourceType; the resource was skipped",
        )
        groups.report(owner, found)
        return
    violation = screen(resource)
    if violation is not None:
        _refuse(item, resource, violation, aliases, groups)
        return
    kind = resource["resourceType"]
    if kind == "Bundle":  # a Bundle entry holding a Bundle: not unpacked, and its loss is said
        message = f"{item.where} is a Bundle inside a Bundle; its entries are not read"
        groups.problem(issue("warning", "not-supported", item.where, "Bundle", message))
        return
    resource = _rewrite(resource, aliases)  # safe now: the screen bounded its depth
    link = patient_reference(resource)
    owner = _owner(resource, link, item, groups)
    groups.hold(item, owner)
    rid = resource.get("id") or _uuid(item.full_url)
    if isinstance(rid, str) and "id" not in resource:
        resource["id"] = rid
    key = f"{kind}/{rid}" if isinstance(rid, str) else None
    if key is not None and key in seen:
        found = issue("warning", "duplicate", key, kind, f"{key} appears again at {item.where}; the first copy is used")
        groups.report(owner, found)
        return
    if key is not None:
        seen.add(key)
    if owner is not None:
        groups.patients[owner].append(resource)
    elif link is None and key is not None:
        groups.shared[key] = resource
    elif link is None:
        groups.problem(
            issue(
                "information",
                "informational",
                item.where,
                kind,
                f"{item.where} ({kind}) has no id and no patient link; not used",
            )
        )


def _refuse(
    item: Item, resource: dict[str, Any], violation: Violation, aliases: Mapping[str, str], groups: _Groups
) -> None:
    """A resource over a limit: skipped, with an error on its patient (or the failed patient, for a bad Patient id)."""
    message = f"{item.where}: {violation.message}; the resource was skipped"
    found = issue("error", violation.code, item.where, violation.element, message)
    kind, rid = resource.get("resourceType"), resource.get("id")
    if kind == "Patient" and violation.element == "Patient.id":
        groups.failed[describe_id(rid)] = f"{item.where}: the Patient id is not a valid FHIR id; not analysed"
        return
    owner = None
    if kind == "Patient" and violation.element != "resourceType":
        owner = rid if isinstance(rid, str) else _uuid(item.full_url)
        if owner is not None:
            groups.refused.add(owner)
    else:
        link = _link(resource, aliases)
        target = relative_reference(link[1]) if link else None
        owner = target[1] if target and target[0] == "Patient" else None
    groups.hold(item, owner)
    groups.report(owner, found)


def _link(resource: Mapping[str, Any], aliases: Mapping[str, str]) -> tuple[str, str] | None:
    """``patient_reference`` with Bundle-local references resolved (without walking the resource)."""
    link = patient_reference(resource)
    return (link[0], aliases.get(link[1], link[1])) if link else None


def _owner(resource: Mapping[str, Any], link: tuple[str, str] | None, item: Item, groups: _Groups) -> str | None:
    """The patient id the resource belongs to; records a problem when its link leads nowhere."""
    kind = resource.get("resourceType")
    if kind == "Patient":
        rid = resource.get("id") or _uuid(item.full_url)
        if isinstance(rid, str):
            return rid
        groups.problem(
            issue(
                "error",
                "required",
                item.where,
                "Patient.id",
                f"{item.where} is a Patient without id or urn:uuid fullUrl; skipped",
            )
        )
        return None
    if link is None:
        return None
    element, reference = link
    target = relative_reference(reference)
    if target is None or target[0] != "Patient":
        groups.problem(
            issue(
                "error",
                "not-found",
                item.where,
                f"{kind or 'Resource'}.{element}",
                f"{item.where} references {_describe(reference)}, which is not a Patient in this "
                "source; the resource was skipped",
            )
        )
        return None
    return target[1]


def _describe(reference: str) -> str:
    if reference.startswith("urn:uuid:"):
        return "a urn:uuid that no Bundle entry's fullUrl matches"
    target = relative_reference(reference)
    return f"a {target[0]}" if target else "an unparseable reference"
