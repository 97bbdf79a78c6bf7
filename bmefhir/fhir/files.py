"""File sources: FHIR Bundles, folders of JSON, Bulk Data NDJSON → ``RawPatient`` per patient.

Every source is a ``PatientSource``: iterate it for patients in patient-id
order; afterwards ``problems`` lists what belonged to no patient. Bad input
never stops a run and is never dropped silently:

* a bad resource or entry → a DataQualityIssue on its patient, naming the
  place (``a.json#Bundle.entry[3]``, ``Observation.ndjson:17``) and element;
* a file that cannot be read (or is not quite a Bundle) → a ``SourceProblem``, once,
  naming the file, and an issue on the patients whose resources it held (if it
  could be read at all); not on the source's other patients;
* something that points at no patient → a ``SourceProblem``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bmefhir.fhir.bulk_ndjson import NDJSON_SUFFIX, ndjson_patients
from bmefhir.fhir.grouping import Item, group_items, issue
from bmefhir.fhir.jsonlimits import MAX_FILE_BYTES, JsonUnreadable, loads
from bmefhir.fhir.raw import RawPatient, SourceProblem
from bmefhir.normalize.parse import READ_TYPES
from bmefhir.record import DataQualityIssue

__all__ = ["PatientSource", "open_source", "read_bulk_ndjson", "read_bundle", "read_folder"]


class PatientSource(Iterator[RawPatient]):
    """An iterator of patients that also collects ``problems`` (complete once exhausted)."""

    def __init__(self, name: str, produce: Callable[[list[SourceProblem]], Iterator[RawPatient]]) -> None:
        self.name = name
        self.problems: list[SourceProblem] = []
        self._patients = produce(self.problems)

    def __next__(self) -> RawPatient:
        return next(self._patients)

    def __repr__(self) -> str:
        return f"PatientSource({self.name!r})"


def read_bundle(path: str | Path) -> PatientSource:
    """A Bundle of any type (transaction, batch, collection, searchset) or a single resource."""
    path = Path(path)

    def produce(problems: list[SourceProblem]) -> Iterator[RawPatient]:
        items, file_issues = _load(path, path.name)
        yield from group_items(path.name, items, {path.name: file_issues}, problems)

    return PatientSource(path.name, produce)


def read_folder(path: str | Path) -> PatientSource:
    """Every ``*.json`` below ``path`` (Bundles or single resources), grouped together."""
    root = Path(path)

    def produce(problems: list[SourceProblem]) -> Iterator[RawPatient]:
        items: list[Item] = []
        file_issues: dict[str, list[DataQualityIssue]] = {}
        for file in sorted(root.rglob("*.json")):
            name = file.relative_to(root).as_posix()
            found, trouble = _load(file, name)
            items += found
            if trouble:
                file_issues[name] = trouble
        yield from group_items(root.name, items, file_issues, problems)

    return PatientSource(root.name, produce)


def read_bulk_ndjson(folder: str | Path) -> PatientSource:
    """A Bulk Data export (``Patient.ndjson``, ``Observation.1.ndjson``, ...), streamed: see ``bulk_ndjson``."""
    root = Path(folder)
    files = [root] if root.is_file() else sorted(root.rglob(f"*{NDJSON_SUFFIX}"))
    base = root.parent if root.is_file() else root
    return PatientSource(root.name, lambda problems: ndjson_patients(base, files, problems))


def open_source(path: str | Path) -> PatientSource:
    """The right reader for ``path``: an NDJSON file or export folder, a JSON folder, or a JSON file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        return read_bulk_ndjson(path) if any(path.rglob(f"*{NDJSON_SUFFIX}")) else read_folder(path)
    return read_bulk_ndjson(path) if path.name.endswith(NDJSON_SUFFIX) else read_bundle(path)


def _load(path: Path, name: str) -> tuple[list[Item], list[DataQualityIssue]]:
    """The entries of one JSON file, or the file-level issue that stopped it being read."""

    def unreadable(why: str) -> tuple[list[Item], list[DataQualityIssue]]:
        return [], [issue("error", "structure", name, "file", f"{name} {why}; its resources are missing")]

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return unreadable(f"is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,} (split it, or use NDJSON)")
        data: Any = loads(path.read_bytes())
    except OSError as exc:
        return unreadable(f"could not be read ({exc.strerror or type(exc).__name__})")
    except JsonUnreadable as exc:
        return unreadable(str(exc))
    if not isinstance(data, dict):
        return unreadable("is not a FHIR resource (its top level is not a JSON object)")
    notes: list[DataQualityIssue] = []
    if data.get("resourceType") != "Bundle":
        if not _bundle_shaped(data):
            return [Item(name, data, file=name)], []
        # A Bundle whose own resourceType is damaged: its entries are still the patients' data.
        notes.append(
            issue(
                "error",
                "value",
                name,
                "Bundle.resourceType",
                f'{name} has Bundle entries but its resourceType is not "Bundle"; read as a Bundle',
            )
        )
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        return unreadable("has a Bundle.entry that is not a list")
    items = []
    for i, entry in enumerate(entries):
        entry = entry if isinstance(entry, dict) else {}
        full_url = entry.get("fullUrl")
        url = full_url if isinstance(full_url, str) else None
        items.append(Item(f"{name}#Bundle.entry[{i}]", entry.get("resource"), url, name))
    return items, notes


def _bundle_shaped(data: dict[str, Any]) -> bool:
    """A list of ``entry`` objects holding a ``resource`` (and no type we read) looks like a Bundle."""
    entries = data.get("entry")
    kind = data.get("resourceType")
    if not isinstance(entries, list) or not entries or (isinstance(kind, str) and kind in READ_TYPES):
        return False
    return all(isinstance(e, dict) and isinstance(e.get("resource"), dict) for e in entries[:10])
