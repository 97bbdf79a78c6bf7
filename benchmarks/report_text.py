"""Measure bmefhir's report-text reader on the labelled corpus: quality per language and concept, and speed.

Prints precision / recall / F1 of affirmed findings per language and per concept, assertion accuracy
per language, the failing passage ids, and passages read per second on one core over the whole
corpus (min / median / max of ``--repeat`` passes), with the reader's line memo cleared before each
pass (cold, the headline), filled (warm) and off. Scoring rule: ``bmefhir.testing.report_corpus``
and docs/report-text.md.

    .venv/bin/python benchmarks/report_text.py [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from bmefhir.reporttext import lines, read_report
from bmefhir.testing.report_corpus import Counts, load_corpus, score_readings

TARGET_F1 = 0.95  # affirmed findings, per language
TARGET_ASSERTION_ACCURACY = 0.95  # per language
TARGET_PER_SECOND = 200  # passages per second on one core
# Passages written from other published case reports than the seeds (source "published case...: <citation>"):
# scored apart as well, a check against tuning the reader to the rest of the corpus.
PUBLISHED_PREFIX = "published "
MODES = ("cold", "warm", "off")  # the reader's line memo per timed pass (see below)


def _row(name: str, c: Counts) -> str:
    return f"{name:<40} {c.gold:>5} {c.predicted:>5} {c.precision:>6.3f} {c.recall:>6.3f} {c.f1:>6.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the whole corpus (>= 3)")
    args = parser.parse_args()
    repeat = max(3, args.repeat)
    passages = load_corpus()

    readings = [read_report(p.text, p.language) for p in passages]  # also the warm-up: loads models once
    score = score_readings(passages, readings)

    header = f"{'':<40} {'gold':>5} {'pred':>5} {'P':>6} {'R':>6} {'F1':>6}"
    print(f"{len(passages)} passages; affirmed findings per language\n{header}")
    for language, counts in score.by_language.items():
        print(_row(language, counts))
    print(_row("all", score.overall))
    print(f"\naffirmed findings per concept\n{header}")
    for concept, counts in score.by_concept.items():
        print(_row(concept, counts))
    print(f"\n{'assertion accuracy':<40} {'matched':>7} {'correct':>7} {'acc':>6}")
    for language, a in score.assertions.items():
        accuracy = f"{a.accuracy:>6.3f}" if a.matched else "   n/a"  # nothing matched: no accuracy to claim
        print(f"{language:<40} {a.matched:>7} {a.correct:>7} {accuracy}")
    failing = score.failing
    published = [(p, r) for p, r in zip(passages, readings, strict=True) if p.source.startswith(PUBLISHED_PREFIX)]
    if published:
        held = score_readings([p for p, _ in published], [r for _, r in published])
        print(f"\n{len(published)} passages from other published cases; affirmed findings per language\n{header}")
        for language, counts in held.by_language.items():
            print(_row(language, counts))
        print(_row("all", held.overall))
        for language, a in held.assertions.items():
            accuracy = f"{a.accuracy:>6.3f}" if a.matched else "   n/a"
            print(f"{'assertion accuracy ' + language:<40} {a.matched:>7} {a.correct:>7} {accuracy}")
        print(f"failing: {len(held.failing)} of {len(published)}")
    print(f"\nfailing passages: {len(failing)} of {len(passages)}")
    for result in score.results:
        if not result.passed:
            print(f"  {result.describe()}")

    # The readings do not depend on the reader's line memo (bmefhir/reporttext/lines.py).
    lines.set_memo_lines(0)
    without = [read_report(p.text, p.language) for p in passages]
    lines.set_memo_lines(lines.MEMO_LINES)
    print(f"\nreadings identical without the line memo: {'yes' if without == readings else 'NO'}")

    # Wall clock and this process's CPU time: on a shared machine the wall-clock rate also measures how much of a
    # core the scheduler gave us; CPU seconds measure the reader alone. Per pass, the line memo is cleared first
    # (cold, the headline), left as the cold pass before filled it (warm), or off; the modes are interleaved.
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    cpu_rates: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(repeat):
        for mode in MODES:
            if mode == "cold":
                lines.set_memo_lines(lines.MEMO_LINES)  # empty
            elif mode == "off":
                lines.set_memo_lines(0)
            gc.collect()
            start, cpu_start = time.perf_counter(), time.process_time()
            for p in passages:
                read_report(p.text, p.language)
            rates[mode].append(len(passages) / (time.perf_counter() - start))
            cpu_rates[mode].append(len(passages) / (time.process_time() - cpu_start))
    lines.set_memo_lines(lines.MEMO_LINES)
    labels = {"cold": "COLD (headline: memo cleared before each pass)", "warm": "warm (memo filled)", "off": "no memo"}
    print(f"\nspeed over {len(passages)} passages, {repeat} passes per memo mode, interleaved")
    for mode in MODES:
        print(
            f"{labels[mode]}: passages/s on one core min {min(rates[mode]):.0f}  median "
            f"{statistics.median(rates[mode]):.0f}  max {max(rates[mode]):.0f}; per CPU second (process time) "
            f"min {min(cpu_rates[mode]):.0f}  median {statistics.median(cpu_rates[mode]):.0f}  "
            f"max {max(cpu_rates[mode]):.0f}"
        )
    print(
        f"targets: F1 >= {TARGET_F1} (affirmed) and assertion accuracy >= {TARGET_ASSERTION_ACCURACY} per language; "
        f">= {TARGET_PER_SECOND} passages/s (cold)"
    )
    met_quality = all(c.f1 >= TARGET_F1 for c in score.by_language.values()) and all(
        a.matched > 0 and a.accuracy >= TARGET_ASSERTION_ACCURACY for a in score.assertions.values()
    )
    met_speed = statistics.median(rates["cold"]) >= TARGET_PER_SECOND
    print(f"quality target {'met' if met_quality else 'NOT met'}; speed target {'met' if met_speed else 'NOT met'}")


if __name__ == "__main__":
    main()
