"""Is the pipeline's memory flat in N? ``process_patient`` over N synthetic patients in one process, RSS sampled.

The sync benchmark (``benchmarks/sync.py``) reports a whole sync process's peak, which also holds the sync's own
state; this isolates the pipeline: the same realistic records (``synth_patient(..., realistic=True)``), one after the
other, the resident size after a collection at fixed points. Bounded memos (the report reader's lines, validation
verdicts, relevance) fill over the first thousands of patients; after that the figure should not move.

    .venv/bin/python benchmarks/pipeline_memory.py [--n 15000] [--resources 30] [--seed 21]
"""

from __future__ import annotations

import argparse
import gc
from datetime import UTC, datetime
from pathlib import Path

from bmefhir.pipeline import process_patient, settle
from bmefhir.synth import synth_patient

NOW = datetime(2026, 6, 1, tzinfo=UTC)
_POINTS = (500, 1000, 2000, 4000, 6000, 8000, 10000, 12000, 15000, 20000, 30000, 50000)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=15000, help="patients")
    parser.add_argument("--resources", type=int, default=30, help="resources per patient")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    points = sorted({p for p in _POINTS if p < args.n} | {args.n})
    print(f"start: RSS {rss_mb():.0f} MB", flush=True)
    for i in range(args.n):
        process_patient(synth_patient(i, seed=args.seed, resources=args.resources, realistic=True), NOW)
        if i == 0:
            settle()  # as every entry point does after its first analysis
        if i + 1 in points:
            gc.collect()
            print(f"after {i + 1:>6} patients: RSS {rss_mb():.0f} MB", flush=True)


if __name__ == "__main__":
    main()
