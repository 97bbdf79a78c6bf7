"""Loading data into a FHIR server: transaction bundles from files, and bmefhir's profiles.

Used by ``bmefhir sandbox load``, the integration tests and ``benchmarks/hapi.py``;
works against the sandbox or any FHIR base.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bmefhir.conformance import load_conformance_resources
from bmefhir.fhir.batch import BatchRequest
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirError

__all__ = ["LoadReport", "bundle_files", "load_bundles", "upload_conformance"]

_POSTABLE = ("transaction", "batch")


@dataclass(slots=True)
class LoadReport:
    bundles: int = 0  # bundles the server accepted
    entries: int = 0  # their entries
    skipped: list[str] = field(default_factory=list)  # "file: why" (not a transaction or batch Bundle)
    failures: list[str] = field(default_factory=list)  # "file: error"
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def bundle_files(path: Path) -> list[Path]:
    """``path`` itself, or every ``*.json`` below it (sorted)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.json") if p.is_file())
    raise FileNotFoundError(f"no such file or folder: {path}")


def load_bundles(
    client: FhirClient,
    files: Iterable[Path],
    *,
    on_file: Callable[[Path, str | None], None] | None = None,
) -> LoadReport:
    """POST each transaction/batch Bundle; one file's failure does not stop the rest.

    ``on_file(path, error)`` is called after each file (error None on success).
    """
    report = LoadReport()
    started = time.perf_counter()
    for path in files:
        problem: str | None = None
        try:
            bundle = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            problem = f"not readable JSON ({type(exc).__name__})"
            report.failures.append(f"{path.name}: {problem}")
        else:
            kind = bundle.get("type") if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle" else None
            if kind not in _POSTABLE:
                report.skipped.append(f"{path.name}: not a transaction or batch Bundle")
            else:
                problem = _post(client, bundle, report)
                if problem is not None:
                    report.failures.append(f"{path.name}: {problem}")
        if on_file is not None:
            on_file(path, problem)
    report.seconds = time.perf_counter() - started
    return report


def _post(client: FhirClient, bundle: dict[str, Any], report: LoadReport) -> str | None:
    """None when the server took the whole bundle, else the reason (a batch names its first failed entry)."""
    try:
        if bundle["type"] == "transaction":
            client.transaction(bundle)
        else:
            requests = [_batch_request(entry) for entry in bundle.get("entry") or []]
            errors = [error for result in client.batch(requests) if (error := result.error()) is not None]
            if errors:
                return f"{len(errors)} of {len(requests)} batch entries failed; first: {errors[0]}"
    except (FhirError, KeyError, TypeError, AttributeError) as exc:
        return str(exc) if isinstance(exc, FhirError) else f"malformed Bundle entry ({type(exc).__name__})"
    report.bundles += 1
    report.entries += len(bundle.get("entry") or [])
    return None


def _batch_request(entry: dict[str, Any]) -> BatchRequest:
    request = entry["request"]
    return BatchRequest(
        request["method"],
        request["url"],
        entry.get("resource"),
        if_match=request.get("ifMatch"),
        if_none_exist=request.get("ifNoneExist"),
    )


def upload_conformance(client: FhirClient, resources: Iterable[dict[str, Any]] | None = None) -> Iterator[str]:
    """PUT each conformance resource by id, in ``load_conformance_resources()`` order; yields ``Type/id``."""
    for resource in resources if resources is not None else load_conformance_resources():
        client.update(resource)
        yield f"{resource['resourceType']}/{resource['id']}"
