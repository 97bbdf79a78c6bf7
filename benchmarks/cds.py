"""CDS Hooks ``patient-view``: latency per call, with a full prefetch and without one.

Starts ``bmefhir serve`` as its own process pinned to one core (the service under test gets one
warm core; this script, the client, runs on the others), warms it up, then times real HTTP calls
for several record sets, interleaved: each repetition runs every set once, in turn, so a busy
moment on a shared machine hits every set alike. Prints p50 and p95 per set for each repetition
and their min / median / max over the repetitions.

With a full prefetch nothing is fetched: the time is parsing, the pipeline and the cards. Without a
prefetch the service reads the patient from the HAPI sandbox (started or reused, examples loaded
under run-unique ids). The service runs in development mode (no client JWT): verifying one ES384
signature against a cached key set adds well under a millisecond and is left out.

Target (issue 11): with a full prefetch, p95 < 100 ms on one warm core.

    .venv/bin/python benchmarks/cds.py [--repeats 3] [--calls 20] [--no-fetch] [--in-process]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from web.harness import free_port, load_examples, run_prefix

from bmefhir import sandbox
from bmefhir.fhir.files import read_bundle
from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES
from bmefhir.synth import synth_patient
from bmefhir.testing.examples import list_examples, list_text_examples
from bmefhir.web.cds_routes import SERVICE_ID

TARGET_P95_MS = 100.0
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


@contextmanager
def service(issuers: list[str], core: int) -> Iterator[str]:
    """``bmefhir serve`` pinned to ``core``; yields its URL once discovery answers."""
    port = free_port()
    env = os.environ | {
        "BMEFHIR_WEB_DEV": "true",
        "BMEFHIR_WEB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BMEFHIR_WEB_ALLOWED_ISSUERS": json.dumps(issuers),
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
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # readiness: the discovery document answers
            if process.poll() is not None:
                raise SystemExit(f"bmefhir serve exited with {process.returncode}")
            try:
                if httpx.get(url + "/cds-services", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("bmefhir serve did not answer within 120 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank


def timed_calls(client: httpx.Client, bodies: list[bytes], calls: int) -> list[float]:
    times = []
    for i in range(calls):
        start = time.perf_counter()
        answer = client.post(SERVICE, content=bodies[i % len(bodies)], headers={"content-type": "application/json"})
        times.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"the service answered {answer.status_code}: {answer.text[:200]}")
    return times


def spread(values: list[float]) -> str:
    return f"{min(values):7.1f} {statistics.median(values):7.1f} {max(values):7.1f}"


def in_process(sets: dict[str, list[bytes]], repeats: int) -> None:
    """CPU time (this thread) of the pipeline and the cards alone, on the same prefetches: no HTTP."""
    from datetime import UTC, datetime

    from bmefhir.pipeline import analyse_patient
    from bmefhir.render.cards import cds_cards

    now = datetime.now(UTC)
    records = {name: [_resources(json.loads(body)) for body in bodies] for name, bodies in sets.items()}
    for resources in (r for rs in records.values() for r in rs):  # warm-up
        cds_cards(analyse_patient(resources, now))
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in sets}
    for _ in range(max(3, repeats)):
        for name, rs in records.items():
            times = []
            for resources in rs:
                start = time.thread_time()
                cds_cards(analyse_patient(resources, now))
                times.append((time.thread_time() - start) * 1000)
            results[name].append((statistics.median(times), p95(times)))
    print(f"\nin process, CPU ms\n{'set':42} {'p50 min/med/max ms':>24}   {'p95 min/med/max ms':>24}")
    for name, figures in results.items():
        print(f"{name:42} {spread([f[0] for f in figures]):>24}   {spread([f[1] for f in figures]):>24}")


def _resources(body: Json) -> list[Json]:
    prefetch = body["prefetch"]
    out = [prefetch["patient"]]
    for kind, bundle in prefetch.items():
        if kind != "patient":
            out += [e["resource"] for e in bundle.get("entry", [])]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (at least 3)")
    parser.add_argument("--calls", type=int, default=20, help="calls per set per repetition")
    parser.add_argument("--no-fetch", action="store_true", help="skip the calls without prefetch (no HAPI)")
    parser.add_argument("--in-process", action="store_true", help="time analyse_patient + cds_cards only")
    args = parser.parse_args()
    sets = prefetched_sets()
    if args.in_process:
        in_process(sets, args.repeats)
        return
    core = max(os.sched_getaffinity(0))
    print(f"service pinned to core {core} of {os.cpu_count()}; client on the others")

    def run(issuers: list[str]) -> None:
        with service(issuers, core) as url, httpx.Client(base_url=url, timeout=60) as client:
            for bodies in sets.values():  # warm-up: imports, knowledge base, spaCy pipelines, first JSON
                timed_calls(client, bodies, len(bodies))
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in sets}
            for _ in range(max(3, args.repeats)):
                for name, bodies in sets.items():
                    times = timed_calls(client, bodies, args.calls)
                    results[name].append((statistics.median(times), p95(times)))
        print(f"\n{'set':42} {'p50 min/med/max ms':>24}   {'p95 min/med/max ms':>24}")
        for name, figures in results.items():
            p50s, p95s = [f[0] for f in figures], [f[1] for f in figures]
            print(f"{name:42} {spread(p50s):>24}   {spread(p95s):>24}")

    print(f"target: with a full prefetch, p95 < {TARGET_P95_MS:.0f} ms")
    if args.no_fetch:
        run([])
        return
    with sandbox.running() as hapi:
        patients = load_examples(hapi.base_url, run_prefix())
        auth = {"access_token": "benchmark", "token_type": "Bearer", "scope": "patient/*.read"}
        fetched = [hook(p, fhirServer=hapi.base_url, fhirAuthorization=auth) for p in patients.values()]
        sets["examples, fetched from HAPI (no prefetch)"] = fetched
        run([hapi.base_url])


if __name__ == "__main__":
    main()
