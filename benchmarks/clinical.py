"""The published-case benchmark: how bmefhir ranks real case reports of BME syndromes.

Runs every case in ``benchmarks/cases/*.yaml`` (facts from published case reports,
docs/clinical-benchmark.md) through ``bmefhir.pipeline.process_patient`` and prints, overall,
per final diagnosis and per tag: top-1, top-3, red-flag recall per must-not-miss diagnosis,
Brier score (multiclass over the ranking probabilities) and expected calibration error
(top-1 confidence, 10 bins); then the cases where a must-not-miss diagnosis ranked below a
benign one, the failing cases with the reason, and how often each next step appears and
whether it asks for data already on record.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/clinical.py            # coded findings
    PYTHONPATH=$PWD .venv/bin/python benchmarks/clinical.py --text     # findings as report text
    PYTHONPATH=$PWD .venv/bin/python benchmarks/clinical.py --write-passing   # rewrite passing.yaml
    PYTHONPATH=$PWD .venv/bin/python benchmarks/clinical.py --narrative [--language tr]  # narrative reports

The narrative form runs only the narrated cases (each in each language it has a report in) and prints, per
language and for the narrative-fix and held-out sets apart, coded against narrative: top-1, top-3, red-flag
recall, passing cases, and every case whose top-1 or red flags differ from its coded form.

Targets (issue 10 item 6): top-1 >= 90 %, top-3 = 100 %, every osteonecrosis, infection and
neoplasm case raises its red flag, ECE <= 0.10.
"""

from __future__ import annotations

import argparse
import time

from bmefhir.differential.knowledge_base import load_knowledge
from bmefhir.testing.cases import MUST_NOT_MISS, NARRATIVE_LANGUAGES, RED_FLAG_REQUIRED, Form
from bmefhir.testing.clinical import (
    CASES_DIR,
    NARRATIVE_PASSING_FILE,
    PASSING_FILE,
    CaseResult,
    Report,
    differs,
    evaluate_all,
    evaluate_narratives,
    figures,
    load_heldout,
    narrative_passing_yaml,
    narrative_readings,
    passing_yaml,
    step_use,
)

TARGET_TOP1 = 0.90
TARGET_TOP3 = 1.00
TARGET_ECE = 0.10
TARGET_STEP_SHARE = 0.5  # a diagnosis-dependent step in at most half of the cases (issue 10 item 2)


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def _flags(results: list[CaseResult]) -> str:
    f = figures(results)
    return ", ".join(f"{d[:3]} {f.red_flag_recall[d][0]}/{f.red_flag_recall[d][1]}" for d in MUST_NOT_MISS)


def narrative_main(language: str | None, show_heldout: bool, write_passing: bool) -> None:
    start = time.perf_counter()
    pairs = evaluate_narratives(language=language)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    heldout = load_heldout(key="narrative_heldout")
    print(f"published-case benchmark, narrative form: {len(pairs)} narrated case-languages in {elapsed:.1f} s")
    print(f"held out (narrative_heldout): {len(heldout)} cases\n")
    print(
        f"{'language / set':<26} {'n':>3} {'top-1 c/n':>13} {'top-3 c/n':>13} {'pass c/n':>9}"
        "  red flags coded | narrative"
    )
    languages = [language] if language else list(NARRATIVE_LANGUAGES)
    for lang in [*languages, "all"]:
        for name, keep in (("fix", False), ("held-out", True), ("both", None)):
            rows = [
                (c, n)
                for c, n in pairs
                if (lang == "all" or n.language == lang) and (keep is None or (c.case.id in heldout) == keep)
            ]
            if not rows:
                continue
            cs, ns = [c for c, _ in rows], [n for _, n in rows]
            fc, fn = figures(cs), figures(ns)
            print(
                f"{lang + ' / ' + name:<26} {len(rows):>3} {_pct(fc.top1)}/{_pct(fn.top1)}"
                f" {_pct(fc.top3)}/{_pct(fn.top3)}"
                f" {sum(r.passes for r in cs):>4}/{sum(r.passes for r in ns):<4}  {_flags(cs)} | {_flags(ns)}"
            )
    diff = [(c, n) for c, n in pairs if differs(c, n)]
    print(f"\nnarrative differs from coded in top-1 or red flags ({len(diff)} of {len(pairs)}):")
    for c, n in diff:
        mark = " (held out)" if c.case.id in heldout else ""
        print(f"  {c.case.id} [{n.language}]{mark}: {differs(c, n)}")
    print("\nfindings read from the narratives against the studies' facts (facts / missed / read, not a fact):")
    readings = {
        (c.case.id, n.language): narrative_readings(c.case, n.language) for c, n in pairs if n.language is not None
    }
    for lang in languages:
        for name, keep in (("fix", False), ("held-out", True)):
            rs = [r for (cid, lg), v in readings.items() if lg == lang and (cid in heldout) == keep for r in v]
            facts, missed, extra = (
                sum(r.facts for r in rs),
                sum(len(r.missed) for r in rs),
                sum(len(r.extra) for r in rs),
            )
            print(
                f"  {lang + ' / ' + name:<16} {len(rs):>3} reports  {facts:>4} facts"
                f"  {missed:>3} missed  {extra:>3} extra"
            )
    for (cid, lang), v in readings.items():
        if cid in heldout and not show_heldout:
            continue
        for r in v:
            for m in r.missed:
                print(f"  {cid} [{lang}] study {r.study}: missed {m}")
            for e in r.extra:
                print(f"  {cid} [{lang}] study {r.study}: extra {e}")
    warned = [n for _, n in pairs if n.data_quality]
    print(f"\nnarrative reports with data-quality warnings ({len(warned)}):")
    for n in warned:
        print(f"  {n.case.id} [{n.language}]: {'; '.join(n.data_quality)}")
    if write_passing:
        if language:
            raise SystemExit("--write-passing with --narrative covers every language: leave out --language")
        path = CASES_DIR / NARRATIVE_PASSING_FILE
        path.write_text(narrative_passing_yaml(n for _, n in pairs), encoding="utf-8")
        print(f"\nwrote {path} ({sum(n.passes for _, n in pairs)} passing narratives)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", action="store_true", help="findings as radiology report text, not coded")
    parser.add_argument("--narrative", action="store_true", help="the narrated cases as narrative reports")
    parser.add_argument("--language", choices=NARRATIVE_LANGUAGES, help="with --narrative: one language only")
    parser.add_argument(
        "--show-heldout", action="store_true", help="with --narrative: also list the held-out cases' reading errors"
    )
    parser.add_argument(
        "--write-passing",
        action="store_true",
        help=f"rewrite benchmarks/cases/{PASSING_FILE} (with --narrative: {NARRATIVE_PASSING_FILE})",
    )
    args = parser.parse_args()
    if args.narrative:
        narrative_main(args.language, args.show_heldout, args.write_passing)
        return
    form: Form = "text" if args.text else "coded"
    start = time.perf_counter()
    report = Report(form, evaluate_all(form), load_heldout())
    elapsed = time.perf_counter() - start
    results = report.results
    print(f"published-case benchmark, {form} form: {len(results)} cases in {elapsed:.1f} s\n")

    flag_cols = " ".join(f"{'RF ' + d[:10]:>14}" for d in MUST_NOT_MISS)
    print(f"{'category':<44} {'n':>3} {'top-1':>6} {'top-3':>6} {'Brier':>6} {'ECE':>5} {flag_cols}")
    for name, f in report.by_category.items():
        flags = " ".join(
            f"{(f'{f.red_flag_recall[d][0]}/{f.red_flag_recall[d][1]}' if f.red_flag_recall[d][1] else '-'):>14}"
            for d in MUST_NOT_MISS
        )
        print(f"{name:<44} {f.n:>3} {_pct(f.top1)} {_pct(f.top3)} {f.brier:6.3f} {f.ece:5.3f} {flags}")

    overall = report.by_category["all"]
    print("\ntargets:")
    print(f"  top-1 >= 90 %: {_pct(overall.top1)} {'met' if overall.top1 >= TARGET_TOP1 else 'NOT met'}")
    print(f"  top-3 = 100 %: {_pct(overall.top3)} {'met' if overall.top3 >= TARGET_TOP3 else 'NOT met'}")
    for d in RED_FLAG_REQUIRED:
        raised, n = overall.red_flag_recall[d]
        print(f"  every {d} case flags {d}: {raised}/{n} {'met' if raised == n else 'NOT met'}")
    print(f"  ECE <= 0.10: {overall.ece:.3f} {'met' if overall.ece <= TARGET_ECE else 'NOT met'}")

    below = [r for r in results if r.benign_above]
    print(f"\nmust-not-miss diagnosis ranked below a benign one ({len(below)}):")
    for r in below:
        print(f"  {r.case.id}: {r.case.diagnosis} rank {r.rank}, below {', '.join(r.benign_above)}")

    failing = [r for r in results if not r.passes]
    print(f"\nfailing cases ({len(failing)} of {len(results)}; pass = top-1 right and required red flag raised):")
    for r in failing:
        mark = " (held out)" if r.case.id in report.heldout else ""
        print(f"  {r.case.id}{mark}: {r.failure()}")

    uses = step_use(results)
    # A step gated on candidates (a trigger or a relevance gate) depends on the diagnosis; one without
    # either (a red flag, no imaging yet, a result already abnormal) is diagnosis-independent by design.
    gated = {s.id for s in load_knowledge().next_steps if s.plausible or s.relevant_to}
    print("\nnext steps (share of cases; 'repeats' = cases where the step asks for data already on record):")
    for s in uses:
        repeats = "n/a" if s.repeats is None else f"{s.repeats}"
        kind = "gated" if s.step in gated else "independent"
        print(f"  {s.step:<26} {s.cases:>3} cases {_pct(s.share)}  repeats {repeats:<4} {kind}")
    widest = max((s for s in uses if s.step in gated), key=lambda s: s.share, default=None)
    if widest is not None:
        ok = widest.share <= TARGET_STEP_SHARE
        print(
            f"  no gated step in more than half of the cases: widest {widest.step} {_pct(widest.share)}"
            f" {'met' if ok else 'NOT met'}"
        )
    repeated = sum(s.repeats or 0 for s in uses)
    print(f"  no step repeats data on record: {repeated} {'met' if repeated == 0 else 'NOT met'}")

    if args.write_passing:
        path = CASES_DIR / PASSING_FILE
        path.write_text(passing_yaml(results, form), encoding="utf-8")
        print(f"\nwrote {path} ({sum(r.passes for r in results)} passing cases)")


if __name__ == "__main__":
    main()
