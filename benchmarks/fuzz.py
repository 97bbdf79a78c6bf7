"""The large fuzz run: mutated examples and HL7 R4 examples through the file source, the REST API
and the CDS prefetch path (bmefhir.testing.fuzz), printing the counts that must all be 0.

    .venv/bin/python benchmarks/fuzz.py [--cases 10000] [--seed 13]

Prints, per path: inputs, crashes, hangs (> HANG_SECONDS), silent drops, 5xx, the slowest input;
then the cases per mutation class, wall time and peak memory. Exit status 1 when any count is not 0.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bmefhir.pipeline import warm_up
from bmefhir.testing.fuzz import (
    HANG_SECONDS,
    Tally,
    check_api,
    check_cds,
    check_files,
    generate,
    load_seeds,
    r4_package_dir,
)
from bmefhir.web import create_app
from bmefhir.web.settings import WebSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    package = r4_package_dir()
    if not package.is_dir():
        print(f"the HL7 R4 examples are missing at {package}: run scripts/fetch-r4-examples.sh", file=sys.stderr)
        return 2
    seeds = load_seeds(ROOT / "examples", package)
    warm_up(datetime.now(UTC))  # once-per-process loading (lingua's models: seconds) is not one input's hang
    settings = WebSettings(_env_file=None, dev=True, demo=True, public_url="http://127.0.0.1:8000")  # type: ignore[call-arg]
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    tallies = {"files": Tally(), "api": Tally(), "cds": Tally()}
    classes: Counter[str] = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n, case in enumerate(generate(seeds, args.cases, seed=args.seed), 1):
            classes[case.mutation] += 1
            tallies["files"].add(case, check_files(case, Path(work) / "in"))
            tallies["api"].add(case, check_api(client, case))
            tallies["cds"].add(case, check_cds(client, case))
            if n % 1000 == 0:
                print(f"  {n:,} inputs, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    print(f"{len(seeds)} seeds; {args.cases:,} inputs per path; hang = over {HANG_SECONDS:.0f} s")
    print(f"{'path':<6} {'inputs':>7} {'crashes':>8} {'hangs':>6} {'silent drops':>13} {'5xx':>5} {'slowest s':>10}")
    for path, t in tallies.items():
        print(
            f"{path:<6} {t.inputs:>7,} {t.crashes:>8} {t.hangs:>6} {t.silent_drops:>13} {t.server_errors:>5} "
            f"{t.slowest:>10.2f}"
        )
    print("per class: " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items())))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.0f} s wall, peak memory {peak:.0f} MiB")
    for path, t in tallies.items():
        for example in t.examples:
            print(f"  {path}: {example[:300]}")
    return 0 if all(t.clean for t in tallies.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
