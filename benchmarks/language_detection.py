"""What language detection costs a fresh process at first use, and how accurate each way of detecting is.

Three parts (docs/report-text.md "Language detection at first use"), each printed when it is done:

* **first use**: for each way of building lingua's detector, ``--repeat`` fresh processes (interleaved) each time
  one short English text's detection from scratch (building the detector included, importing lingua not), then a
  Turkish and a German one; CPU and wall seconds and the peak RSS, min / median / max. ``this`` is
  ``bmefhir.reporttext.language.detect_latin`` as it stands; ``before`` is how it was built up to 2026-12-02
  (every model of the 16 candidates preloaded).
* **accuracy** on short unhinted samples (< 120 characters, where lingua's full mode was used): every sentence
  of the English and Turkish corpus passages, and ``tests/reporttext/language_samples.yaml`` (other languages,
  which must come out as "not ours"); per way of detecting, right answers and the samples the full mode over all
  16 got right and it gets wrong.
* **the CLI**: ``bmefhir analyze`` of one patient whose only report is a short text without a language, in fresh
  processes, this tree against ``--base`` (another checkout, e.g. main), interleaved; CPU (user + system of the
  child) and wall seconds.

    PYTHONPATH=. .venv/bin/python benchmarks/language_detection.py [--repeat 5] [--base /path/to/main]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml
from lingua import Language as LinguaLanguage

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "reporttext" / "language_samples.yaml"
SHORT = 120  # below this, the full (1- to 5-gram) mode; from it on, trigrams only (language.py)
FIRST_TEXTS = (
    "MRI left hip: bone marrow edema of the femoral head.",
    "Sağ kalça MRG: femur başında kemik iliği ödemi.",
    "MRT linke Hüfte: Knochenmarködem des Femurkopfes.",
)
# Ways of building the detector, each run in a fresh process (``--child``).
BUILDS = ("before", "lazy-full-16", "lazy-full-8", "lazy-full-2", "lazy-low-16", "this")


def _candidates(count: int) -> tuple[LinguaLanguage, ...]:
    from bmefhir.reporttext.language import _CANDIDATES

    return _CANDIDATES[:count]  # English, Turkish, then German, French, Spanish, Italian, Portuguese, Dutch, ...


def _child(build: str) -> None:
    """One fresh process: time the first detections with ``build``; prints one JSON line."""
    from lingua import LanguageDetectorBuilder

    from bmefhir.reporttext import language

    def detector() -> object:
        if build == "this":
            return None
        count = int(build.rsplit("-", 1)[1]) if build != "before" else 16
        builder = LanguageDetectorBuilder.from_languages(*_candidates(count))
        if build == "before":
            builder = builder.with_preloaded_language_models()
        if "low" in build:
            builder = builder.with_low_accuracy_mode()
        return builder.build()

    def detect(d: object, text: str) -> object:
        return language.detect_latin(text) if d is None else d.detect_language_of(text)  # type: ignore[attr-defined]

    language.set_detections(0)  # every call detects
    cpu, wall = time.process_time(), time.perf_counter()
    d = detector()
    first = detect(d, FIRST_TEXTS[0])
    first_cpu, first_wall = time.process_time() - cpu, time.perf_counter() - wall
    rest = [detect(d, t) for t in FIRST_TEXTS[1:]]
    three_cpu = time.process_time() - cpu
    rss = _peak_rss_mb()
    print(json.dumps({"cpu": first_cpu, "wall": first_wall, "three_cpu": three_cpu, "rss": rss,
                      "found": [str(x) for x in (first, *rest)]}))  # fmt: skip


def _peak_rss_mb() -> float:
    """This process's peak resident size (``VmHWM``: reset by exec, unlike ``ru_maxrss``, which a child
    started from a big parent inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: may include the parent's


def _spread(values: list[float], digits: int = 2) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))


def first_use(repeat: int) -> None:
    runs: dict[str, list[dict[str, float]]] = {b: [] for b in BUILDS}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeat):
        for build in BUILDS:  # interleaved: each round runs every build once
            out = subprocess.run(
                [sys.executable, __file__, "--child", build], env=env, capture_output=True, text=True, check=True
            )
            runs[build].append(json.loads(out.stdout))
    print(f"\nfirst use in a fresh process ({repeat} each, min / median / max; load average {os.getloadavg()[0]:.1f})")
    print(f"{'build':<14} {'first: CPU s':>20} {'first: wall s':>20} {'3 texts: CPU s':>20} {'peak RSS MB':>18}  found")
    for build, rows in runs.items():
        print(
            f"{build:<14} {_spread([r['cpu'] for r in rows]):>20} {_spread([r['wall'] for r in rows]):>20} "
            f"{_spread([r['three_cpu'] for r in rows]):>20} {_spread([r['rss'] for r in rows], 0):>18}  "
            f"{rows[0]['found']}"
        )


def _short_samples() -> list[tuple[str | None, str, str]]:
    """(expected "en"/"tr"/None, text, group) of every short sample."""
    from bmefhir.reporttext.language import _LETTER, _PIECE
    from bmefhir.testing.report_corpus import load_corpus

    out: list[tuple[str | None, str, str]] = []
    for p in load_corpus():
        if p.language in ("en", "tr"):
            for m in _PIECE.finditer(p.text):
                piece = m.group().strip()
                if len(_LETTER.findall(piece)) >= 3 and len(piece) < SHORT:
                    out.append((p.language, piece, f"corpus {p.language} sentences"))
    data = yaml.safe_load(SAMPLES.read_text(encoding="utf-8"))
    for group, expected in (("ours", True), ("not_ours", False), ("hard", False)):
        for lang, texts in data[group].items():
            label = f"samples {group}" if group != "hard" else f"hard {lang}"
            out += [(lang if expected else None, t, label) for t in texts]
    return out


def accuracy() -> None:
    from lingua import LanguageDetectorBuilder

    from bmefhir.reporttext import language

    language.set_detections(0)
    samples = _short_samples()
    full = LanguageDetectorBuilder.from_languages(*language._CANDIDATES).build()
    low = LanguageDetectorBuilder.from_languages(*language._CANDIDATES).with_low_accuracy_mode().build()

    def ours(found: object) -> str | None:
        return language._LINGUA.get(found) if found is not None else None  # type: ignore[call-overload]

    ways = {
        "full 16 (before)": lambda t: ours(full.detect_language_of(t)),
        "low 16": lambda t: ours(low.detect_language_of(t)),
        "this (trio)": language.detect_latin,
    }
    right: Counter[tuple[str, str]] = Counter()
    lost: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    timing: dict[str, float] = {}
    for name, way in ways.items():
        answers = [way(t) for _, t, _ in samples]  # also loads what it needs
        cpu = time.process_time()
        for _, t, _ in samples:
            way(t)
        timing[name] = (time.process_time() - cpu) / len(samples) * 1000
        for (expected, _, group), got in zip(samples, answers, strict=True):
            right[name, group] += got == expected
            if name == next(iter(ways)):
                totals[group] += 1
        if name != next(iter(ways)):
            base = [ways["full 16 (before)"](t) for _, t, _ in samples]
            lost[name] = sum(b == e and g != e for (e, _, _), b, g in zip(samples, base, answers, strict=True))
    print(f"\naccuracy on {len(samples)} short unhinted samples (right / of)")
    groups = list(totals)
    print(f"{'way':<18} " + " ".join(f"{g:>24}" for g in groups) + f" {'lost vs full':>13} {'ms CPU/call':>12}")
    for name in ways:
        cells = " ".join(f"{f'{right[name, g]} / {totals[g]}':>24}" for g in groups)
        print(f"{name:<18} {cells} {lost.get(name, 0):>13} {timing[name]:>12.3f}")


def _cli_bundle(folder: Path) -> Path:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
        "code": {"text": "MRI left hip"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-05-01",
        "conclusion": FIRST_TEXTS[0],  # short, no language: lingua's full mode
    }
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}, {"resource": report}]}
    path = folder / "one.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


_CLI = "import sys; from bmefhir.cli import main; sys.argv[0] = 'bmefhir'; main()"


def cli(repeat: int, base: Path | None) -> None:
    trees = {"this": ROOT, **({"base": base} if base else {})}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = _cli_bundle(Path(tmp))
        for _ in range(repeat):
            for name, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": str(tree)}
                command = [sys.executable, "-c", _CLI, "analyze", str(bundle), "--now", "2024-06-01"]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                wall = time.perf_counter()
                subprocess.run(command, env=env, capture_output=True, check=True, cwd=tree)
                wall = time.perf_counter() - wall
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                figures[name].append((cpu, wall))
    print(f"\nbmefhir analyze, one patient, one short unhinted report ({repeat} fresh processes each, interleaved; ")
    print(f"min / median / max; load average {os.getloadavg()[0]:.1f})")
    for name, rows in figures.items():
        print(f"{name:<6} {trees[name]}: CPU {_spread([c for c, _ in rows])} s, wall {_spread([w for _, w in rows])} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per build (>= 3)")
    parser.add_argument("--base", type=Path, help="another checkout to compare the CLI with (e.g. main)")
    parser.add_argument("--skip", nargs="*", default=(), choices=("first", "accuracy", "cli"), help="parts to skip")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each part as soon as it is done
    if args.child:
        _child(args.child)
        return
    repeat = max(3, args.repeat)
    if "first" not in args.skip:
        first_use(repeat)
    if "accuracy" not in args.skip:
        accuracy()
    if "cli" not in args.skip:
        cli(repeat, args.base)


if __name__ == "__main__":
    main()
