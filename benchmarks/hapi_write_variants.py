"""What the HAPI server spends on bmefhir's write-back, by cause: write variants side by side.

For each patient (``bmefhir.synth`` realistic records at the given sizes) it renders bmefhir's
outputs once and then, in interleaved repetitions (the order reversed every other repetition),
writes each variant as a first write (fresh ids and identifiers every time) and reads the server
process's CPU (``benchmarks/hapi.py``'s ``hapi_cpu``) before and after:

* ``bmefhir``: the transaction write-back sends for a first write (Device and the three assessment
  outputs created only if their identifier is absent, Provenance PUT by its fixed id, version-specific
  entity references, the snapshot header);
* ``floor``: ``benchmarks/hapi.py``'s floor (the same four resources without input references);
* one cause removed at a time: ``put-by-id`` (the assessment outputs PUT at their deterministic ids:
  no identifier search, but blind to an output the lookup missed), ``no-prov-entity``,
  ``entity-unversioned`` (entity references without ``/_history``; the sandbox pins them),
  ``no-output-refs`` (DiagnosticReport/ClinicalImpression/RiskAssessment without input references),
  ``no-snapshot-header``, ``floor-content-bmefhir-requests`` (the floor's bodies sent the way bmefhir
  sends, i.e. the cost of the request kinds alone), ``issues-with-refs`` (every data-quality issue a
  DetectedIssue of its own referencing its input, as before issue 11's change).

    .venv/bin/python benchmarks/hapi_write_variants.py [--sizes 100,1000] [--repeats 8]
                                                      [--fhir-base URL --hapi-pid PID]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import uuid
from collections.abc import Callable
from html import escape
from typing import Any

import orjson
from hapi import NOW, cohort, floor_bundle, hapi_cpu, idle_rate, load

from bmefhir import sandbox
from bmefhir.fhir.client import FhirClient
from bmefhir.pipeline import process_patient
from bmefhir.render.bundle import Outputs, transaction_bundle
from bmefhir.render.resources import ref
from bmefhir.writeback import SNAPSHOT_HEADERS

_ASSESSMENT = ("DiagnosticReport", "ClinicalImpression", "RiskAssessment")
Variant = tuple[dict[str, Any], dict[str, str] | None]


def variants(outputs: Outputs, issues: list[tuple[str, str, str]]) -> dict[str, Variant]:
    first = transaction_bundle(outputs, {}, create_missing=True)

    def edit(change: Callable[[dict[str, Any]], None], headers: dict[str, str] | None = SNAPSHOT_HEADERS) -> Variant:
        bundle = copy.deepcopy(first)
        for entry in bundle["entry"]:
            change(entry)
        return bundle, headers

    def put_by_id(entry: dict[str, Any]) -> None:
        body = entry["resource"]
        if body["resourceType"] in _ASSESSMENT:
            body["id"] = entry["fullUrl"].removeprefix("urn:uuid:")
            entry["request"] = {"method": "PUT", "url": f"{body['resourceType']}/{body['id']}"}

    def no_entity(entry: dict[str, Any]) -> None:
        if entry["resource"]["resourceType"] == "Provenance":
            entry["resource"].pop("entity", None)

    def unversioned(entry: dict[str, Any]) -> None:
        for entity in entry["resource"].get("entity", []) if entry["resource"]["resourceType"] == "Provenance" else []:
            entity["what"]["reference"] = entity["what"]["reference"].split("/_history/")[0]

    def no_output_refs(entry: dict[str, Any]) -> None:
        for key in ("result", "imagingStudy", "investigation", "supportingInfo", "basis"):
            entry["resource"].pop(key, None)

    floor = floor_bundle(outputs)
    floor_bodies = {e["resource"]["resourceType"]: e["resource"] for e in floor["entry"]}

    def floor_content(entry: dict[str, Any]) -> None:
        kind = entry["resource"]["resourceType"]
        if kind in (*_ASSESSMENT, "Provenance"):
            body = {k: v for k, v in floor_bodies[kind].items() if k != "id"}
            body["identifier"] = entry["resource"].get("identifier", body.get("identifier"))
            if kind == "Provenance":
                body = {**body, "id": entry["resource"]["id"]}
                body.pop("identifier")
            entry["resource"] = body

    def issues_with_refs(entry: dict[str, Any]) -> None:
        body = entry["resource"]
        if body["resourceType"] == "DiagnosticReport" and issues:
            template = body["contained"][0]
            body["contained"] = [
                {
                    **template,
                    "id": f"dq{n}",
                    "implicated": ([ref(res)] if "/" in res and not res.startswith("Bundle.") else [])
                    + [ref("#", "this report")],
                    "detail": detail,
                    "text": {
                        "status": "generated",
                        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{escape(detail)}</p></div>',
                    },
                }
                for n, (res, detail, _) in enumerate(issues, start=1)
            ]

    return {
        "bmefhir": (first, SNAPSHOT_HEADERS),
        "floor": (floor, None),
        "put-by-id": edit(put_by_id),
        "no-prov-entity": edit(no_entity),
        "entity-unversioned": edit(unversioned),
        "no-output-refs": edit(no_output_refs),
        "no-snapshot-header": edit(lambda e: None, None),
        "floor-content-bmefhir-requests": edit(floor_content),
        "issues-with-refs": edit(issues_with_refs),
    }


def fresh(bundle: dict[str, Any], tag: str) -> dict[str, Any]:
    """The same transaction under new ids and identifiers, so each write is a first write (the shared
    Device keeps its identifier: every writer finds it)."""
    body = orjson.dumps(bundle)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Device":
            continue
        old = entry["fullUrl"].removeprefix("urn:uuid:")
        body = body.replace(old.encode(), str(uuid.uuid5(uuid.NAMESPACE_URL, old + tag)).encode())
        for ident in entry["resource"].get("identifier", []):
            value = ident["value"].encode()
            body = body.replace(b'"' + value + b'"', b'"' + value + b"-" + tag.encode() + b'"')
            body = body.replace(b"|" + value + b'"', b"|" + value + b"-" + tag.encode() + b'"')
    out: dict[str, Any] = orjson.loads(body)
    return out


def bench(base: str, pid: int | None, sizes: list[int], repeats: int) -> None:
    patients = [p for size in sizes for p in cohort(size, 1, realistic=True)]
    print(f"loaded {len(patients)} patients in {load(base, patients):.1f}s", flush=True)
    idle = idle_rate(pid)
    cpu: dict[tuple[str, str], list[float]] = {}
    with FhirClient(base, timeout=600.0) as client:
        for patient, items in patients:
            result = process_patient(items, NOW, patient_id=patient)
            issues = [
                (i.resource, f"{i.resource} {i.element}: {i.message}", i.severity)
                for i in result.analysis.record.issues
            ]
            found = variants(result.outputs, issues)
            for rep in range(repeats):
                names = list(found) if rep % 2 == 0 else list(reversed(found))
                for name in names:
                    bundle, headers = found[name]
                    bundle = fresh(bundle, f"{name}-{rep}-{time.time_ns()}")
                    c0, t0 = hapi_cpu(pid), time.perf_counter()
                    client.transaction(bundle, headers=headers)
                    cpu.setdefault((patient, name), []).append(hapi_cpu(pid) - c0 - idle * (time.perf_counter() - t0))
            floor = statistics.median(cpu[(patient, "floor")])
            print(f"\n## {patient}: {len(items)} resources, {len(issues)} data-quality issues, {repeats} repetitions")
            print("| variant | HAPI CPU ms min / median / max | median / floor |\n| --- | --- | --- |")
            for name in found:
                xs = [x * 1000 for x in cpu[(patient, name)]]
                ratio = statistics.median(cpu[(patient, name)]) / floor
                print(
                    f"| {name} | {min(xs):.0f} / {statistics.median(xs):.0f} / {max(xs):.0f} | {ratio:.2f} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--fhir-base")
    parser.add_argument("--hapi-pid", type=int)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.fhir_base:
        bench(args.fhir_base, args.hapi_pid, sizes, args.repeats)
        return
    with sandbox.running() as server:
        bench(server.base_url, server.pid, sizes, args.repeats)


if __name__ == "__main__":
    main()
