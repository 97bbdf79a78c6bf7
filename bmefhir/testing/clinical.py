"""Score the published-case benchmark: run cases through the pipeline and compute the figures.

Pure apart from reading the case files: ``evaluate`` runs one case through
``bmefhir.pipeline.process_patient`` (coded or text form) and ``score`` turns the
per-case results into top-1 / top-3, red-flag recall per must-not-miss diagnosis,
must-not-miss-below-benign cases, Brier score, expected calibration error and
next-step statistics. ``benchmarks/clinical.py`` prints them; the regression test
(``tests/test_clinical_cases.py``) uses ``passes``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bmefhir.anatomy import STRUCTURES
from bmefhir.pipeline import analyse_patient, process_patient
from bmefhir.testing.cases import (
    CANDIDATES,
    MUST_NOT_MISS,
    RED_FLAG_REQUIRED,
    Finding,
    Form,
    NarrativeLanguage,
    PublishedCase,
    load_cases,
    resources,
)
from bmefhir.yamlio import parse_yaml

CASES_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "cases"
PASSING_FILE = "passing.yaml"
NARRATIVE_PASSING_FILE = "narrative_passing.yaml"
HELDOUT_FILE = "heldout.yaml"
ECE_BINS = 10


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: PublishedCase
    ranking: tuple[tuple[str, float], ...]  # (candidate, probability), best first
    red_flags: frozenset[str]
    next_steps: tuple[str, ...]
    insufficient_data: bool
    language: NarrativeLanguage | None = None  # the narrative form's language
    data_quality: tuple[str, ...] = ()  # "severity code: diagnostics" of the warnings and errors

    @property
    def top(self) -> str:
        return self.ranking[0][0]

    @property
    def confidence(self) -> float:
        return self.ranking[0][1]

    @property
    def accepted(self) -> frozenset[str]:
        return frozenset((self.case.diagnosis, *self.case.acceptable))

    @property
    def top1(self) -> bool:
        return self.top in self.accepted

    @property
    def top3(self) -> bool:
        return any(code in self.accepted for code, _ in self.ranking[:3])

    @property
    def rank(self) -> int:
        """1-based rank of the final diagnosis."""
        return next(i for i, (code, _) in enumerate(self.ranking, start=1) if code == self.case.diagnosis)

    @property
    def red_flag_required(self) -> bool:
        return self.case.diagnosis in RED_FLAG_REQUIRED

    @property
    def red_flag_raised(self) -> bool:
        return self.case.diagnosis in self.red_flags

    @property
    def passes(self) -> bool:
        """Top-1 right and, for osteonecrosis / infection / neoplasm, its red flag raised."""
        return self.top1 and (self.red_flag_raised or not self.red_flag_required)

    @property
    def benign_above(self) -> tuple[str, ...]:
        """For a must-not-miss final diagnosis: the benign candidates ranked above it."""
        if self.case.diagnosis not in MUST_NOT_MISS:
            return ()
        above = [code for code, _ in self.ranking[: self.rank - 1]]
        return tuple(c for c in above if c not in MUST_NOT_MISS)

    def failure(self) -> str:
        """Why the case does not pass (empty when it passes)."""
        reasons = []
        if not self.top1:
            reasons.append(f"top-1 {self.top} ({self.confidence:.2f}); {self.case.diagnosis} ranked {self.rank}")
        if self.red_flag_required and not self.red_flag_raised:
            reasons.append(f"no {self.case.diagnosis} red flag")
        if self.insufficient_data:
            reasons.append("insufficient data (no BME imaging recognised)")
        return "; ".join(reasons)


def evaluate(case: PublishedCase, form: Form = "coded", language: NarrativeLanguage | None = None) -> CaseResult:
    summary = process_patient(resources(case, form, language), case.now).summary
    ranking = tuple((str(r["code"]), float(r["probability"])) for r in summary["ranking"])
    return CaseResult(
        case=case,
        ranking=ranking,
        red_flags=frozenset(str(f["candidate"]) for f in summary["red_flags"]),
        next_steps=tuple(dict.fromkeys(str(s["id"]) for s in summary["next_steps"])),
        insufficient_data=bool(summary["insufficient_data"]),
        language=language,
        data_quality=tuple(
            f"{d['severity']} {d.get('code', '')}: {d.get('diagnostics', '')}"
            for d in summary["data_quality"]
            if d["severity"] in ("error", "warning")
        ),
    )


def evaluate_all(form: Form = "coded", directory: Path = CASES_DIR) -> list[CaseResult]:
    return [evaluate(c, form) for c in load_cases(directory)]


def narrated(
    directory: Path = CASES_DIR, language: NarrativeLanguage | None = None
) -> list[tuple[PublishedCase, NarrativeLanguage]]:
    """Every (case, language) with a narrative report, optionally of one language only."""
    return [
        (c, lang)
        for c in load_cases(directory)
        for lang in c.narrative_languages
        if language is None or lang == language
    ]


def evaluate_narratives(
    directory: Path = CASES_DIR, language: NarrativeLanguage | None = None
) -> list[tuple[CaseResult, CaseResult]]:
    """(coded, narrative) result pairs for every narrated case and language."""
    coded: dict[str, CaseResult] = {}
    out = []
    for case, lang in narrated(directory, language):
        if case.id not in coded:
            coded[case.id] = evaluate(case)
        out.append((coded[case.id], evaluate(case, "narrative", lang)))
    return out


@dataclass(frozen=True, slots=True)
class StudyReading:
    """What the report reader got from one narrative report, against the study's facts."""

    study: int
    missed: tuple[str, ...]  # facts of the study no finding read from the report matches
    extra: tuple[str, ...]  # findings read from the report that match no fact of the study (with the quote)
    facts: int


def _sides(side: str | None) -> set[str | None]:
    return {"left", "right"} if side == "bilateral" else {side}


def _fact(concept: str, present: bool, structure: str | None, side: str | None) -> str:
    where = f"{side + ' ' if side else ''}{structure or '(no site)'}"
    return f"{'' if present else 'no '}{concept} @ {where}"


def narrative_readings(case: PublishedCase, language: NarrativeLanguage) -> list[StudyReading]:
    """Per narrated study: the facts the reader missed and the findings it read that are not facts.

    A read finding matches a fact when the concept and presence agree, the structure is the fact's
    (or the same joint, or none was read: the record then takes the study's) and every side it is read
    for is a side of such a fact (bilateral counts as left and right: a bilateral fact is matched by a
    left and a right finding, a left and a right fact by a bilateral one, a one-sided fact alone not by a
    bilateral one; a finding read without a side takes the study's). Hypothetical and
    historical mentions are not findings of the study and are not counted.
    """
    record = analyse_patient(resources(case, "narrative", language), case.now).record
    order = sorted(range(len(case.studies)), key=lambda i: case.studies[i].day)
    rep = {f"DiagnosticReport/{case.id}-rep{n}": i for n, i in enumerate(order, start=1)}
    written = {n.study for n in case.narratives if n.language == language}
    read: dict[int, list[tuple[str, bool, str | None, str | None, str]]] = {i: [] for i in written}
    for f in record.findings:
        if f.text is None or f.ref not in rep:
            continue
        structure = f.site.structure if f.site else None
        side = f.site.side if f.site else None
        read[rep[f.ref]].append((f.concept, f.present, structure, side, f.text.quote))

    def same_place(fs: str, rs: str | None) -> bool:
        return rs is None or rs == fs or (STRUCTURES[fs].joint or fs) == (STRUCTURES[rs].joint or rs)

    out = []
    for i in sorted(written):
        facts = case.studies[i].findings
        got = read[i]

        def valid(c: str, p: bool, s: str | None, d: str | None, facts: tuple[Finding, ...] = facts) -> bool:
            """Every side the finding is read for is a side of a fact of its concept, presence and place."""
            return all(
                any(
                    x.concept == c
                    and x.present == p
                    and same_place(x.site, s)
                    and (side is None or side in _sides(x.side))
                    for x in facts
                )
                for side in _sides(d)
            )

        ok = [(c, p, s, d) for c, p, s, d, _ in got if valid(c, p, s, d)]
        missed = tuple(
            _fact(x.concept, x.present, x.site, x.side)
            for x in facts
            if not any(
                c == x.concept
                and p == x.present
                and same_place(x.site, s)
                and (d is None or _sides(d) & _sides(x.side))
                for c, p, s, d in ok
            )
        )
        extra = tuple(f"{_fact(c, p, s, d)} «{q}»" for c, p, s, d, q in got if not valid(c, p, s, d))
        out.append(StudyReading(i, missed, tuple(dict.fromkeys(extra)), len(facts)))
    return out


def differs(coded: CaseResult, narrative: CaseResult) -> str:
    """How the narrative result differs from the coded one in top-1 or red flags (empty when alike)."""
    parts = []
    if coded.top != narrative.top:
        parts.append(f"top-1 {coded.top} -> {narrative.top} ({narrative.confidence:.2f})")
    if coded.red_flags != narrative.red_flags:
        lost = sorted(coded.red_flags - narrative.red_flags)
        gained = sorted(narrative.red_flags - coded.red_flags)
        parts.append(
            "red flags"
            + (f" lost {', '.join(lost)}" if lost else "")
            + (f" gained {', '.join(gained)}" if gained else "")
        )
    return "; ".join(parts)


# --- figures -----------------------------------------------------------------------------------
def brier(results: Sequence[CaseResult]) -> float:
    """Multiclass Brier score over the 11 ranking probabilities (0 best, 2 worst), final diagnosis = 1."""
    if not results:
        return float("nan")
    total = 0.0
    for r in results:
        p = dict(r.ranking)
        total += sum((p.get(c, 0.0) - (1.0 if c == r.case.diagnosis else 0.0)) ** 2 for c in CANDIDATES)
    return total / len(results)


def ece(results: Sequence[CaseResult], bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top-1 confidence (equal-width bins, weighted by count)."""
    if not results:
        return float("nan")
    buckets: list[list[CaseResult]] = [[] for _ in range(bins)]
    for r in results:
        buckets[min(int(r.confidence * bins), bins - 1)].append(r)
    err = 0.0
    for b in buckets:
        if b:
            acc = sum(r.top1 for r in b) / len(b)
            conf = sum(r.confidence for r in b) / len(b)
            err += len(b) / len(results) * abs(acc - conf)
    return err


@dataclass(frozen=True, slots=True)
class Figures:
    n: int
    top1: float
    top3: float
    brier: float
    ece: float
    red_flag_recall: dict[str, tuple[int, int]]  # diagnosis → (raised, cases)


def figures(results: Sequence[CaseResult]) -> Figures:
    n = len(results)
    recall = {}
    for dx in MUST_NOT_MISS:
        cases = [r for r in results if r.case.diagnosis == dx]
        recall[dx] = (sum(r.red_flag_raised for r in cases), len(cases))
    return Figures(
        n=n,
        top1=sum(r.top1 for r in results) / n if n else float("nan"),
        top3=sum(r.top3 for r in results) / n if n else float("nan"),
        brier=brier(results),
        ece=ece(results),
        red_flag_recall=recall,
    )


def load_heldout(directory: Path = CASES_DIR, key: str = "heldout") -> frozenset[str]:
    """Ids of a held-out set: ``heldout``, the cases added after the current knowledge base was refined
    (scored on it unchanged first), or ``narrative_heldout``, narrated cases the report reader's lexicons
    were not fixed on (docs/clinical-benchmark.md §Narrative form)."""
    path = directory / HELDOUT_FILE
    if not path.is_file():
        return frozenset()
    data = parse_yaml(path.read_text(encoding="utf-8"))
    if key not in data and key != "heldout":
        return frozenset()
    ids = data.get(key) if isinstance(data, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"{HELDOUT_FILE}: expected a mapping with a '{key}' list of case ids")
    return frozenset(ids)


def categories(results: Sequence[CaseResult], heldout: frozenset[str] = frozenset()) -> dict[str, list[CaseResult]]:
    """Overall, the earlier and the held-out cases, per final diagnosis and per tag (child, pregnancy, ...)."""
    out: dict[str, list[CaseResult]] = {"all": list(results)}
    if heldout:
        out["set:earlier"] = [r for r in results if r.case.id not in heldout]
        out["set:held-out"] = [r for r in results if r.case.id in heldout]
    for dx in CANDIDATES:
        out[f"dx:{dx}"] = [r for r in results if r.case.diagnosis == dx]
    tags = sorted({t for r in results for t in r.case.tags})
    for t in tags:
        out[f"tag:{t}"] = [r for r in results if t in r.case.tags]
    return {k: v for k, v in out.items() if v}


# --- next steps: how often each appears, and whether it asks for data already on record ---------
def _has_lab(case: PublishedCase, *concepts: str) -> bool:
    return all(any(lab.concept == c for lab in case.labs) for c in concepts)


def _mr_count(case: PublishedCase) -> int:
    return sum(s.modality == "MR" for s in case.studies)


def _every_site_followed(case: PublishedCase) -> bool:
    """Every site (joint and side) with a positive MRI finding was imaged by MRI on two or more days.

    The follow-up MRI the step asks for is one of the affected site: an MRI of another joint, or two
    sites seen once each, is not it (counted from the case file, independently of bmefhir.derive).
    """
    days: dict[tuple[str, str | None], set[int]] = {}
    affected: set[tuple[str, str | None]] = set()
    for s in case.studies:
        if s.modality != "MR":
            continue
        for f in s.findings:
            joint = STRUCTURES[f.site].joint or f.site
            for side in ("left", "right") if f.side == "bilateral" else (f.side,):
                days.setdefault((joint, side), set()).add(s.day)
                if f.present and f.concept != "normal_study":
                    affected.add((joint, side))

    def seen(lane: tuple[str, str | None]) -> set[int]:
        joint, side = lane
        if side is None:
            return {d for (j, _), ds in days.items() if j == joint for d in ds}
        return days.get(lane, set()) | days.get((joint, None), set())

    return bool(affected) and all(len(seen(lane)) > 1 for lane in affected)


DATA_ON_RECORD: dict[str, Callable[[PublishedCase], bool]] = {
    "NS-MRI": lambda c: _mr_count(c) > 0,
    "NS-VITAMIN-D-TEST": lambda c: _has_lab(c, "vitamin_d_25oh"),
    "NS-TSH": lambda c: _has_lab(c, "tsh"),
    "NS-DXA": lambda c: any(o.concept == "dxa_t_score" for o in c.observations),
    "NS-INFLAMMATORY-LABS": lambda c: _has_lab(c, "crp", "esr", "rheumatoid_factor", "anti_ccp", "hla_b27"),
    "NS-CONTRAST-MRI": lambda c: any(s.modality == "MR" and s.contrast for s in c.studies),
    "NS-FOLLOW-UP-MRI": _every_site_followed,
}


@dataclass(frozen=True, slots=True)
class StepUse:
    step: str
    cases: int
    share: float
    repeats: int | None  # cases where the step asks for data already on record (None: not checkable)


def step_use(results: Sequence[CaseResult]) -> list[StepUse]:
    counts: dict[str, list[CaseResult]] = {}
    for r in results:
        for s in r.next_steps:
            counts.setdefault(s, []).append(r)
    out = []
    for step, rs in sorted(counts.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        check = DATA_ON_RECORD.get(step)
        out.append(StepUse(step, len(rs), len(rs) / len(results), sum(check(r.case) for r in rs) if check else None))
    return out


# --- the passing list ---------------------------------------------------------------------------
def load_passing(directory: Path = CASES_DIR) -> list[str]:
    path = directory / PASSING_FILE
    if not path.is_file():
        return []
    data = parse_yaml(path.read_text(encoding="utf-8"))
    ids = data.get("passing") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"{PASSING_FILE}: expected a mapping with a 'passing' list of case ids")
    return ids


def passing_yaml(results: Iterable[CaseResult], form: Form = "coded") -> str:
    ids = sorted(r.case.id for r in results if r.passes)
    lines = [
        "# Published cases that pass today (coded form): top-1 right and, for osteonecrosis, infection and",
        "# neoplasm, the red flag raised. tests/test_clinical_cases.py fails when a listed case regresses.",
        f"# Regenerate: PYTHONPATH=$PWD .venv/bin/python benchmarks/clinical.py --write-passing ({form} form)",
        "passing:",
        *(f"  - {i}" for i in ids),
    ]
    return "\n".join(lines) + "\n"


def load_narrative_passing(directory: Path = CASES_DIR) -> list[tuple[str, str]]:
    """(case id, language) of the narratives that pass today (``narrative_passing.yaml``: "id language" per item)."""
    path = directory / NARRATIVE_PASSING_FILE
    if not path.is_file():
        return []
    data = parse_yaml(path.read_text(encoding="utf-8"))
    items = data.get("passing") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, str) and len(i.split()) == 2 for i in items):
        raise ValueError(f"{NARRATIVE_PASSING_FILE}: expected a mapping with a 'passing' list of 'case-id language'")
    return [(i.split()[0], i.split()[1]) for i in items]


def narrative_passing_yaml(results: Iterable[CaseResult]) -> str:
    ids = sorted(f"{r.case.id} {r.language}" for r in results if r.passes)
    lines = [
        "# Narrative reports that pass today (benchmarks/clinical.py --narrative): top-1 right and, for osteonecrosis,",
        "# infection and neoplasm, the red flag raised. tests/test_clinical_cases.py fails when one regresses.",
        "# Regenerate: PYTHONPATH=$PWD .venv/bin/python benchmarks/clinical.py --narrative --write-passing",
        "passing:",
        *(f"  - {i}" for i in ids),
    ]
    return "\n".join(lines) + "\n"


@dataclass
class Report:
    """Everything benchmarks/clinical.py prints, as data."""

    form: Form
    results: list[CaseResult]
    heldout: frozenset[str] = frozenset()
    by_category: dict[str, Figures] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_category = {k: figures(v) for k, v in categories(self.results, self.heldout).items()}
