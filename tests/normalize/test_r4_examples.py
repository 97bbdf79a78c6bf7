"""Every resource of the official R4 example package goes through build_record without an exception,
and each one either contributes to the record or is named in a DataQualityIssue (or, beyond the first
LISTED_PER_TYPE skipped resources of a type, is counted in that type's count issue).

Package: hl7.fhir.r4.examples 4.0.1, fetched by scripts/fetch-r4-examples.sh. Located via
BMEFHIR_R4_EXAMPLES or ${BMEFHIR_CACHE:-~/.cache/bmefhir}/r4-examples/package. Missing package:
failure when CI is set, skip otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bmefhir.normalize import build_record
from bmefhir.normalize.relevance import LISTED_PER_TYPE
from bmefhir.record import PatientRecord
from bmefhir.testing.prerequisites import unavailable

FETCH_SCRIPT = "scripts/fetch-r4-examples.sh"


def _package_dir() -> Path:
    if env := os.environ.get("BMEFHIR_R4_EXAMPLES"):
        return Path(env)
    cache = Path(os.environ.get("BMEFHIR_CACHE") or Path.home() / ".cache" / "bmefhir")
    return cache / "r4-examples" / "package"


@pytest.fixture(scope="module")
def examples() -> list[tuple[str, dict[str, Any]]]:
    directory = _package_dir()
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not files:
        message = f"R4 example package not found at {directory}; run {FETCH_SCRIPT} (or set BMEFHIR_R4_EXAMPLES)"
        unavailable(message)
    out = []
    for f in files:
        data = json.loads(f.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "resourceType" in data:
            out.append((f.name, data))
    return out


def _leaf_resources(resource: dict[str, Any], position: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Resources build_record sees: Bundles are unpacked (as build_record does, three levels deep)."""
    if resource.get("resourceType") == "Bundle":
        for j, entry in enumerate(resource.get("entry") or []):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield from _leaf_resources(entry["resource"], f"Bundle.entry[{j}]")
        return
    rid = resource.get("id")
    yield (f"{resource['resourceType']}/{rid}" if isinstance(rid, str) and rid else position), resource


def _contributed(record: PatientRecord, ref: str) -> bool:
    items = [
        *record.labs,
        *record.observations,
        *record.findings,
        *record.studies,
        *record.medications,
        *record.conditions,
        *record.reports,
    ]
    return record.patient.ref == ref or any(getattr(x, "ref", None) == ref for x in items)


def _counted(record: PatientRecord) -> dict[str, int]:
    """Skipped resources per type beyond the listed ones, from the count issue on the patient."""
    out = {}
    for i in record.issues:
        if i.resource == record.patient.ref and "only counted" in i.message:
            out[i.element] = int(i.message.split(" other ")[1].split(" ")[0].replace(",", ""))
    return out


def test_every_r4_example_is_used_or_reported(examples):
    assert len(examples) > 2000  # the package holds ~5300 resources
    unaccounted: list[str] = []
    counted_total = 0
    for name, resource in examples:
        record = build_record([resource])  # one file at a time: each is its own little input
        named = {i.resource for i in record.issues}
        counted = _counted(record)
        counted_total += sum(counted.values())
        unnamed: dict[str, int] = {}
        seen: set[str] = set()
        for ref, _ in _leaf_resources(resource, "Bundle.entry[0]"):
            if ref in seen:  # duplicates inside a bundle are reported once under the shared ref
                continue
            seen.add(ref)
            if not (_contributed(record, ref) or ref in named):
                rtype = ref.split("/")[0]
                unnamed[rtype] = unnamed.get(rtype, 0) + 1
                if rtype not in counted:
                    unaccounted.append(f"{name}: {ref}")
        # Every resource neither used nor named is one of the counted ones (a counted resource may also
        # be named by another issue, e.g. as a duplicate).
        assert all(unnamed.get(t, 0) <= n for t, n in counted.items()), name
    assert unaccounted == []
    assert counted_total > 0  # the big definition Bundles (6,781 StructureDefinitions) exceed the listing
    assert LISTED_PER_TYPE < 6781


def test_relevant_r4_examples_produce_items(examples):
    by_name = dict(examples)
    study = build_record([by_name["ImagingStudy-example-xr.json"]])
    assert study.studies
    assert study.studies[0].modalities == ("DX",)
    statement = build_record([by_name["MedicationStatement-example001.json"]])
    assert {s.ref for s in statement.sources} == {"MedicationStatement/example001"}
