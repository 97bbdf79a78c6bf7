"""CDS Hooks ``patient-view``: latency per call, with a full prefetch and without one.

Starts ``bmefhir serve`` as its own process pinned to one core (the service under test gets one
warm core; this script, the client, runs on the others), warms it up, then times real HTTP calls
for several record sets, interleaved: each repetition runs every set once, in turn, so a busy
moment on a shared machine hits every set alike. Prints p50 and p95 per set for each repetition
and their min / median / max over the repetitions: the wall time the client waits, and the CPU
time the service's threads spent on the call (from ``/proc/<pid>/task/*/schedstat``), which a
shared machine's load does not inflate the way it inflates wall time.

Each set is sent twice over: as a **first view** (every call's resources at a new
``meta.versionId``, so no validation verdict is memoised: ``bmefhir.normalize.parse``) and as a
**repeat view** (the same prefetches again, as when a chart is opened again).

With a full prefetch nothing is fetched: the time is parsing, the pipeline and the cards. Without a
prefetch the service reads the patient from the HAPI sandbox (started or reused, examples loaded
under run-unique ids). The service runs in development mode (no client JWT): verifying one ES384
signature against a cached key set adds well under a millisecond and is left out.

``--baseline DIR`` runs a second service from another checkout of bmefhir (e.g. ``git worktree add
/tmp/before main``) pinned to the same core, and times every set against both in each repetition, in
alternating order: before and after measured in one run, interleaved. ``--sets`` picks record sets by
a part of their name (``--sets '1,000 resources'``).

Target (issue 11): with a full prefetch, p95 < 100 ms on one warm core.

    .venv/bin/python benchmarks/cds.py [--repeats 3] [--calls 20] [--no-fetch] [--in-process]
                                       [--baseline DIR] [--sets NAME ...]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from web.harness import free_port, load_examples, run_prefix

from bmefhir import sandbox
from bmefhir.fhir.files import read_bundle
from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES
from bmefhir.synth import synth_patient
from bmefhir.testing.examples import list_examples, list_text_examples
from bmefhir.web.cds_routes import SERVICE_ID

TARGET_P95_MS = 100.0
VIEWS = ("first view", "repeat view")
SERVICE = f"/cds-services/{SERVICE_ID}"
Json = dict[str, Any]


def prefetch_of(resources: list[Json]) -> tuple[str, Json]:
    """The Patient and one searchset per type, as a CDS client prefetches with the service's templates."""
    prefetch: Json = {kind: {"resourceType": "Bundle", "type": "searchset", "entry": []} for kind in PATIENT_SEARCHES}
    patient = ""
    for resource in resources:
        if resource["resourceType"] == "Patient":
            prefetch["patient"], patient = resource, resource["id"]
        elif resource["resourceType"] in prefetch:
            prefetch[resource["resourceType"]]["entry"].append({"resource": resource, "search": {"mode": "match"}})
    return patient, prefetch


def hook(patient: str, **extra: Any) -> bytes:
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": patient, "userId": "Practitioner/example"},
    }
    return json.dumps(body | extra).encode()


def synth(resources: int, count: int) -> list[list[Json]]:
    """US Core-shaped records: the BME-relevant resources buried among vital signs, labs, encounters."""
    return [synth_patient(i, resources=resources, realistic=True) for i in range(count)]


def prefetched_sets() -> dict[str, list[bytes]]:
    def bodies(records: list[list[Json]]) -> list[bytes]:
        out = []
        for resources in records:
            patient, prefetch = prefetch_of(resources)
            out.append(hook(patient, prefetch=prefetch))
        return out

    def bundles(cases: Any) -> list[list[Json]]:
        return [list(next(iter(read_bundle(c.path))).resources) for c in cases]

    return {
        "examples, coded": bodies(bundles(list_examples())),
        "examples, report text": bodies(bundles(list_text_examples())),
        "realistic, 100 resources": bodies(synth(100, 10)),
        "realistic, 1,000 resources": bodies(synth(1000, 5)),
    }


ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def service(issuers: list[str], core: int, root: Path = ROOT) -> Iterator[tuple[str, int]]:
    """``bmefhir serve`` of the checkout ``root``, pinned to ``core``; yields its URL and pid once
    discovery answers."""
    port = free_port()
    env = os.environ | {
        "BMEFHIR_WEB_DEV": "true",
        "BMEFHIR_WEB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BMEFHIR_WEB_ALLOWED_ISSUERS": json.dumps(issuers),
        "PYTHONPATH": str(root),
    }
    command = [
        sys.executable,
        "-c",
        "from bmefhir.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(
        command,
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # serve warms the pipeline up first (slow on a busy machine)
        while True:  # readiness: the discovery document answers
            if process.poll() is not None:
                raise SystemExit(f"bmefhir serve exited with {process.returncode}")
            try:
                if httpx.get(url + "/cds-services", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("bmefhir serve did not answer within 300 s")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def first_view(body: bytes, n: int) -> bytes:
    """The same hook call with every prefetched resource at a new version: content never seen."""
    call = orjson.loads(body)
    for key, value in call["prefetch"].items():
        resources = [value] if key == "patient" else [e["resource"] for e in value.get("entry", [])]
        for resource in resources:
            resource.setdefault("meta", {})["versionId"] = f"bench-{n}"
    return orjson.dumps(call)


def service_cpu_ns(pid: int) -> int:
    """CPU time of every thread of process ``pid`` so far (schedstat: ns on the CPU)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):  # a thread that just ended
            continue
    return total


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank


_calls = itertools.count()


def timed_calls(
    client: httpx.Client, pid: int, bodies: list[bytes], calls: int, fresh: bool
) -> tuple[list[float], list[float]]:
    """Wall ms and service CPU ms per call."""
    times, cpu = [], []
    for i in range(calls):
        body = first_view(bodies[i % len(bodies)], next(_calls)) if fresh else bodies[i % len(bodies)]
        before = service_cpu_ns(pid)
        start = time.perf_counter()
        answer = client.post(SERVICE, content=body, headers={"content-type": "application/json"})
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((service_cpu_ns(pid) - before) / 1e6)
        if answer.status_code != 200:
            raise SystemExit(f"the service answered {answer.status_code}: {answer.text[:200]}")
    return times, cpu


def spread(values: list[float]) -> str:
    return f"{min(values):7.1f} {statistics.median(values):7.1f} {max(values):7.1f}"


def in_process(sets: dict[str, list[bytes]], repeats: int) -> None:
    """CPU time (this thread) of the pipeline and the cards alone, on the same prefetches: no HTTP.
    First view: the validation memo emptied before each call; repeat view: kept."""
    from datetime import UTC, datetime

    from bmefhir.normalize.parse import MEMO
    from bmefhir.pipeline import analyse_patient
    from bmefhir.render.cards import cds_cards

    now = datetime.now(UTC)
    records = {name: [_resources(json.loads(body)) for body in bodies] for name, bodies in sets.items()}
    for resources in (r for rs in records.values() for r in rs):  # warm-up
        cds_cards(analyse_patient(resources, now))
    gc.freeze()  # as ``bmefhir serve`` does after its warm-up
    views = [(f"{name}, {view}", rs, view) for name, rs in records.items() for view in ("first view", "repeat view")]
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in views}
    for _ in range(max(3, repeats)):
        for label, rs, view in views:
            times = []
            if view == "repeat view":  # each record seen once before (a first view may have emptied the memo)
                for resources in rs:
                    cds_cards(analyse_patient(resources, now))
            for resources in rs:
                if view == "first view":
                    MEMO.clear()
                start = time.thread_time()
                cds_cards(analyse_patient(resources, now))
                times.append((time.thread_time() - start) * 1000)
            results[label].append((statistics.median(times), p95(times)))
    print(f"\nin process, CPU ms\n{'set':48} {'p50 min/med/max ms':>24}   {'p95 min/med/max ms':>24}")
    for label, figures in results.items():
        print(f"{label:48} {spread([f[0] for f in figures]):>24}   {spread([f[1] for f in figures]):>24}")


def _resources(body: Json) -> list[Json]:
    prefetch = body["prefetch"]
    out = [prefetch["patient"]]
    for kind, bundle in prefetch.items():
        if kind != "patient":
            out += [e["resource"] for e in bundle.get("entry", [])]
    return out


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown CPU",
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, {model}; load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (at least 3)")
    parser.add_argument("--calls", type=int, default=20, help="calls per set per repetition")
    parser.add_argument("--no-fetch", action="store_true", help="skip the calls without prefetch (no HAPI)")
    parser.add_argument("--in-process", action="store_true", help="time analyse_patient + cds_cards only")
    parser.add_argument("--baseline", type=Path, help="another bmefhir checkout, timed interleaved as 'before'")
    parser.add_argument("--sets", nargs="+", help="only the record sets whose name contains one of these")
    args = parser.parse_args()
    sets = prefetched_sets()
    first_call = sets["examples, report text"][:1]
    if args.sets:
        sets = {name: bodies for name, bodies in sets.items() if any(w in name for w in args.sets)}
    print(f"machine: {machine()}")
    print(f"target: with a full prefetch, p95 < {TARGET_P95_MS:.0f} ms")
    if args.in_process:
        in_process(sets, args.repeats)
        print(f"machine after: {machine()}")
        return
    core = max(os.sched_getaffinity(0))
    print(f"service pinned to core {core} of {os.cpu_count()}; client on the others")
    roots = {"": ROOT} if args.baseline is None else {"before": args.baseline.resolve(), "after": ROOT}

    def run(issuers: list[str], fetched: list[bytes]) -> None:
        runs = [(f"{name}, {view}", bodies, view == "first view") for name, bodies in sets.items() for view in VIEWS]
        runs += [("examples, fetched from HAPI (no prefetch)", fetched, False)] if fetched else []
        with ExitStack() as stack:
            services = {}
            for label, root in roots.items():
                url, pid = stack.enter_context(service(issuers, core, root))
                client = stack.enter_context(httpx.Client(base_url=url, timeout=300))
                services[label] = (client, pid)
                # The first call after start-up, on a report-text record (the reader's pipelines load lazily)
                first_wall, first_cpu = timed_calls(client, pid, first_call, 1, fresh=True)
                print(
                    f"{label + ': ' if label else ''}first call after start-up: {first_wall[0]:.0f} ms wall, "
                    f"{first_cpu[0]:.0f} ms service CPU"
                )
                for _, bodies, fresh in runs:  # warm-up; a repeat view's records are each seen once before
                    timed_calls(client, pid, bodies, len(bodies), fresh=fresh)
            results: dict[str, list[tuple[float, float, float, float]]] = {
                _label(label, run_label): [] for run_label, _, _ in runs for label in services
            }
            order = list(services)
            for repetition in range(max(3, args.repeats)):
                for run_label, bodies, fresh in runs:
                    for label in order if repetition % 2 == 0 else order[::-1]:  # alternate which goes first
                        client, pid = services[label]
                        times, cpu = timed_calls(client, pid, bodies, args.calls, fresh)
                        figures = (statistics.median(times), p95(times), statistics.median(cpu), p95(cpu))
                        results[_label(label, run_label)].append(figures)
        head = f"{'p50':>7}{'min/med/max':>16}  {'p95':>7}{'min/med/max':>16}"
        print(f"\n{'':56} {'wall ms':^49}   {'service CPU ms':^49}")
        print(f"{'set':56} {head}   {head}")
        for label, figures in results.items():
            cols = [spread([f[k] for f in figures]) for k in range(4)]
            print(f"{label:56} {cols[0]}  {cols[1]}   {cols[2]}  {cols[3]}")
        print(f"machine after: {machine()}")

    if args.no_fetch:
        run([], [])
        return
    with sandbox.running() as hapi:
        patients = load_examples(hapi.base_url, run_prefix())
        auth = {"access_token": "benchmark", "token_type": "Bearer", "scope": "patient/*.read"}
        fetched = [hook(p, fhirServer=hapi.base_url, fhirAuthorization=auth) for p in patients.values()]
        run([hapi.base_url], fetched)


def _label(service_label: str, run_label: str) -> str:
    return f"{service_label}: {run_label}" if service_label else run_label


if __name__ == "__main__":
    main()
