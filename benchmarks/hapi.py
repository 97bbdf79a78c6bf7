"""Benchmark bmefhir against the local HAPI FHIR sandbox: requests, server vs adapter time, throughput.

For the example patients and for a synthetic cohort (``bmefhir.synth``, loaded in
bulk as transaction bundles) it runs fetch → analyse → write-back per patient
twice (first write, then an unchanged re-run) and prints:

* HTTP requests per patient for the read and for the write-back;
* seconds per patient, split into server time (inside HTTP calls, body read
  included) and adapter time (the rest: parsing, analysis, rendering);
* adapter CPU (process time) as a share of wall time, and patients per second.

Targets (issue 3): <= 3 read requests and 1 write request per patient; adapter CPU < 10% of wall.

    .venv/bin/python benchmarks/hapi.py [--patients 1000] [--resources 100] [--fhir-base URL]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bmefhir import sandbox
from bmefhir.fhir.client import FhirClient
from bmefhir.sandbox.loading import load_bundles
from bmefhir.synth import synth_cohort
from bmefhir.testing.examples import examples_dir, list_examples
from bmefhir.writeback import fetch_analyse_write

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PATIENTS_PER_BUNDLE = 10


class TimedTransport(httpx.BaseTransport):
    """Measures the time spent waiting for the server (request sent → response body read)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seconds = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = self.inner.handle_request(request)
        response.read()
        self.seconds += time.perf_counter() - started
        return response

    def close(self) -> None:
        self.inner.close()


@dataclass
class Pass:
    name: str
    patients: int = 0
    read_requests: list[int] = field(default_factory=list)
    write_requests: list[int] = field(default_factory=list)
    wall: float = 0.0
    server: float = 0.0
    cpu: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)

    def row(self) -> str:
        n = max(self.patients, 1)
        adapter = self.wall - self.server
        return (
            f"{self.name:<28} {self.patients:>6} {statistics.mean(self.read_requests):>6.2f} "
            f"{statistics.mean(self.write_requests):>6.2f} {self.wall / n * 1000:>8.1f} {self.server / n * 1000:>8.1f} "
            f"{adapter / n * 1000:>8.1f} {self.cpu / self.wall * 100:>6.1f}% {self.patients / self.wall:>7.1f}  "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        )


HEADER = (
    f"{'pass':<28} {'pts':>6} {'read':>6} {'write':>6} {'ms/pt':>8} {'server':>8} {'adapter':>8} "
    f"{'cpu':>7} {'pts/s':>7}  outcomes\n"
    f"{'':<28} {'':>6} {'req/pt':>6} {'req/pt':>6} {'wall':>8} {'ms/pt':>8} {'ms/pt':>8} {'/wall':>7}"
)


def run_pass(base: str, name: str, patient_ids: list[str]) -> Pass:
    transport = TimedTransport()
    result = Pass(name)
    with FhirClient(base, transport=transport, timeout=120.0) as client:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for pid in patient_ids:
            before = client.requests_sent
            _, outcome = fetch_analyse_write(client, pid, NOW)
            result.write_requests.append(outcome.requests)
            result.read_requests.append(client.requests_sent - before - outcome.requests)
            result.statuses[outcome.status.value] = result.statuses.get(outcome.status.value, 0) + 1
            result.patients += 1
        result.wall = time.perf_counter() - wall0
        result.cpu = time.process_time() - cpu0
        result.server = transport.seconds
    return result


def cohort_bundles(patients: int, resources: int) -> Iterator[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for i, (_, items) in enumerate(synth_cohort(patients, seed=7, resources=resources), start=1):
        entries += [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in items
        ]
        if i % PATIENTS_PER_BUNDLE == 0 or i == patients:
            yield {"resourceType": "Bundle", "type": "transaction", "entry": entries}
            entries = []


def load_cohort(base: str, bundles: Iterable[dict[str, Any]]) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    with FhirClient(base, timeout=300.0) as client:
        for bundle in bundles:
            client.transaction(bundle)
            count += len(bundle["entry"])
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--resources", type=int, default=100, help="resources per synthetic patient")
    parser.add_argument("--fhir-base", help="an already running server (default: the sandbox)")
    args = parser.parse_args()

    if args.fhir_base:
        bench(args.fhir_base, args.patients, args.resources)
        return
    started = time.perf_counter()
    with sandbox.running() as server:
        print(f"sandbox ready at {server.base_url} after {time.perf_counter() - started:.1f}s (0 if reused)")
        bench(server.base_url, args.patients, args.resources)
        rss = _rss_mb(server.pid)
        if rss:
            print(f"HAPI resident memory after the benchmark: {rss:.0f} MB")


def bench(base: str, patients: int, resources: int) -> None:
    with FhirClient(base, timeout=120.0) as client:
        report = load_bundles(client, [examples_dir() / f"{c.name}.json" for c in list_examples()])
    print(f"examples: {report.bundles} bundles, {report.entries} entries loaded in {report.seconds:.1f}s")
    entries, seconds = load_cohort(base, cohort_bundles(patients, resources))
    print(
        f"synthetic: {patients} patients, {entries} resources loaded in {seconds:.1f}s "
        f"({entries / seconds:.0f} resources/s, {PATIENTS_PER_BUNDLE} patients per transaction)"
    )

    example_ids = [c.expectation.patient for c in list_examples()]
    synth_ids = [f"synth-7-{i:06d}" for i in range(patients)]
    print()
    print(HEADER)
    for name, ids in (("examples", example_ids), (f"synthetic x{patients}", synth_ids)):
        print(run_pass(base, f"{name}: first write", ids).row(), flush=True)
        print(run_pass(base, f"{name}: re-run (unchanged)", ids).row(), flush=True)


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


if __name__ == "__main__":
    main()
