"""Measure the combination model (knowledge.yaml ``combination``) on the example patients.

Part 1, per diminishing ratio and uniform share, over the 13 examples (examples/expected.yaml):
top-1 correct, red flags kept, the largest and median probability of the leading candidate and how
many leaders are shown at 99 % or more.

Part 2, per ratio, over sparse versions of the examples (each fact a matched criterion used is
removed with probability 0.5, then 0.7; 60 draws per example, fixed seed; the label unchanged):
top-1 accuracy and the multi-class Brier score and log-loss of the labelled answer, at scale 1 and
at the best scale of a grid. Sparse records stand in for real ones, which rarely hold every sign:
a model that counts correlated evidence twice stays sure when a fact is missing and then turns out
wrong, which the proper scores penalise. The examples are synthetic and built to fit the criteria,
so the fitted scale is biased towards over-confidence; it is reported, not adopted.

It also prints how often each next step appears over the examples (issue 10 item 2).

    .venv/bin/python benchmarks/knowledge_model.py
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

from bmefhir.derive import derive
from bmefhir.derive.model import Derived
from bmefhir.differential.engine import run_differential
from bmefhir.differential.knowledge_base import KnowledgeBase, load_knowledge
from bmefhir.fhir.files import read_bundle
from bmefhir.normalize import build_record
from bmefhir.testing.examples import Expectation, list_examples

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # as tests/test_pipeline_examples.py
RATIOS = (1.0, 0.75, 0.5, 0.35, 0.2, 0.0)
UNCERTAINTIES = (0.0, 0.02, 0.05)
SCALES = (1.0, 1.5, 2.0, 3.0, 4.0)
DROP_RATES = (0.5, 0.7)
DRAWS = 60
SEED = 10

Run = tuple[Derived, Expectation]


def _cases() -> list[tuple[str, Derived, Expectation]]:
    out = []
    for case in list_examples():
        (raw,) = list(read_bundle(case.path))
        record = build_record(raw.resources, patient_id=raw.patient_id, source_issues=raw.issues)
        out.append((case.name, derive(record, NOW.date()), case.expectation))
    return out


def _used_facts(derived: Derived, kb: KnowledgeBase) -> list[str]:
    used: set[str] = set()
    for crit in kb.criteria:
        ok, names = crit.when.matches(derived.facts)
        if ok:
            used.update(names)
    return sorted(used)


def _sparse(cases: list[tuple[str, Derived, Expectation]], kb: KnowledgeBase, rate: float) -> list[Run]:
    rng = random.Random(SEED)
    runs: list[Run] = []
    for _, derived, exp in cases:
        used = _used_facts(derived, kb)
        for _ in range(DRAWS):
            drop = {name for name in used if rng.random() < rate}
            runs.append((replace(derived, facts={k: v for k, v in derived.facts.items() if k not in drop}), exp))
    return runs


def _scores(kb: KnowledgeBase, runs: list[Run]) -> tuple[float, float, float]:
    correct, brier, logloss = 0, 0.0, 0.0
    for derived, exp in runs:
        d = run_differential(derived, kb)
        probs = {c.code: c.probability for c in d.ranking}
        truth = max(exp.top, key=lambda code: probs[code])  # any accepted answer
        correct += d.ranking[0].code in exp.top
        brier += sum((p - (code == truth)) ** 2 for code, p in probs.items())
        logloss -= math.log(max(probs[truth], 1e-6))
    n = len(runs)
    return correct / n, brier / n, logloss / n


def main() -> None:
    base = load_knowledge()
    cases = _cases()
    print(f"Part 1: {len(cases)} examples (knowledge base scale {base.scale:g})")
    print("ratio  unc.  top-1  flags  max p   median p  leaders >= 0.99")
    for ratio in RATIOS:
        for unc in UNCERTAINTIES:
            kb = replace(base, combination_ratio=ratio, uncertainty=unc)
            tops, top1, flags_ok = [], 0, 0
            for _, derived, exp in cases:
                d = run_differential(derived, kb)
                top1 += d.ranking[0].code in exp.top and d.ranking[0].code not in exp.not_top
                flags_ok += set(exp.red_flags) <= {f.code for f in d.red_flags}
                tops.append(d.ranking[0].probability)
            print(
                f"{ratio:5.2f}  {unc:4.2f}  {top1:2d}/{len(cases)}  {flags_ok:2d}/{len(cases)}  {max(tops):.4f}  "
                f"{statistics.median(tops):.4f}    {sum(p >= 0.99 for p in tops):2d}"
            )
    for rate in DROP_RATES:
        runs = _sparse(cases, base, rate)
        print(f"\nPart 2: {len(runs)} sparse records, each used fact removed with probability {rate:g}")
        print("ratio  top-1   Brier@1  log-loss@1 | best scale  Brier   log-loss")
        for ratio in RATIOS:
            kb = replace(base, combination_ratio=ratio)
            acc, brier, logloss = _scores(kb, runs)
            fitted = min((_scores(replace(kb, scale=sc), runs)[1:], sc) for sc in SCALES)
            (best_brier, best_ll), best_scale = fitted
            print(
                f"{ratio:5.2f}  {acc:.4f}  {brier:.4f}   {logloss:.4f}     | {best_scale:4.1f}        "
                f"{best_brier:.4f}  {best_ll:.4f}"
            )
    print("\nNext steps over the examples (current knowledge base):")
    counts: Counter[str] = Counter()
    withheld: Counter[str] = Counter()
    for _, derived, _ in cases:
        d = run_differential(derived, base)
        counts.update(n.id for n in d.next_steps)
        withheld.update(w.id for w in d.withheld)
    for spec in base.next_steps:
        gated = bool(spec.relevant_to or spec.plausible)
        kind = "gated by plausibility" if gated else "diagnosis-independent trigger"
        print(f"  {spec.id:26s} {counts[spec.id]:2d}/{len(cases)}  withheld {withheld[spec.id]}  ({kind})")


if __name__ == "__main__":
    main()
