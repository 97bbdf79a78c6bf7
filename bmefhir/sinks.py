"""Where rendered results go: a folder of files, or a FHIR server (one transaction per patient).

A layer of its own above the FHIR edge, the write-back and the pipeline: the REST sink hands a
result to ``bmefhir.writeback``, which builds on ``bmefhir.fhir``, so it cannot live inside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.raw import RawPatient, SourceProblem
from bmefhir.writeback import WriteOutcome, write_back

if TYPE_CHECKING:
    from bmefhir.pipeline import PatientResult

__all__ = ["FolderSink", "RestSink", "ResultSink", "Sink"]

_SAFE_NAME = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id; no path separators


class Sink(Protocol):
    def write(self, patient_id: str, bundle: dict[str, Any], summary: dict[str, Any]) -> object:
        """Store one patient's output Bundle; ``summary`` is the short per-patient result."""
        ...

    def finish(self) -> None:
        """Called once after the last patient."""
        ...


@runtime_checkable
class ResultSink(Protocol):
    """A sink that needs the whole result and what was read (the runner prefers this over ``write``)."""

    def write_result(self, raw: RawPatient, result: PatientResult) -> WriteOutcome: ...


def _dumps(data: object) -> bytes:
    # Sorted keys + fixed indent + trailing newline: identical input gives identical bytes.
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _write_atomically(path: Path, content: bytes) -> None:
    """Readers never see half a file, even if the run is killed mid-write."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


class FolderSink:
    """``{patient_id}.bundle.json`` per patient, then ``summary.json`` (summaries sorted by patient id)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._summaries: dict[str, dict[str, Any]] = {}

    def write(self, patient_id: str, bundle: dict[str, Any], summary: dict[str, Any]) -> Path:
        if not _SAFE_NAME.fullmatch(patient_id) or patient_id.startswith("."):
            raise ValueError("patient id is not a valid FHIR id; refusing to use it as a file name")
        path = self.out_dir / f"{patient_id}.bundle.json"
        _write_atomically(path, _dumps(bundle))
        self._summaries[patient_id] = summary
        return path

    def finish(self) -> None:
        summaries = [self._summaries[pid] for pid in sorted(self._summaries)]
        _write_atomically(self.out_dir / "summary.json", _dumps(summaries))

    def write_source_problems(self, problems: Sequence[SourceProblem]) -> Path | None:
        """``source-problems.json``: what belonged to no patient (an unreadable file, a resource pointing nowhere),
        so that a run's files hold it as well as its console; none, no file (and an old one is removed)."""
        path = self.out_dir / "source-problems.json"
        if not problems:
            path.unlink(missing_ok=True)
            return None
        _write_atomically(path, _dumps([{"source": p.source, **asdict(p.issue)} for p in problems]))
        return path


class RestSink:
    """Writes each patient's outputs to a FHIR server.

    The runner calls ``write_result``: ``bmefhir.writeback.write_back`` (If-Match on
    existing outputs, unchanged content skipped, signed reports kept); ``outcomes``
    collects its results. ``write`` POSTs a ready transaction Bundle as it is.
    Failures raise the ``bmefhir.fhir.errors`` tree; a transaction is never retried
    blindly (see ``retry``), so a lost response surfaces as an error, not a duplicate.
    """

    def __init__(self, client: FhirClient, *, extra_tags: tuple[dict[str, str], ...] = ()) -> None:
        self.client = client
        self.extra_tags = extra_tags
        self.outcomes: list[WriteOutcome] = []

    def write(self, patient_id: str, bundle: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
        return self.client.transaction(bundle)

    def write_result(self, raw: RawPatient, result: PatientResult) -> WriteOutcome:
        outcome = write_back(self.client, raw, result, extra_tags=self.extra_tags)
        self.outcomes.append(outcome)
        return outcome

    def finish(self) -> None:
        return None
