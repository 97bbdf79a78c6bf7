"""Benchmark bmefhir against the local HAPI FHIR sandbox, per patient, at record sizes 10 to 5,000.

For each size it loads a few synthetic patients (``bmefhir.synth``; with ``--realistic``
the realistic US Core mix) and then, in at least three interleaved repetitions, measures per patient:

* **bmefhir**: fetch → analyse → write-back (``fetch_analyse_write``'s steps), once per read
  strategy in ``--fetch`` (``fetch_patient(strategy=...)``), a first write each time (the outputs
  are deleted, untimed, before each run);
* **floor**: a transaction writing the same four resources with every input reference
  removed (DiagnosticReport.result/imagingStudy and its DetectedIssues' implicated inputs,
  ClinicalImpression.investigation/supportingInfo, RiskAssessment.basis, Provenance.entity),
  under their own identifiers.

and prints, as min / median / max over the repetitions:

* HTTP requests and **server operations** (a batch counts its entries, a transaction 1,
  a page GET 1) for the read and the write;
* **adapter CPU** (this process) and its share of end-to-end wall time;
* **HAPI CPU** (utime + stime of the server process from ``/proc/<pid>/stat``, before and
  after) for the read, for bmefhir's write and for the floor write; the write/floor ratio;
* wall time, time inside HTTP calls, and ``http / wall``: the share of what a zero-CPU
  adapter (time inside HTTP calls only) would reach; and where the rest goes: wall time outside
  HTTP calls in the read (JSON decoding, screening, paging logic), the analysis and the write.

Targets (issue 11): <= 9 server operations per patient including the write; HAPI CPU of the
write <= 1.5x the floor; adapter CPU < 5 % of wall; http / wall >= 95 %.

    .venv/bin/python benchmarks/hapi.py [--sizes 10,100,1000,5000] [--patients 3] [--repeats 3]
                                        [--fhir-base URL --hapi-pid PID] [--realistic]
                                        [--fetch folded,searches,auto] [--skip-load] [--count N]
"""

from __future__ import annotations

import argparse
import gc
import inspect
import os
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import httpx
import orjson

from bmefhir import sandbox, synth
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.existing import existing_requests
from bmefhir.fhir.patient_fetch import DEFAULT_COUNT, FetchStrategy, fetch_patient, supports_everything
from bmefhir.pipeline import process_patient
from bmefhir.render.bundle import Outputs, transaction_bundle
from bmefhir.writeback import write_back

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PATIENTS_PER_BUNDLE = 10
_TICK = os.sysconf("SC_CLK_TCK")
_REFERENCE = re.compile(rb'"reference":"([A-Za-z]+/[A-Za-z0-9\-.]{1,64})"')


class CountingTransport(httpx.BaseTransport):
    """Time inside HTTP calls (request sent → body read), HTTP requests and server operations.

    ``seconds`` is the time during which at least one call was in progress (the union of the
    calls' intervals), so calls from two threads are not counted twice (the read pages ahead on a
    worker thread, ``bmefhir.fhir.pages_ahead``, one call at a time)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seconds = 0.0
        self.requests = 0
        self.operations = 0
        self._guard = threading.Lock()
        self._in_flight = 0
        self._busy_since = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        operations = _operations(request)
        with self._guard:
            self.requests += 1
            self.operations += operations
            if self._in_flight == 0:
                self._busy_since = time.perf_counter()
            self._in_flight += 1
        try:
            response = self.inner.handle_request(request)
            response.read()
        finally:
            with self._guard:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self.seconds += time.perf_counter() - self._busy_since
        return response

    def close(self) -> None:
        self.inner.close()


def _operations(request: httpx.Request) -> int:
    if request.method != "POST" or not request.content:
        return 1
    body = orjson.loads(request.content)
    if isinstance(body, dict) and body.get("type") == "batch":
        return len(body.get("entry") or [])
    return 1  # a transaction: one all-or-nothing operation


def hapi_cpu(pid: int | None) -> float:
    """Seconds of CPU (user + system) the server process has used so far; 0 without a pid."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15 of stat)


def hapi_memory(pid: int | None) -> str:
    """The server process's resident memory now and at its peak (``/proc/<pid>/status``)."""
    if pid is None:
        return "unknown (no pid)"
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return f"RSS {int(fields['VmRSS'].split()[0]) // 1024} MiB, peak {int(fields['VmHWM'].split()[0]) // 1024} MiB"


def page_cap(base: str) -> int:
    """The server's page size cap: the entries of a first page asked for with a large ``_count``."""
    with FhirClient(base, timeout=600.0) as client:
        page = next(client.search_bundles("Observation", {"_count": "100000", "_elements": "id"}))
    return len(page.get("entry") or [])


def idle_rate(pid: int | None, seconds: float = 5.0) -> float:
    """The server's CPU seconds per wall second while no request runs (its background jobs)."""
    c0, t0 = hapi_cpu(pid), time.perf_counter()
    time.sleep(seconds)  # a measurement window, not a wait for an event
    return (hapi_cpu(pid) - c0) / (time.perf_counter() - t0)


@dataclass
class Sample:
    """One patient, one repetition."""

    read_requests: int = 0
    read_ops: int = 0
    write_requests: int = 0
    write_ops: int = 0
    adapter_cpu: float = 0.0
    wall: float = 0.0
    http: float = 0.0
    hapi_read: float = 0.0
    hapi_write: float = 0.0
    hapi_floor: float = 0.0
    references: int = 0  # input references in the written outputs
    read_outside: float = 0.0  # wall seconds outside HTTP calls, per phase
    analyse_outside: float = 0.0
    write_outside: float = 0.0


@dataclass
class SizeResult:
    size: int
    reps: list[list[Sample]] = field(default_factory=list)  # per repetition, per patient

    def per_rep(self, value: Callable[[Sample], float]) -> list[float]:
        return [statistics.mean(value(s) for s in rep) for rep in self.reps]


def _input_reference_count(outputs: Outputs) -> int:
    ci, ra, dr, prov = (
        outputs.clinical_impression,
        outputs.risk_assessment,
        outputs.diagnostic_report,
        outputs.provenance,
    )
    contained = sum(1 for c in dr.get("contained", []) for i in c.get("implicated", []) if i.get("reference") != "#")
    return (
        contained
        + len(dr.get("result", []))
        + len(dr.get("imagingStudy", []))
        + sum(len(g.get("item", [])) for g in ci.get("investigation", []))
        + len(ci.get("supportingInfo", []))
        + len(ra.get("basis", []))
        + len(prov.get("entity", []))
    )


def floor_bundle(outputs: Outputs) -> dict[str, Any]:
    """The same four resources without input references, under identifiers of their own."""
    report = _without(outputs.diagnostic_report, ("result", "imagingStudy"))
    if "contained" in report:  # the data-quality DetectedIssues: keep them, without their input references
        report["contained"] = [
            {**c, "implicated": [i for i in c.get("implicated", []) if i.get("reference") == "#"]}
            for c in report["contained"]
        ]
    stripped = {
        "diagnostic_report": report,
        "clinical_impression": _without(outputs.clinical_impression, ("investigation", "supportingInfo")),
        "risk_assessment": _without(outputs.risk_assessment, ("basis",)),
        "provenance": _without(outputs.provenance, ("entity",)),
    }
    for key in ("diagnostic_report", "clinical_impression", "risk_assessment"):
        res = stripped[key]
        res["identifier"] = [{**res["identifier"][0], "value": res["identifier"][0]["value"] + "-floor"}]
    floor = replace(outputs, findings=(), **stripped)
    bundle = transaction_bundle(floor)
    prov_entry = bundle["entry"][-1]
    prov_entry["request"]["url"] = "Provenance"  # created, not PUT over bmefhir's fixed id
    prov_entry["request"]["method"] = "POST"
    del prov_entry["resource"]["id"]
    return bundle


def _without(resource: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in keys}


def plausible_padding(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move padding labs that ``synth_patient`` dates after NOW back into the patient's past.

    It spaces padding labs 3-30 days apart from two years before onset onwards, so at 5,000
    resources they run centuries into the future (each one a data-quality issue). A real
    record grows into the past instead: the excess goes back from the first lab, 5 days
    apart, wrapping after 20 years, and the density inside the analysis window stays as
    generated.
    """
    dated = [r for r in resources if r.get("resourceType") == "Observation" and "effectiveDateTime" in r]
    if not dated:
        return resources
    first = min(date.fromisoformat(r["effectiveDateTime"][:10]) for r in dated)
    late = [r for r in dated if r["effectiveDateTime"][:10] > str(NOW.date())]
    for k, res in enumerate(late, start=1):
        res["effectiveDateTime"] = (first - timedelta(days=5 * k % 7300 or 5)).isoformat()
    return resources


def cohort(size: int, patients: int, realistic: bool) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    kwargs: dict[str, Any] = {"seed": 11, "resources": size}
    if realistic:
        if "realistic" not in inspect.signature(synth.synth_cohort).parameters:
            raise SystemExit("--realistic: this bmefhir.synth.synth_cohort has no realistic records yet")
        kwargs["realistic"] = True
    for pid, items in synth.synth_cohort(patients, **kwargs):
        yield f"{pid}-r{size}", _renamed(plausible_padding(items), pid, f"{pid}-r{size}")


def _renamed(items: list[dict[str, Any]], old: str, new: str) -> list[dict[str, Any]]:
    """A distinct patient per size: every id and reference of ``old`` becomes ``new``."""
    return list(orjson.loads(orjson.dumps(items).replace(old.encode(), new.encode())))


def referenced_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every resource after the ones it refers to: a transaction of 1,000 must not refer ahead to a
    resource in a later one (HAPI refuses the reference)."""
    by_ref = {f"{r['resourceType']}/{r['id']}": r for r in items}
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()

    def visit(ref: str) -> None:
        stack = [(ref, False)]
        while stack:
            key, expanded = stack.pop()
            if key in done:
                continue
            if expanded:
                done.add(key)
                ordered.append(by_ref[key])
                continue
            stack.append((key, True))
            body = orjson.dumps(by_ref[key])
            for target in _REFERENCE.findall(body):
                name = target.decode()
                if name in by_ref and name not in done and name != key:
                    stack.append((name, False))

    for ref in by_ref:
        visit(ref)
    return ordered


def load(base: str, patients: list[tuple[str, list[dict[str, Any]]]]) -> float:
    started = time.perf_counter()
    with FhirClient(base, timeout=600.0) as client:
        for _, unordered in patients:
            items = referenced_first(unordered)
            for i in range(0, len(items), 1000):
                entries = [
                    {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                    for r in items[i : i + 1000]
                ]
                client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    return time.perf_counter() - started


def delete_outputs(client: FhirClient, pid: str, floor: dict[str, Any] | None) -> None:
    entries = [{"request": {"method": "DELETE", "url": r.url}} for r in existing_requests(pid)]
    if floor is not None:
        for e in floor["entry"][1:-1]:  # the floor's DR, CI, RA by identifier (Provenance: below)
            ident = e["resource"]["identifier"][0]
            entries.append(
                {
                    "request": {
                        "method": "DELETE",
                        "url": f"{e['resource']['resourceType']}?identifier={ident['system']}|{ident['value']}",
                    }
                }
            )
        entries.append({"request": {"method": "DELETE", "url": floor["provenance_location"]}})
    client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def measure(
    base: str,
    pid: int | None,
    patient: str,
    rep: int,
    strategies: list[FetchStrategy],
    floors: dict[str, Any],
    shapes: dict[str, Outputs],
    idle: float,
    count: int = DEFAULT_COUNT,
) -> dict[str, Sample]:
    """One patient, one repetition: bmefhir with each read strategy and the floor, in rotating order."""
    samples = {strategy: Sample() for strategy in strategies}
    floor_cpu = 0.0
    transport = CountingTransport()
    with FhirClient(base, transport=transport, timeout=600.0) as client:

        def bmefhir_run(strategy: FetchStrategy) -> None:
            sample = samples[strategy]
            delete_outputs(client, patient, floors.get(patient))  # untimed: every run is a first write
            floors.pop(patient, None)
            gc.collect()  # untimed: the garbage of earlier runs is not collected inside this one
            cpu0, wall0, http0 = time.process_time(), time.perf_counter(), transport.seconds
            req0, ops0 = transport.requests, transport.operations
            h0, t0 = hapi_cpu(pid), time.perf_counter()
            raw = fetch_patient(client, patient, strategy=strategy, count=count)
            h1, t1, http1 = hapi_cpu(pid), time.perf_counter(), transport.seconds
            sample.read_requests, sample.read_ops = transport.requests - req0, transport.operations - ops0
            result = process_patient(raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues)
            req0, ops0 = transport.requests, transport.operations
            h2, t2, http2 = hapi_cpu(pid), time.perf_counter(), transport.seconds
            write_back(client, raw, result)
            h3, t3 = hapi_cpu(pid), time.perf_counter()
            sample.read_outside = (t1 - t0) - (http1 - http0)
            sample.analyse_outside = (t2 - t1) - (http2 - http1)
            sample.write_outside = (t3 - t2) - (transport.seconds - http2)
            sample.write_requests, sample.write_ops = transport.requests - req0, transport.operations - ops0
            sample.wall = time.perf_counter() - wall0
            sample.adapter_cpu = time.process_time() - cpu0
            sample.http = transport.seconds - http0
            # net of the server's idle background (batch2 maintenance, GC), measured before the runs
            sample.hapi_read = h1 - h0 - idle * (t1 - t0)
            sample.hapi_write = h3 - h2 - idle * (t3 - t2)
            sample.references = _input_reference_count(result.outputs)

        def floor_run() -> None:
            nonlocal floor_cpu
            delete_outputs(client, patient, floors.pop(patient, None))
            bundle = floor_bundle(shapes[patient])
            h0, t0 = hapi_cpu(pid), time.perf_counter()
            response = client.transaction(bundle)
            floor_cpu = hapi_cpu(pid) - h0 - idle * (time.perf_counter() - t0)
            bundle["provenance_location"] = response["entry"][-1]["response"]["location"].split("/_history/")[0]
            floors[patient] = bundle

        runs: list[Callable[[], None]] = [floor_run, *(lambda s=s: bmefhir_run(s) for s in strategies)]
        shift = rep % len(runs)
        for run in runs[shift:] + runs[:shift]:
            run()
    for sample in samples.values():
        sample.hapi_floor = floor_cpu
    return samples


def fmt(values: list[float], scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    lo, mid, hi = min(values) * scale, statistics.median(values) * scale, max(values) * scale
    return f"{lo:.{digits}f} / {mid:.{digits}f} / {hi:.{digits}f}{unit}"


def report(result: SizeResult, strategy: str) -> None:
    r = result.per_rep
    print(
        f"\n## {result.size} resources per patient, read by {strategy} "
        f"({len(result.reps[0])} patients x {len(result.reps)} reps)"
    )
    rows = [
        ("HTTP requests: read + write", fmt(r(lambda s: s.read_requests + s.write_requests), digits=1)),
        ("server operations: read", fmt(r(lambda s: s.read_ops), digits=1)),
        ("server operations: write", fmt(r(lambda s: s.write_ops), digits=1)),
        ("server operations: total", fmt(r(lambda s: s.read_ops + s.write_ops), digits=1)),
        ("input references written", fmt(r(lambda s: s.references), digits=0)),
        ("wall ms", fmt(r(lambda s: s.wall), 1000)),
        ("adapter CPU ms", fmt(r(lambda s: s.adapter_cpu), 1000)),
        ("adapter CPU / wall", fmt(r(lambda s: s.adapter_cpu / s.wall), 100, unit=" %")),
        ("http / wall (vs zero-CPU adapter)", fmt(r(lambda s: s.http / s.wall), 100, unit=" %")),
        ("outside HTTP ms: read", fmt(r(lambda s: s.read_outside), 1000)),
        ("outside HTTP ms: analyse", fmt(r(lambda s: s.analyse_outside), 1000)),
        ("outside HTTP ms: write", fmt(r(lambda s: s.write_outside), 1000)),
        ("HAPI CPU ms: read", fmt(r(lambda s: s.hapi_read), 1000)),
        ("HAPI CPU ms: bmefhir write", fmt(r(lambda s: s.hapi_write), 1000)),
        ("HAPI CPU ms: floor write", fmt(r(lambda s: s.hapi_floor), 1000)),
        ("HAPI CPU write / floor", fmt(_ratios(result), digits=2)),
    ]
    print("| per patient | min / median / max |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


def _ratios(result: SizeResult) -> list[float]:
    """Per repetition: summed bmefhir write CPU over summed floor CPU (ticks are 10 ms: sum first)."""
    out = []
    for rep in result.reps:
        floor = sum(s.hapi_floor for s in rep)
        out.append(sum(s.hapi_write for s in rep) / floor if floor else float("nan"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000,5000", help="resources per patient, comma-separated")
    parser.add_argument("--patients", type=int, default=3, help="patients per size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--realistic", action="store_true", help="realistic US Core records (synth realistic=True)")
    parser.add_argument(
        "--fetch",
        default="folded,searches",
        help="read strategies to compare (fetch_patient strategy=: folded, the default; searches; auto, "
        "everything), comma-separated",
    )
    parser.add_argument("--fhir-base", help="an already running server (default: the sandbox)")
    parser.add_argument("--hapi-pid", type=int, help="the server's process id, for HAPI CPU (with --fhir-base)")
    parser.add_argument(
        "--skip-load",
        action="store_true",
        help="the cohort (same sizes, patients, --realistic) is on the server already, from an earlier run",
    )
    parser.add_argument(
        "--count", type=int, default=DEFAULT_COUNT, help="_count asked per page (the server caps it at its maximum)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    strategies = [cast(FetchStrategy, s) for s in args.fetch.split(",")]
    if args.fhir_base:
        bench(
            args.fhir_base,
            args.hapi_pid,
            sizes,
            args.patients,
            args.repeats,
            args.realistic,
            strategies,
            args.skip_load,
            args.count,
        )
        return
    with sandbox.running() as server:
        bench(
            server.base_url,
            server.pid,
            sizes,
            args.patients,
            args.repeats,
            args.realistic,
            strategies,
            count=args.count,
        )


def bench(
    base: str,
    pid: int | None,
    sizes: list[int],
    patients: int,
    repeats: int,
    realistic: bool,
    strategies: list[FetchStrategy],
    skip_load: bool = False,
    count: int = DEFAULT_COUNT,
) -> None:
    print(
        f"# benchmarks/hapi.py  {date.today()}  cores={os.cpu_count()}  sizes={sizes}  repeats={repeats}  "
        f"realistic={realistic}  read strategies={strategies}  _count={count}"
    )
    groups = {size: list(cohort(size, patients, realistic)) for size in sizes}
    for size, group in groups.items():
        if skip_load:
            print(f"{patients} patients x {size} resources: on the server already (--skip-load)")
        else:
            print(f"loaded {patients} patients x {size} resources in {load(base, group):.1f}s", flush=True)
    print(f"server page cap: {page_cap(base)} resources; HAPI memory before the runs: {hapi_memory(pid)}")
    with FhirClient(base) as client:  # once per server and process, not per patient
        print(f"server offers Patient $everything: {supports_everything(client)}")
    results = {(size, s): SizeResult(size) for size in sizes for s in strategies}
    idle = idle_rate(pid)
    print(f"HAPI idle background: {idle * 1000:.1f} ms CPU per s (subtracted from each HAPI CPU figure)")
    floors: dict[str, Any] = {}
    # The floor's four resources: bmefhir's outputs for the same record, rendered here (untimed).
    shapes = {p: process_patient(items, NOW, patient_id=p).outputs for group in groups.values() for p, items in group}
    # The cohort and the shapes live through the whole run: out of the collector's way, so a full collection
    # of them (~0.1 s at 5,000 resources) does not land in whichever run happens to allocate at the time.
    gc.collect()
    gc.freeze()
    for rep in range(repeats):
        for size in sizes:
            measured = [measure(base, pid, p, rep, strategies, floors, shapes, idle, count) for p, _ in groups[size]]
            for s in strategies:
                results[(size, s)].reps.append([m[s] for m in measured])
        print(f"repetition {rep + 1}/{repeats} done", flush=True)
    print(f"HAPI memory after the runs: {hapi_memory(pid)}; load average {os.getloadavg()}")
    for size in sizes:
        for s in strategies:
            report(results[(size, s)], s)


if __name__ == "__main__":
    main()
