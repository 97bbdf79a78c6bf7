"""The labelled corpus of radiology report passages, and how a report reader is scored against it.

The corpus lives in ``tests/reporttext/corpus/{en,tr,zh}.yaml`` (format: ``docs/report-text.md``,
"The labelled corpus"); set ``BMEFHIR_REPORT_CORPUS_DIR`` to use another directory. Loading
validates every passage (unique ids, known concepts, structures, sides and assertions, a source
for every passage) and raises ``CorpusError`` naming the file and the passage.

Matching rule: a predicted mention matches a gold one when the concept is the same and, where the
gold gives a structure or a side, those are the same too; ``bilateral`` counts as left and right
(a gold ``bilateral`` is matched by a predicted ``left`` or ``right`` and the reverse). A gold
mention with no site is a wildcard for the site. Matching is many-to-many: one predicted
``bilateral`` mention can match gold ``left`` and ``right`` mentions.

Scores (all pure functions of the passages and the readings):

* detection of present findings, per concept and per language: gold positives are the *affirmed*
  gold mentions, predicted positives the *affirmed* predicted mentions; recall counts affirmed gold
  mentions matched by an affirmed prediction, precision affirmed predictions matching an affirmed
  gold mention;
* assertion accuracy, per language: over gold mentions matched by at least one prediction, the
  share matched by a prediction with the same assertion;
* per passage: passes when every gold mention is matched by a prediction with its assertion and
  every prediction matches a gold mention with the prediction's assertion.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, get_args

from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import FINDING_CONCEPTS
from bmefhir.record import Assertion, Side
from bmefhir.reporttext.model import SUPPORTED_LANGUAGES, Mention, Reading
from bmefhir.yamlio import parse_yaml

ENV_VAR: Final = "BMEFHIR_REPORT_CORPUS_DIR"
ASSERTIONS: Final[tuple[str, ...]] = get_args(Assertion)
SIDES: Final[tuple[str, ...]] = get_args(Side)
KNOWN_MISSES_FILE: Final = "known_misses.yaml"
_ID = re.compile(r"^(en|tr|zh)-\d{4}$")
_PASSAGE_KEYS: Final = frozenset({"id", "source", "text", "mentions"})
_MENTION_KEYS: Final = frozenset({"concept", "site", "side", "assertion"})

Reader = Callable[[str, str], Reading]  # (text, language) -> Reading, like bmefhir.reporttext.read_report


class CorpusError(Exception):
    """A corpus file or the known-misses list is missing or malformed."""


@dataclass(frozen=True, slots=True)
class GoldMention:
    concept: str
    structure: str | None
    side: Side | None
    assertion: Assertion

    def describe(self) -> str:
        where = " ".join(p for p in (self.side, self.structure) if p) or "no site"
        return f"{self.concept} @ {where} ({self.assertion})"


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    language: str  # "en" | "tr" | "zh"
    source: str
    text: str
    mentions: tuple[GoldMention, ...]


def corpus_dir() -> Path:
    """The directory holding ``en.yaml``, ``tr.yaml`` and ``zh.yaml``."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "tests" / "reporttext" / "corpus"


# --- loading -------------------------------------------------------------------------------------------------------


def _mention(raw: Any, where: str) -> GoldMention:
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: a mention must be a mapping of concept, site, side, assertion")
    if unknown_keys := sorted(set(raw) - _MENTION_KEYS):
        raise CorpusError(f"{where}: unknown mention key(s) {', '.join(map(str, unknown_keys))}")
    if missing_keys := sorted(_MENTION_KEYS - set(raw)):
        raise CorpusError(f"{where}: mention lacks {', '.join(missing_keys)} (write null for no site or side)")
    concept, site, side, assertion = raw["concept"], raw["site"], raw["side"], raw["assertion"]
    if concept not in FINDING_CONCEPTS:
        raise CorpusError(f"{where}: unknown concept {concept!r} (not a key of bmefhir.concepts.FINDING_CONCEPTS)")
    if site is not None and site not in STRUCTURES:
        raise CorpusError(f"{where}: unknown site {site!r} (not a key of bmefhir.anatomy.STRUCTURES)")
    if side is not None and side not in SIDES:
        raise CorpusError(f"{where}: unknown side {side!r} (one of {', '.join(SIDES)} or null)")
    if side is not None and site is None:
        raise CorpusError(f"{where}: side {side!r} without a site (a side qualifies a structure)")
    if assertion not in ASSERTIONS:
        raise CorpusError(f"{where}: unknown assertion {assertion!r} (one of {', '.join(ASSERTIONS)})")
    return GoldMention(concept, site, side, assertion)


def _passage(raw: Any, language: str, where: str) -> Passage:
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: a passage must be a mapping of id, source, text, mentions")
    pid = raw.get("id")
    if not isinstance(pid, str) or not _ID.match(pid) or not pid.startswith(f"{language}-"):
        raise CorpusError(f"{where}: id {pid!r} must look like '{language}-0001'")
    where = f"{where} ({pid})"
    if unknown_keys := sorted(set(raw) - _PASSAGE_KEYS):
        raise CorpusError(f"{where}: unknown key(s) {', '.join(map(str, unknown_keys))}")
    source, text, mentions = raw.get("source"), raw.get("text"), raw.get("mentions")
    if not isinstance(source, str) or not source.strip():
        raise CorpusError(f"{where}: every passage needs a source (seed section, or 'written for the project: ...')")
    if not isinstance(text, str) or not text.strip():
        raise CorpusError(f"{where}: text must be a non-empty string")
    if not isinstance(mentions, list):
        raise CorpusError(f"{where}: mentions must be a list (an empty list when the text states no finding)")
    gold = tuple(_mention(m, f"{where} mention {i + 1}") for i, m in enumerate(mentions))
    if duplicates := sorted({m.describe() for m in gold if gold.count(m) > 1}):
        raise CorpusError(f"{where}: mention labelled twice: {'; '.join(duplicates)}")
    return Passage(pid, language, source.strip(), text, gold)


def parse_corpus(text: str, name: str) -> tuple[Passage, ...]:
    """The passages of one corpus file's text; ``name`` (e.g. "en.yaml") is used in errors."""
    try:
        raw = parse_yaml(text)
    except Exception as exc:  # yaml.YAMLError and its C-loader twin
        raise CorpusError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("passages"), list):
        raise CorpusError(f"{name}: must be a mapping with 'language' and a list 'passages'")
    language = raw.get("language")
    if language not in SUPPORTED_LANGUAGES:
        raise CorpusError(f"{name}: language {language!r} is not one of {', '.join(SUPPORTED_LANGUAGES)}")
    passages = tuple(_passage(p, language, f"{name} passage {i + 1}") for i, p in enumerate(raw["passages"]))
    if duplicates := sorted(pid for pid, n in Counter(p.id for p in passages).items() if n > 1):
        raise CorpusError(f"{name}: duplicate passage id(s) {', '.join(duplicates)}")
    return passages


def load_corpus(directory: Path | None = None) -> tuple[Passage, ...]:
    """Every passage of ``{en,tr,zh}.yaml`` in ``directory`` (default ``corpus_dir()``), validated."""
    directory = directory or corpus_dir()
    passages: list[Passage] = []
    for language in SUPPORTED_LANGUAGES:
        path = directory / f"{language}.yaml"
        if not path.is_file():
            raise CorpusError(f"no corpus file {path} (set {ENV_VAR} to use another directory)")
        passages.extend(parse_corpus(path.read_text(encoding="utf-8"), path.name))
    return tuple(passages)


def parse_known_misses(text: str, known_ids: Iterable[str], name: str = KNOWN_MISSES_FILE) -> dict[str, str]:
    """``{passage id: reason}`` from a known-misses file: ``misses: [{id: en-0001, reason: "..."}]``."""
    raw = parse_yaml(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("misses"), list):
        raise CorpusError(f"{name}: must be a mapping with a list 'misses' (an empty list when there are none)")
    ids = set(known_ids)
    misses: dict[str, str] = {}
    for i, entry in enumerate(raw["misses"]):
        where = f"{name} entry {i + 1}"
        if not isinstance(entry, dict) or set(entry) != {"id", "reason"}:
            raise CorpusError(f"{where}: must be a mapping of exactly id and reason")
        pid, reason = entry["id"], entry["reason"]
        if pid not in ids:
            raise CorpusError(f"{where}: {pid!r} is not a passage of the corpus")
        if not isinstance(reason, str) or not reason.strip():
            raise CorpusError(f"{where} ({pid}): give the reason the reader misses it")
        if pid in misses:
            raise CorpusError(f"{where}: {pid} is listed twice")
        misses[pid] = reason.strip()
    return misses


# --- matching and scoring ------------------------------------------------------------------------------------------


def _side_matches(gold: str | None, predicted: str | None) -> bool:
    if gold is None or gold == predicted:
        return True
    return predicted is not None and "bilateral" in (gold, predicted)


def matches(predicted: Mention, gold: GoldMention) -> bool:
    """The matching rule of docs/report-text.md (assertion not compared)."""
    if predicted.concept != gold.concept:
        return False
    if gold.structure is None and gold.side is None:
        return True
    site = predicted.site
    if site is None:
        return False
    return (gold.structure is None or site.structure == gold.structure) and _side_matches(gold.side, site.side)


@dataclass(frozen=True, slots=True)
class PassageResult:
    passage: Passage
    reading: Reading
    missed: tuple[GoldMention, ...]  # gold mentions no prediction matches with the gold's assertion
    extra: tuple[Mention, ...]  # predictions matching no gold mention with the prediction's assertion

    @property
    def passed(self) -> bool:
        return not self.missed and not self.extra

    def describe(self) -> str:
        """One line: what was missed and what was extra (concepts and sites, never the text)."""
        parts = [f"missed {g.describe()}" for g in self.missed]
        for m in self.extra:
            where = " ".join(p for p in (m.site.side, m.site.structure) if p) if m.site else "no site"
            parts.append(f"extra {m.concept} @ {where} ({m.assertion})")
        return f"{self.passage.id}: " + ("; ".join(parts) or "ok")


@dataclass(frozen=True, slots=True)
class Counts:
    """Detection counts of affirmed findings; precision and recall are 1.0 when nothing was to find or claimed."""

    gold: int = 0
    found: int = 0  # affirmed gold mentions matched by an affirmed prediction
    predicted: int = 0
    correct: int = 0  # affirmed predictions matching an affirmed gold mention

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.gold + other.gold,
            self.found + other.found,
            self.predicted + other.predicted,
            self.correct + other.correct,
        )

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class AssertionCounts:
    matched: int = 0  # gold mentions matched by at least one prediction
    correct: int = 0  # ... of which one prediction has the gold's assertion
    confusion: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (gold, predicted) -> count

    @property
    def accuracy(self) -> float:
        return self.correct / self.matched if self.matched else 1.0


@dataclass(frozen=True, slots=True)
class CorpusScore:
    results: tuple[PassageResult, ...]
    by_language: Mapping[str, Counts]
    by_concept: Mapping[str, Counts]
    assertions: Mapping[str, AssertionCounts]  # per language

    @property
    def overall(self) -> Counts:
        return sum(self.by_language.values(), Counts())

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(r.passage.id for r in self.results if not r.passed)

    @property
    def passing(self) -> tuple[str, ...]:
        return tuple(r.passage.id for r in self.results if r.passed)


def score_passage(passage: Passage, reading: Reading) -> PassageResult:
    """Compare one reading with the passage's gold mentions (pass/fail and what differs)."""
    predicted = reading.mentions
    missed = tuple(
        g for g in passage.mentions if not any(matches(m, g) and m.assertion == g.assertion for m in predicted)
    )
    extra = tuple(
        m for m in predicted if not any(matches(m, g) and m.assertion == g.assertion for g in passage.mentions)
    )
    return PassageResult(passage, reading, missed, extra)


def _detection(passage: Passage, predicted: Sequence[Mention]) -> dict[str, Counts]:
    """Affirmed-finding detection counts of one passage, per concept."""
    gold = [g for g in passage.mentions if g.assertion == "affirmed"]
    claimed = [m for m in predicted if m.assertion == "affirmed"]
    counts: dict[str, Counts] = {}
    for g in gold:
        found = any(matches(m, g) for m in claimed)
        counts[g.concept] = counts.get(g.concept, Counts()) + Counts(gold=1, found=int(found))
    for m in claimed:
        correct = any(matches(m, g) for g in gold)
        counts[m.concept] = counts.get(m.concept, Counts()) + Counts(predicted=1, correct=int(correct))
    return counts


def _assertion_pairs(passage: Passage, predicted: Sequence[Mention]) -> list[tuple[str, str]]:
    """(gold, predicted) assertion per matched gold mention; the gold's own assertion when one matching agrees."""
    pairs: list[tuple[str, str]] = []
    for g in passage.mentions:
        candidates = [m.assertion for m in predicted if matches(m, g)]
        if candidates:
            pairs.append((g.assertion, g.assertion if g.assertion in candidates else candidates[0]))
    return pairs


def score_readings(passages: Sequence[Passage], readings: Sequence[Reading]) -> CorpusScore:
    """Score readings (one per passage, same order) against the passages' gold mentions."""
    if len(passages) != len(readings):
        raise ValueError(f"{len(passages)} passages but {len(readings)} readings")
    by_language: dict[str, Counts] = {}
    by_concept: dict[str, Counts] = {}
    pairs_by_language: dict[str, list[tuple[str, str]]] = {}
    results: list[PassageResult] = []
    for passage, reading in zip(passages, readings, strict=True):
        results.append(score_passage(passage, reading))
        for concept, counts in _detection(passage, reading.mentions).items():
            by_concept[concept] = by_concept.get(concept, Counts()) + counts
            by_language[passage.language] = by_language.get(passage.language, Counts()) + counts
        by_language.setdefault(passage.language, Counts())
        pairs_by_language.setdefault(passage.language, []).extend(_assertion_pairs(passage, reading.mentions))
    assertions = {
        language: AssertionCounts(len(pairs), sum(g == p for g, p in pairs), dict(Counter(pairs)))
        for language, pairs in pairs_by_language.items()
    }
    return CorpusScore(tuple(results), by_language, dict(sorted(by_concept.items())), assertions)


def score_reader(passages: Sequence[Passage], reader: Reader) -> CorpusScore:
    """Read every passage with ``reader(text, language)`` and score the readings."""
    return score_readings(passages, [reader(p.text, p.language) for p in passages])
