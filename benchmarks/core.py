"""Benchmark the pure core on synthetic records of 10, 100 and 1,000 resources.

Prints, per record size: patients per second for the pure core (derive →
differential → render, from a built PatientRecord), for record building
(fhir.resources parsing + normalisation), and end to end; peak memory of one
pass; and time per resource relative to the smallest size (linearity). All
figures come from one run on one core, so ratios are comparable.

Then, for the text-only examples (imaging results only as report text), how much
reading the report text adds to the per-patient core time: extraction (every
``read_report`` call of building the record) over the core (derive → differential
→ render), measured in the same run, interleaved, repeated (min / median / max), with
the reader's line memo cleared before each pass (cold, the headline), as the pass
before left it (warm) and off.

Record building in detail (parser choice, relevance before validation against validating every
resource at 10 / 100 / 1,000 / 5,000 resources with realistic padding, the per-resource slope,
a 50,000-resource patient): ``--record-building`` runs ``benchmarks/record_building.py`` after
these figures.

    .venv/bin/python benchmarks/core.py [--patients N] [--repeats R] [--record-building]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bmefhir.normalize import build_record
from bmefhir.pipeline import analyse
from bmefhir.render.bundle import render_outputs, transaction_bundle
from bmefhir.reporttext import Reading, lines, read_report
from bmefhir.synth import synth_patient
from bmefhir.testing.examples import list_text_examples, load_bundle

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TARGET_PER_SECOND = 500  # issue 2: typical patients (~100 resources) per second on one core
TARGET_EXTRACTION_RATIO = 0.25  # issue 9: reading report text adds < 25 % to the per-patient core time


def _rate(n: int, fn: Callable[[int], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def _peak_kib(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=200, help="patients per size (fewer for 1,000)")
    parser.add_argument("--repeats", type=int, default=5, help="passes over the text-only examples")
    parser.add_argument("--record-building", action="store_true", help="then benchmarks/record_building.py")
    args = parser.parse_args()
    print(f"{'resources':>9} {'core p/s':>10} {'build p/s':>10} {'e2e p/s':>9} {'peak KiB':>9} {'µs/res core':>12}")
    base_per_resource: float | None = None
    for size in (10, 100, 1000):
        n = max(10, args.patients // (10 if size == 1000 else 1))
        raw = [synth_patient(i, seed=1, resources=size) for i in range(n)]
        records = [build_record(r) for r in raw]

        def core(i: int, records: list[Any] = records) -> Any:
            return transaction_bundle(render_outputs(analyse(records[i], NOW)))

        def build(i: int, raw: list[Any] = raw) -> Any:
            return build_record(raw[i])

        def e2e(i: int, raw: list[Any] = raw) -> Any:
            return transaction_bundle(render_outputs(analyse(build_record(raw[i]), NOW)))

        core(0)  # warm-up: loads the knowledge base and terminology tables once
        core_rate = _rate(n, core)
        build_rate = _rate(n, build)
        e2e_rate = _rate(n, e2e)
        peak = _peak_kib(lambda raw=raw: e2e(0, raw))
        per_res = 1e6 / core_rate / size
        base_per_resource = base_per_resource or per_res
        print(f"{size:>9} {core_rate:>10.0f} {build_rate:>10.0f} {e2e_rate:>9.0f} {peak:>9.0f} {per_res:>12.2f}")
    print(
        f"target: >= {TARGET_PER_SECOND} typical (100-resource) patients/s for the core on one core; "
        "µs/resource should stay flat as size grows (linear time)"
    )
    _report_text(args.repeats)
    if args.record_building:
        import record_building  # benchmarks/ is on the path when this script runs

        templates = record_building.r4_templates(record_building.r4_package_dir())
        record_building.measure_parsers(args.repeats)
        record_building.measure_building(args.repeats, 20, templates)
        record_building.measure_huge(templates)


class _TimedReader:
    """``read_report`` with a stopwatch: the extraction share of building a record."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.calls = 0

    def __call__(self, text: str, language: str | None) -> Reading:
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            return read_report(text, language)
        finally:
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu_start
            self.calls += 1


# The reader's memo of lines (bmefhir/reporttext/lines.py), per pass: "cold" clears it before the pass (lines met
# again within the pass, in this patient's reports or another's, are not read again), "warm" leaves what the pass
# before read, "off" reads every line. Cold is the headline.
_MODES = ("cold", "warm", "off")


def _set_mode(mode: str) -> None:
    """Cold: an empty memo; warm: as the pass before (a cold one) left it; off: none."""
    if mode == "cold":
        lines.set_memo_lines(lines.MEMO_LINES)  # also clears it
    elif mode == "off":
        lines.set_memo_lines(0)


def _report_text(repeats: int) -> None:
    bundles = [load_bundle(case.name, text=True) for case in list_text_examples()]
    records = [build_record([b]) for b in bundles]  # warm-up: loads every language's pipeline once
    for record in records:  # and the core's first-call costs, which made the first pass's ratio an outlier
        transaction_bundle(render_outputs(analyse(record, NOW)))
    ratios: dict[str, list[float]] = {m: [] for m in _MODES}
    cpu_ratios: dict[str, list[float]] = {m: [] for m in _MODES}
    e2e_ratios: dict[str, list[float]] = {m: [] for m in _MODES}
    per_text: dict[str, list[float]] = {m: [] for m in _MODES}
    calls = 0
    core_cpu_per_patient = 0.0
    for _ in range(repeats):
        for mode in _MODES:  # interleaved: a cold pass, then a warm one on what it read, then one without the memo
            _set_mode(mode)
            gc.collect()
            core = build = core_cpu = 0.0
            reader = _TimedReader()
            for bundle, record in zip(bundles, records, strict=True):  # interleaved: one patient, then its core
                start = time.perf_counter()
                build_record([bundle], read=reader)
                build += time.perf_counter() - start
                start, cpu_start = time.perf_counter(), time.process_time()
                transaction_bundle(render_outputs(analyse(record, NOW)))
                core += time.perf_counter() - start
                core_cpu += time.process_time() - cpu_start
            extraction = reader.seconds
            ratios[mode].append(extraction / core)
            cpu_ratios[mode].append(reader.cpu_seconds / core_cpu)
            # The same extraction against everything else a patient costs (record building without it + core).
            e2e_ratios[mode].append(extraction / (build - extraction + core))
            per_text[mode].append(1e3 * reader.cpu_seconds / max(reader.calls, 1))
            calls = reader.calls
            core_cpu_per_patient = 1e3 * core_cpu / len(bundles)
    lines.set_memo_lines(lines.MEMO_LINES)

    def spread(values: list[float], digits: int = 2) -> str:
        return (
            f"min {min(values):.{digits}f} median {statistics.median(values):.{digits}f} max {max(values):.{digits}f}"
        )

    print(
        f"\nreport text, {len(bundles)} text-only examples, {calls} texts read per pass, {repeats} passes per memo "
        f"mode (cold, warm, off interleaved); core {core_cpu_per_patient:.2f} ms CPU per patient (last pass)"
    )
    labels = {
        "cold": "COLD (headline: the line memo cleared before each pass)",
        "warm": "warm (the memo as the cold pass before left it)",
        "off": "off (no memo: every line read)",
    }
    for mode in _MODES:
        print(f"{labels[mode]}:")
        print(f"  extraction / core per patient, wall: {spread(ratios[mode])} (target < {TARGET_EXTRACTION_RATIO:.2f})")
        print(f"  the same in CPU time (process time): {spread(cpu_ratios[mode])}")
        print(f"  ms CPU per text: {spread(per_text[mode], 3)}")
        print(f"  extraction / (record building without it + core): {spread(e2e_ratios[mode])}")


if __name__ == "__main__":
    main()
