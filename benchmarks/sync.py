"""Sync throughput: load N synthetic patients into HAPI, then time a full sync and an incremental one.

    .venv/bin/python benchmarks/sync.py --n 1000                    # local pool (4 threads)
    .venv/bin/python benchmarks/sync.py --n 1000 --executor celery --workers 2
    .venv/bin/python benchmarks/sync.py --n 200 --fhir-base http://127.0.0.1:8080/fhir

Prints, for the full sync and for an incremental sync after 1% of patients changed:
patients/s, HTTP requests per patient, how many were analysed and how many were recognised
as unchanged since their last analysis without analysing them ("same-inp"), and memory: "startRSS" is the sync process's
resident size when the phase starts, "syncRSS" its peak during the phase (the kernel's
high-water mark ``VmHWM``, reset before each phase) and, with Celery, "workersRSS" the
workers' peak summed over every worker process. The cohort is generated and uploaded
by a child process, so none of it stays in the sync process's heap.

Only the loaded cohort is synced (``--since`` the load), so a shared server's other data
does not count. Without ``--fhir-base`` a sandbox is started and stopped, by default on a
throwaway PostgreSQL cluster (``scripts/pg-test-server.sh``): with the in-memory H2
(``--hapi-db h2``) HAPI's own id look-ups slow down as the database grows, which would be
measured instead of the sync. JVM options: ``BMEFHIR_HAPI_JAVA_OPTS``.

With ``--executor celery`` the script starts a throwaway Redis
(``scripts/redis-test-server.sh``) and ``--workers`` ``bmefhir worker`` processes
(default concurrency: one prefork child per CPU), and stops them at the end.

**HAPI alone.** After the full sync, a sample of ``--sample`` patients is used to time
what the server alone needs for the same reads and writes:

1. their outputs are deleted (one transaction of conditional DELETEs per patient), so
   the server is back where the full sync found it;
2. each is processed once more in this process (fetch → analyse → write back) through
   a transport that records every POST it sends: the patient's batch read and its
   write-back transaction, byte for byte, with their headers (untimed);
3. the outputs are deleted again, and the recorded requests are replayed with plain
   httpx (no bmefhir code), ``--replay-threads`` patients at a time, each patient's
   batch then its transaction, and timed.

The ratio printed is (full sync seconds per patient) / (replay seconds per patient):
1.0 means the sync adds nothing to the server's own time. The sync's figure also
carries discovery (``Patient?_elements=id`` pages) and the state store; the replay
carries neither. The incremental sync has no replay baseline (its If-Match versions
are spent once written); its cost is judged by requests per changed patient.

**Re-analysed vs changed.** Then another 1% of the patients get a new Observation and
a sync runs with a look-back window over the whole cohort load (what the 5-minute
overlap did after a load: every patient is found again). It prints how many patients
discovery found, how many had changed, how many were re-analysed and how many were
recognised as unchanged (``bmefhir.sync.fingerprint``); then the same window once more
with ``reanalyse=True`` (every discovered patient analysed, the behaviour before the
fingerprints), interleaved ``--repeat`` times with a fingerprint run over the same window
(nothing changed), for the time ratio with min/median/max.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bmefhir.cli.synth import transaction_of
from bmefhir.fhir import FhirClient
from bmefhir.fhir.existing import existing_requests
from bmefhir.sync import LocalExecutor
from bmefhir.sync.discovery import server_time
from bmefhir.sync.executors import Executor
from bmefhir.sync.runner import SyncOptions, SyncSummary, sync_once
from bmefhir.sync.store import SyncStore
from bmefhir.synth import synth_cohort
from bmefhir.writeback import fetch_analyse_write

REPO = Path(__file__).resolve().parent.parent
# HAPI answers every $export status poll with Retry-After: 120; the sandbox finishes an export in
# seconds, so polls are capped at 2 s (bmefhir sync --export-poll-max) to time the sync, not the wait.
POLL = timedelta(seconds=2)
START_TIMEOUT = 900.0  # seconds for the sandbox to start: a loaded shared machine stretches HAPI start-up

Recorded = tuple[str, dict[str, str], bytes]  # url, headers, body


# ------------------------------------------------------------------ memory


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (prefork children of a Celery worker)."""
    found = [pid]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            found.extend(_tree(int(child)))
    return found


def reset_peak(pids: list[int]) -> None:
    """Reset the kernel's RSS high-water mark (``VmHWM``) of these processes."""
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def _status_mb(pid: int, field: str) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS")


# ------------------------------------------------------------------ server, cohort


@contextlib.contextmanager
def server(base: str | None, database: str) -> Iterator[str]:
    """``base`` as given, or a private sandbox on in-memory H2 or a throwaway PostgreSQL."""
    if base:
        yield base
        return
    from bmefhir.sandbox import running

    if database == "h2":
        with running(timeout=START_TIMEOUT) as sandbox:
            yield sandbox.base_url
        return
    pg_script = str(REPO / "scripts/pg-test-server.sh")
    pg_dir = tempfile.mkdtemp(prefix="bmefhir-bench-pg-")  # in /tmp: the cluster may run as `postgres`
    url = subprocess.run([pg_script, "start", pg_dir], capture_output=True, text=True, check=True).stdout
    try:
        with running(database=url.strip(), timeout=START_TIMEOUT) as sandbox:
            yield sandbox.base_url
    finally:
        subprocess.run([pg_script, "stop", pg_dir], check=False)
        shutil.rmtree(pg_dir, ignore_errors=True)


def load(base: str, n: int, seed: int, resources: int, per_transaction: int, realistic: bool = False) -> list[str]:
    ids: list[str] = []
    batch: list[list[dict[str, Any]]] = []
    with FhirClient(base, timeout=600) as client:
        for pid, res in synth_cohort(n, seed=seed, resources=resources, realistic=realistic):
            ids.append(pid)
            batch.append(res)
            if len(batch) == per_transaction:
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


def add_observations(base: str, ids: list[str], fraction: float, rng: random.Random) -> list[str]:
    """A new Observation (a copy of one of the patient's, new id) for a fraction of the patients."""
    chosen = rng.sample(ids, max(1, round(len(ids) * fraction)))
    with FhirClient(base) as client:
        for pid in chosen:
            obs = next(client.search("Observation", {"patient": pid, "_count": 1}))
            new = {k: v for k, v in obs.items() if k not in ("id", "meta")}
            client.update({**new, "id": f"{obs['id']}-new"})
    return chosen


def change(base: str, ids: list[str], fraction: float, rng: random.Random) -> list[str]:
    chosen = rng.sample(ids, max(1, round(len(ids) * fraction)))
    with FhirClient(base) as client:
        for pid in chosen:
            obs = next(client.search("Observation", {"patient": pid, "_count": 1}))
            obs.setdefault("note", []).append({"text": "benchmark change"})
            client.update(obs)
    return chosen


# ------------------------------------------------------------------ HAPI alone


class RecordingTransport(httpx.BaseTransport):
    """Sends as usual and keeps every POST (batch reads, transactions) for replay."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.posts: list[Recorded] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            keep = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept", "prefer")}
            self.posts.append((str(request.url), keep, request.read()))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def delete_outputs(base: str, pids: list[str]) -> None:
    """Conditional DELETE of each patient's four outputs and Provenance, in one transaction per patient."""
    with FhirClient(base, timeout=120) as client:
        for pid in pids:
            entries = [{"request": {"method": "DELETE", "url": r.url}} for r in existing_requests(pid)]
            client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def record(base: str, pids: list[str]) -> list[list[Recorded]]:
    now = datetime.now(UTC)
    recorded = []
    for pid in pids:
        transport = RecordingTransport()
        with FhirClient(base, timeout=120, transport=transport) as client:
            fetch_analyse_write(client, pid, now, count=SyncOptions().page_size)
        recorded.append(transport.posts)
    return recorded


def replay(recorded: list[list[Recorded]], threads: int) -> float:
    """Seconds for plain httpx to send the recorded requests, ``threads`` patients at a time."""
    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=threads)) as http:

        def one(posts: list[Recorded]) -> None:
            for url, headers, body in posts:
                http.post(url, headers=headers, content=body).raise_for_status()

        with ThreadPoolExecutor(threads) as pool:
            t0 = time.perf_counter()
            list(pool.map(one, recorded))
            return time.perf_counter() - t0


def hapi_alone(base: str, pids: list[str], threads: int) -> tuple[float, int]:
    """(replay seconds, requests replayed) for ``pids``; see the module docstring."""
    delete_outputs(base, pids)
    recorded = record(base, pids)
    delete_outputs(base, pids)
    return replay(recorded, threads), sum(len(p) for p in recorded)


# ------------------------------------------------------------------ executors


@contextlib.contextmanager
def executor(kind: str, workers: int, tmp: Path, per_worker: int | None = None) -> Iterator[tuple[Executor, list[int]]]:
    """The executor and the pids of the worker processes it uses (none for the local pool)."""
    concurrency = ["--concurrency", str(per_worker)] if per_worker else []
    if kind == "local":
        yield LocalExecutor(workers), []
        return
    from bmefhir.sync import celery_app

    started = subprocess.run(
        [str(REPO / "scripts/redis-test-server.sh")], capture_output=True, text=True, check=True
    ).stdout.split()
    url, redis_dir = started[0], started[1]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        celery_app.configure(celery_app.CelerySettings(broker_url=url))
        env = {**os.environ, "BMEFHIR_BROKER_URL": url}
        cli = str(Path(sys.executable).parent / "bmefhir")
        for i in range(workers):
            with open(tmp / f"worker{i}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [cli, "worker", "--loglevel", "WARNING", *concurrency], env=env, stdout=log, stderr=log
                    )
                )
        deadline = time.monotonic() + 90
        while len(celery_app.app.control.ping(timeout=1.0) or []) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"Celery workers did not start; see {tmp}/worker*.log")
        yield celery_app.CeleryExecutor(), [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run([str(REPO / "scripts/redis-test-server.sh"), "stop", redis_dir], check=False)


# ------------------------------------------------------------------ report


HEADER = (
    "phase        patients analysed same-inp written unchanged failed  seconds patients/s  req/pat "
    "startRSS  syncRSS workersRSS"
)


def run_phase(
    label: str, workers: list[int], store: SyncStore, base: str, options: SyncOptions, ex: Executor
) -> SyncSummary:
    procs = [os.getpid(), *(p for w in workers for p in _tree(w))]
    reset_peak(procs)
    start_rss = rss_mb(os.getpid())
    s = sync_once(store, base, options=options, executor=ex)
    n = max(1, s.discovered)
    worker_rss = sum(peak_mb(p) for w in workers for p in _tree(w))
    print(
        f"{label:<12} {s.discovered:>8} {s.analysed:>8} {s.inputs_unchanged:>8} {s.written:>7} {s.unchanged:>9} "
        f"{s.failed:>6} {s.seconds:>8.1f} "
        f"{s.discovered / s.seconds if s.seconds else 0:>10.1f} {s.requests / n:>8.2f} "
        f"{start_rss:>6.0f}MB {peak_mb(os.getpid()):>6.0f}MB {f'{worker_rss:.0f}MB' if workers else '-':>10}",
        flush=True,
    )
    return s


def _spread(values: list[float]) -> str:
    return f"{min(values):.1f}/{statistics.median(values):.1f}/{max(values):.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--resources", "--resources-per-patient", type=int, default=30, help="resources per patient")
    ap.add_argument(
        "--realistic",
        action="store_true",
        help="US Core-shaped records with unrelated history (bmefhir synth --realistic)",
    )
    ap.add_argument("--per-transaction", type=int, default=100, help="patients per load transaction")
    ap.add_argument("--executor", choices=["local", "celery"], default="local")
    ap.add_argument("--workers", type=int, default=4, help="local threads, or Celery worker processes")
    ap.add_argument("--sample", type=int, default=50, help="patients replayed for the HAPI-alone baseline (0: none)")
    ap.add_argument("--replay-threads", type=int, default=4)
    ap.add_argument("--worker-concurrency", type=int, help="tasks at once per Celery worker (default: CPUs)")
    ap.add_argument("--fhir-base")
    ap.add_argument(
        "--discovery", choices=["search", "export"], default="search", help="_lastUpdated searches or Bulk $export"
    )
    ap.add_argument("--hapi-db", choices=["postgresql", "h2"], default="postgresql", help="sandbox database")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 1_000_000)
    ap.add_argument(
        "--repeat", type=int, default=3, help="interleaved repetitions of the fingerprint/reanalyse runs (0: none)"
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmpdir, server(args.fhir_base, args.hapi_db) as base:
        tmp = Path(tmpdir)
        jvm = os.environ.get("BMEFHIR_HAPI_JAVA_OPTS", "default")
        print(
            f"server {base} ({args.hapi_db if not args.fhir_base else 'given'}; JVM {jvm}); "
            f"executor {args.executor} x{args.workers}; discovery {args.discovery}; {args.resources} resources/patient"
            f"{' (realistic)' if args.realistic else ''}"
        )
        by_n: list[tuple[int, float, float, str]] = []  # N, patients/s, peak sync RSS MB, full / HAPI alone
        with executor(args.executor, args.workers, tmp, args.worker_concurrency) as (ex, workers):
            for n in args.n:
                seed = args.seed * 10 + n
                since = now_on_server(base)
                t0 = time.perf_counter()
                # In a child process, so that the cohort's generation and upload do not stay in
                # this process's heap and count as the sync's memory.
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as loader:
                    ids = loader.submit(
                        load, base, n, seed, args.resources, args.per_transaction, args.realistic
                    ).result()
                print(f"\nN={n}: loaded {n * args.resources} resources in {time.perf_counter() - t0:.1f}s")
                print(HEADER)
                store = SyncStore(f"sqlite:///{tmp / f'sync-{n}.db'}")
                first = SyncOptions(since=since, discovery=args.discovery, export_poll_max=POLL)
                full = run_phase("full", workers, store, base, first, ex)
                full_peak = peak_mb(os.getpid())
                peaks = [full_peak]
                changed = change(base, ids, 0.01, rng)
                incremental = SyncOptions(discovery=args.discovery, overlap=timedelta(0), export_poll_max=POLL)
                run_phase(f"incr {len(changed)}", workers, store, base, incremental, ex)
                peaks.append(peak_mb(os.getpid()))
                added = add_observations(base, ids, 0.01, rng)
                window = SyncOptions(since=since, discovery=args.discovery, export_poll_max=POLL)
                delta = run_phase(f"window +{len(added)}", workers, store, base, window, ex)
                peaks.append(peak_mb(os.getpid()))
                again = replace(window, reanalyse=True)
                times: dict[str, list[float]] = {"fingerprints": [], "reanalyse": []}
                for rep in range(args.repeat):  # interleaved, the order alternating
                    for name in ("reanalyse", "fingerprints") if rep % 2 == 0 else ("fingerprints", "reanalyse"):
                        s = run_phase(name[:12], workers, store, base, again if name == "reanalyse" else window, ex)
                        times[name].append(s.seconds)
                print(
                    f"re-analysed vs changed: window over the load found {delta.discovered}, changed {len(added)}, "
                    f"re-analysed {delta.analysed} ({delta.analysed / len(added):.2f} per changed patient), "
                    f"recognised unchanged {delta.inputs_unchanged}",
                    flush=True,
                )
                fast, slow = times["fingerprints"], times["reanalyse"]
                if args.repeat:
                    print(
                        f"same window, nothing changed, {args.repeat} interleaved repetitions (min/median/max s): "
                        f"fingerprints {_spread(fast)}, reanalyse every one {_spread(slow)}; "
                        f"reanalyse / fingerprints = "
                        f"{statistics.median(slow) / statistics.median(fast):.1f}x (medians)",
                        flush=True,
                    )
                store.close()
                if args.sample:
                    sample = rng.sample(sorted(set(ids) - set(changed)), min(args.sample, n - len(changed)))
                    seconds, requests = hapi_alone(base, sample, args.replay_threads)
                    alone = seconds / len(sample)
                    per_patient = full.seconds / max(1, full.discovered)
                    print(
                        f"HAPI alone: {len(sample)} patients, {requests} requests replayed in {seconds:.1f}s "
                        f"({len(sample) / seconds:.1f} patients/s, {args.replay_threads} threads); "
                        f"full sync / HAPI alone = {per_patient / alone:.2f}",
                        flush=True,
                    )
                    ratio = f"{per_patient / alone:.2f}"
                else:
                    ratio = "-"
                by_n.append((n, full.discovered / full.seconds if full.seconds else 0.0, max(peaks), ratio))
                print("\nN       full patients/s  peak sync RSS (full, incr, window)  full / HAPI alone", flush=True)
                for row in by_n:
                    print(f"{row[0]:<7} {row[1]:>15.1f} {row[2]:>30.0f}MB {row[3]:>18}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
