"""Bulk Data NDJSON exports, read in two streaming passes.

An export can be far larger than memory, so lines are never kept:

1. scan every file line by line, parse each line once to learn its patient,
   and index it as (file, byte offset, line number) — 24 bytes per resource;
2. for each patient in id order, seek to its lines and parse them again.

Only one patient's resources are in memory at a time (plus the index).
Files are read in natural order (``Observation.2`` before ``Observation.10``),
so resources keep their export order within a patient.
"""

from __future__ import annotations

import re
from array import array
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bmefhir.fhir.grouping import issue, linked, patient_reference, relative_reference
from bmefhir.fhir.jsonlimits import MAX_FILE_BYTES, JsonUnreadable, Violation, describe_id, loads, screen
from bmefhir.fhir.raw import RawPatient, SourceProblem, usable_inputs
from bmefhir.record import DataQualityIssue, Severity

__all__ = ["NDJSON_SUFFIX", "ndjson_patients"]

NDJSON_SUFFIX = ".ndjson"


def _natural(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@dataclass
class _Index:
    names: list[str]
    lines: dict[str, array[int]] = field(default_factory=lambda: defaultdict(lambda: array("q")))
    known: set[str] = field(default_factory=set)  # ids of Patient resources present
    shared: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    issues: dict[str, list[DataQualityIssue]] = field(default_factory=lambda: defaultdict(list))
    file_issues: dict[int, list[DataQualityIssue]] = field(default_factory=dict)  # file number → its issues
    failed: dict[str, str] = field(default_factory=dict)  # shown id → why the patient cannot be analysed


def ndjson_patients(base: Path, files: list[Path], problems: list[SourceProblem]) -> Iterator[RawPatient]:
    """Patients of the NDJSON ``files`` (named relative to ``base`` in issues), in id order."""
    files = sorted(files, key=lambda f: _natural(f.relative_to(base).as_posix()))
    index = _Index([f.relative_to(base).as_posix() for f in files])
    source = base.name
    for number, file in enumerate(files):
        _scan(number, file, index, source, problems)
    for number, found in index.file_issues.items():
        # Once for the run, and on the patients with lines read from the file before it failed; not on the
        # export's other patients (the file says nothing about their data).
        problems.extend(SourceProblem(source, f) for f in found)
        for pid, places in index.lines.items():
            if number in places[0::3]:  # (file number, offset, line number) per line
                index.issues[pid].extend(found)
    patients = sorted(set(index.lines) | set(index.issues))
    for shown, reason in sorted(index.failed.items()):
        yield RawPatient(shown, (), (), failure=reason)
    handles: dict[int, IO[bytes]] = {}
    used_shared: set[str] = set()
    try:
        for pid in patients:
            yield _patient(pid, files, index, handles, used_shared, source)
    finally:
        for handle in handles.values():
            handle.close()
    for ref in sorted(set(index.shared) - used_shared):
        number, _, line = index.shared[ref]
        problems.append(
            SourceProblem(
                source,
                issue(
                    "information",
                    "informational",
                    f"{index.names[number]}:{line}",
                    ref.split("/")[0],
                    f"{ref} is not referenced by any patient's resources; not used",
                ),
            )
        )


def _scan(number: int, file: Path, index: _Index, source: str, problems: list[SourceProblem]) -> None:
    name = index.names[number]
    try:
        with file.open("rb") as handle:
            offset = 0
            line_no = 0
            while raw := handle.readline(MAX_FILE_BYTES + 1):
                line_no += 1
                start, offset = offset, offset + len(raw)
                if len(raw) > MAX_FILE_BYTES and not raw.endswith(b"\n"):
                    offset += _skip_line(handle)
                    where = f"{name}:{line_no}"
                    message = f"line {line_no} is over {MAX_FILE_BYTES:,} bytes; skipped"
                    problems.append(SourceProblem(source, issue("error", "too-costly", where, "line", message)))
                elif raw.strip():
                    _index_line(raw, (number, start, line_no), index, source, problems)
    except OSError as exc:
        index.file_issues.setdefault(number, []).append(
            issue(
                "error",
                "structure",
                name,
                "file",
                f"{name} could not be read ({exc.strerror or type(exc).__name__}); resources in it are missing",
            )
        )


def _index_line(
    raw: bytes, place: tuple[int, int, int], index: _Index, source: str, problems: list[SourceProblem]
) -> None:
    where = f"{index.names[place[0]]}:{place[2]}"

    def problem(severity: Severity, code: str, element: str, message: str) -> None:
        problems.append(SourceProblem(source, issue(severity, code, where, element, message)))

    try:
        resource: Any = loads(raw)
    except JsonUnreadable as exc:
        problem("error", "structure", "line", f"line {place[2]} {str(exc).replace('byte', 'column')}; skipped")
        return
    if not isinstance(resource, dict):
        problem("error", "structure", "line", f"line {place[2]} is not a JSON object; skipped")
        return
    kind = resource.get("resourceType")
    rid = resource.get("id")
    violation = screen(resource) if "resourceType" in resource else None
    if violation is not None:
        _refuse(resource, violation, where, index, source, problems)
        return
    owner = rid if kind == "Patient" and isinstance(rid, str) else None
    link = patient_reference(resource)
    if owner is None and link is not None:
        target = relative_reference(link[1])
        if target is None or target[0] != "Patient":
            problem(
                "error",
                "not-found",
                f"{kind if isinstance(kind, str) else 'Resource'}.{link[0]}",
                f"{where} does not reference a Patient; the resource was skipped",
            )
            return
        owner = target[1]
    if not isinstance(kind, str) or not kind:
        found = issue("error", "required", where, "resourceType", f"{where} has no resourceType; skipped")
        if owner is not None:
            index.issues[owner].append(found)
        else:
            problems.append(SourceProblem(source, found))
        return
    if owner is not None:
        if kind == "Patient":
            index.known.add(owner)
        index.lines[owner].extend(place)
    elif kind == "Patient" or not isinstance(rid, str):
        problem(
            "error" if kind == "Patient" else "information",
            "required",
            f"{kind}.id",
            f"{where} ({kind}) has no id{'' if kind == 'Patient' else ' and no patient link'}; not used",
        )
    else:
        index.shared[f"{kind}/{rid}"] = place


def _refuse(
    resource: dict[str, Any],
    violation: Violation,
    where: str,
    index: _Index,
    source: str,
    problems: list[SourceProblem],
) -> None:
    """A line over a limit: skipped, with an error on its patient (or the failed patient, for a bad Patient id)."""
    kind, rid = resource.get("resourceType"), resource.get("id")
    if kind == "Patient" and violation.element == "Patient.id":
        index.failed[describe_id(rid)] = f"{where}: the Patient id is not a valid FHIR id; not analysed"
        return
    owner: str | None = None
    if kind == "Patient" and violation.element != "resourceType":
        owner = rid if isinstance(rid, str) else None
    elif (link := patient_reference(resource)) is not None:
        target = relative_reference(link[1])
        owner = target[1] if target and target[0] == "Patient" else None
    found = issue("error", violation.code, where, violation.element, f"{where}: {violation.message}; skipped")
    if owner is not None:
        index.issues[owner].append(found)
    else:
        problems.append(SourceProblem(source, found))


def _skip_line(handle: IO[bytes]) -> int:
    """Read past the rest of an over-long line, in bounded chunks; the number of bytes skipped."""
    skipped = 0
    while chunk := handle.readline(1 << 20):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _patient(
    pid: str, files: list[Path], index: _Index, handles: dict[int, IO[bytes]], used_shared: set[str], source: str
) -> RawPatient:
    issues = list(index.issues.get(pid, ()))
    places = index.lines[pid]
    resources = []
    for at in range(0, len(places), 3):
        resource = _read(places[at], places[at + 1], places[at + 2], files, index, handles, issues)
        if resource is not None:
            resources.append(resource)
    resources.sort(key=lambda r: r.get("resourceType") != "Patient")  # stable: Patient first
    wanted = sorted({ref for r in resources for ref in linked(r) if ref in index.shared})
    used_shared.update(wanted)
    for ref in wanted:
        shared = _read(*index.shared[ref], files, index, handles, issues)
        if shared is not None:
            resources.append(shared)
    if pid not in index.known:
        issues.append(
            issue(
                "warning",
                "not-found",
                f"Patient/{pid}",
                "Patient",
                f"resources reference Patient/{pid} but {source} holds no such Patient",
            )
        )
    kept, med_issues = usable_inputs(resources)
    return RawPatient(pid, tuple(kept), tuple(issues + med_issues))


def _read(
    number: int,
    offset: int,
    line: int,
    files: list[Path],
    index: _Index,
    handles: dict[int, IO[bytes]],
    issues: list[DataQualityIssue],
) -> dict[str, Any] | None:
    where = f"{index.names[number]}:{line}"
    try:
        handle = handles.get(number) or handles.setdefault(number, files[number].open("rb"))
        handle.seek(offset)
        resource: dict[str, Any] = loads(handle.readline())
    except (OSError, JsonUnreadable):
        issues.append(
            issue(
                "error",
                "structure",
                where,
                "line",
                f"{where} changed or became unreadable while reading; the resource is missing",
            )
        )
        return None
    return resource
