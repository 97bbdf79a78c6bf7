"""Sync throughput: load N synthetic patients into HAPI, then time a full sync and an incremental one.

    .venv/bin/python benchmarks/sync.py --n 1000                    # local pool (4 threads)
    .venv/bin/python benchmarks/sync.py --n 1000 --executor celery --workers 2
    .venv/bin/python benchmarks/sync.py --n 200 --fhir-base http://127.0.0.1:8080/fhir

Prints, for the full sync and for an incremental sync after 1% of patients changed:
patients/s, HTTP requests per patient and this process's peak RSS. Only the loaded
cohort is synced (``--since`` the load), so a shared server's other data does not count.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bmefhir.cli.synth import transaction_of
from bmefhir.fhir import FhirClient
from bmefhir.sync import LocalExecutor
from bmefhir.sync.discovery import server_time
from bmefhir.sync.executors import Executor
from bmefhir.sync.runner import SyncOptions, SyncSummary, sync_once
from bmefhir.sync.store import SyncStore
from bmefhir.synth import synth_cohort


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def server(base: str | None) -> Iterator[str]:
    if base:
        yield base
        return
    from bmefhir.sandbox import running

    with running() as sandbox:
        yield sandbox.base_url


def load(base: str, n: int, seed: int, resources: int) -> list[str]:
    ids: list[str] = []
    batch: list[list[dict[str, Any]]] = []
    with FhirClient(base, timeout=600) as client:
        for pid, res in synth_cohort(n, seed=seed, resources=resources):
            ids.append(pid)
            batch.append(res)
            if len(batch) == 50:
                client.transaction(transaction_of(batch))
                batch = []
        if batch:
            client.transaction(transaction_of(batch))
    return ids


def now_on_server(base: str) -> str:
    with FhirClient(base) as client:
        found = server_time(next(client.search_bundles("Patient", {"_count": 1, "_elements": "id"})))
    assert found is not None
    return found


def change(base: str, ids: list[str], fraction: float, rng: random.Random) -> list[str]:
    chosen = rng.sample(ids, max(1, round(len(ids) * fraction)))
    with FhirClient(base) as client:
        for pid in chosen:
            obs = next(client.search("Observation", {"patient": pid, "_count": 1}))
            obs.setdefault("note", []).append({"text": "benchmark change"})
            client.update(obs)
    return chosen


def executor_for(kind: str, workers: int) -> Executor:
    if kind == "local":
        return LocalExecutor(workers)
    from bmefhir.sync import celery_app

    made: Executor = celery_app.CeleryExecutor()
    return made


def row(label: str, s: SyncSummary) -> str:
    n = max(1, s.discovered)
    return (
        f"{label:<12} {s.discovered:>7} {s.written:>7} {s.unchanged:>9} {s.failed:>6} {s.seconds:>8.1f} "
        f"{s.discovered / s.seconds if s.seconds else 0:>10.1f} {s.requests / n:>9.2f} {peak_rss_mb():>9.0f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--resources", type=int, default=30, help="resources per patient")
    ap.add_argument("--executor", choices=["local", "celery"], default="local")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--fhir-base")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 1_000_000)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with server(args.fhir_base) as base:
        print(f"server {base}; executor {args.executor} x{args.workers}; {args.resources} resources/patient")
        header = "phase        patients written unchanged failed  seconds patients/s  req/pat  peakRSS"
        for n in args.n:
            seed = args.seed * 10 + n
            since = now_on_server(base)
            t0 = time.perf_counter()
            ids = load(base, n, seed, args.resources)
            print(f"\nN={n}: loaded {n * args.resources} resources in {time.perf_counter() - t0:.1f}s")
            print(header)
            with tempfile.TemporaryDirectory() as tmp:
                store = SyncStore(f"sqlite:///{Path(tmp) / 'sync.db'}")
                ex = executor_for(args.executor, args.workers)
                full = sync_once(store, base, options=SyncOptions(since=since, discovery="search"), executor=ex)
                print(row("full", full), flush=True)
                changed = change(base, ids, 0.01, rng)
                incremental = sync_once(
                    store, base, options=SyncOptions(discovery="search", overlap=timedelta(0)), executor=ex
                )
                print(row(f"incr {len(changed)}", incremental), flush=True)
                store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
