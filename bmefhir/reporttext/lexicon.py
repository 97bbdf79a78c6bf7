"""The per-language lexicons (``lexicons/<lang>/*.yaml``), loaded once and checked at load time.

A radiologist reviews these files, not code: finding terms per concept, site and side words,
ConText triggers, section headers and modality names, every list with its source. Loading fails
with a :class:`LexiconError` naming the file and entry on an unknown concept, structure, side,
category, direction or section, a missing source, or a malformed pattern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import FINDING_CONCEPTS
from bmefhir.yamlio import load_yaml

LEXICON_DIR: Final[Path] = Path(__file__).with_name("lexicons")
FILES: Final[tuple[str, ...]] = ("targets.yaml", "sites.yaml", "context.yaml", "sections.yaml", "modality.yaml")

# ConText categories (Harkema et al., J Biomed Inform 2009;42:839-51, as medspaCy names them), plus
# PERSISTENT: "persists", "again seen", "unchanged" make a previously seen finding a finding of this study.
CATEGORIES: Final[frozenset[str]] = frozenset(
    {"NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HISTORICAL", "HYPOTHETICAL", "PERSISTENT"}
)
DIRECTIONS: Final[frozenset[str]] = frozenset({"FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"})
SECTIONS: Final[frozenset[str]] = frozenset(
    {"clinical_information", "technique", "comparison", "findings", "impression"}
)
SIDES: Final[frozenset[str]] = frozenset({"left", "right", "bilateral"})
MODALITIES: Final[frozenset[str]] = frozenset({"MR", "CR", "CT", "NM", "US"})

TokenPattern = list[dict[str, Any]]


class LexiconError(ValueError):
    """A lexicon file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Terms:
    """How one entry is written: literal phrases, word stems (each word a prefix) and spaCy token patterns."""

    terms: tuple[str, ...] = ()
    stems: tuple[str, ...] = ()
    patterns: tuple[TokenPattern, ...] = ()
    source: str = ""

    @property
    def phrases(self) -> Terms:
        """The terms and stems alone (contiguous words)."""
        return Terms(self.terms, self.stems, (), self.source)

    @property
    def spread(self) -> Terms:
        """The token patterns alone (they may span other words)."""
        return Terms((), (), self.patterns, self.source)


@dataclass(frozen=True, slots=True)
class TargetEntry:
    concept: str
    words: Terms
    # The words name a structure, not its abnormality ("articular surface", "关节面", "menisküs"): they state the
    # finding only when the structure is stated intact ("articular surface preserved" → collapse negated).
    intact_only: bool = False


@dataclass(frozen=True, slots=True)
class SiteEntry:
    structures: tuple[str, ...]  # "femoral head and neck" names two
    words: Terms


@dataclass(frozen=True, slots=True)
class SideEntry:
    side: str
    words: Terms


@dataclass(frozen=True, slots=True)
class ContextEntry:
    category: str  # a CATEGORIES member, or "" for TERMINATE/PSEUDO rules that only end or block scopes
    direction: str
    words: Terms
    max_scope: int | None = None


@dataclass(frozen=True, slots=True)
class SectionEntry:
    section: str
    words: Terms


@dataclass(frozen=True, slots=True)
class ModalityEntry:
    modality: str
    words: Terms


@dataclass(frozen=True, slots=True)
class Lexicon:
    language: str
    targets: tuple[TargetEntry, ...]
    not_findings: tuple[Terms, ...]  # diagnoses and other phrases that contain a finding word but state no finding
    sites: tuple[SiteEntry, ...]
    sides: tuple[SideEntry, ...]
    context: tuple[ContextEntry, ...]
    sections: tuple[SectionEntry, ...]
    modalities: tuple[ModalityEntry, ...]


def available_languages(root: Path = LEXICON_DIR) -> tuple[str, ...]:
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "targets.yaml").is_file()))


def load_lexicon(language: str, root: Path = LEXICON_DIR) -> Lexicon:
    """Load and check one language's lexicon files; raises :class:`LexiconError`."""
    folder = root / language
    data = {name: _read(folder / name) for name in FILES}
    lexicon = Lexicon(
        language=language,
        targets=tuple(
            TargetEntry(
                _member(e, "concept", FINDING_CONCEPTS, where), _words(e, where), _flag(e, "intact_only", where)
            )
            for e, where in _entries(data["targets.yaml"], "concepts", folder / "targets.yaml")
        ),
        not_findings=tuple(
            _words(e, where) for e, where in _entries(data["targets.yaml"], "not_findings", folder / "targets.yaml")
        ),
        sites=tuple(
            SiteEntry(_structures(e, where), _words(e, where))
            for e, where in _entries(data["sites.yaml"], "sites", folder / "sites.yaml")
        ),
        sides=tuple(
            SideEntry(_member(e, "side", SIDES, where), _words(e, where))
            for e, where in _entries(data["sites.yaml"], "sides", folder / "sites.yaml")
        ),
        context=tuple(
            _context(e, where) for e, where in _entries(data["context.yaml"], "rules", folder / "context.yaml")
        ),
        sections=tuple(
            SectionEntry(_member(e, "section", SECTIONS, where), _words(e, where))
            for e, where in _entries(data["sections.yaml"], "sections", folder / "sections.yaml")
        ),
        modalities=tuple(
            ModalityEntry(_member(e, "modality", MODALITIES, where), _words(e, where))
            for e, where in _entries(data["modality.yaml"], "modalities", folder / "modality.yaml")
        ),
    )
    _no_duplicates(
        language, "context.yaml", [(f"{e.category or e.direction} {e.direction}", e.words) for e in lexicon.context]
    )
    _no_duplicates(language, "targets.yaml", [(e.concept, e.words) for e in lexicon.targets])
    return lexicon


def _no_duplicates(language: str, name: str, entries: list[tuple[str, Terms]]) -> None:
    """The matcher keeps one of two identical matches: a phrase listed twice would silently lose one rule."""
    seen: dict[str, str] = {}
    for label, words in entries:
        for phrase in (*words.terms, *words.stems):
            key = phrase.lower()
            if key in seen and seen[key] != label:
                raise LexiconError(f"{language}/{name}: {phrase!r} is listed for both {seen[key]} and {label}")
            seen[key] = label


def validate_lexicons(root: Path = LEXICON_DIR) -> dict[str, Lexicon]:
    """Every language's lexicon, checked (``bmefhir knowledge validate``); raises :class:`LexiconError`."""
    languages = available_languages(root) if root.is_dir() else ()
    if not languages:
        raise LexiconError(f"{root}: no lexicon folders (expected <language>/targets.yaml)")
    return {lang: load_lexicon(lang, root) for lang in languages}


def _read(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise LexiconError(f"{path}: missing lexicon file")
    try:
        data = load_yaml(path)
    except Exception as exc:  # any YAML error: report the file, not a traceback
        raise LexiconError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise LexiconError(f"{path}: expected a mapping at the top level")
    return data


def _entries(data: Mapping[str, Any], key: str, path: Path) -> list[tuple[Mapping[str, Any], str]]:
    raw = data.get(key, [])
    if not isinstance(raw, list):
        raise LexiconError(f"{path}: '{key}' must be a list")
    out = []
    for i, entry in enumerate(raw):
        where = f"{path.parent.name}/{path.name} {key}[{i}]"
        if not isinstance(entry, Mapping):
            raise LexiconError(f"{where}: expected a mapping")
        out.append((entry, where))
    return out


def _member(entry: Mapping[str, Any], key: str, allowed: Mapping[str, Any] | frozenset[str], where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or value not in allowed:
        raise LexiconError(f"{where}: unknown {key} {value!r}")
    return value


def _flag(entry: Mapping[str, Any], key: str, where: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise LexiconError(f"{where}: {key} must be true or false")
    return value


def _structures(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    raw = entry.get("structures")
    values = raw if isinstance(raw, list) else [raw]
    for value in values:
        if not isinstance(value, str) or value not in STRUCTURES:
            raise LexiconError(f"{where}: unknown structure {value!r} (not in bmefhir.anatomy.STRUCTURES)")
    return tuple(values)


def _context(entry: Mapping[str, Any], where: str) -> ContextEntry:
    direction = _member(entry, "direction", DIRECTIONS, where)
    category = entry.get("category", "")
    if direction not in ("TERMINATE", "PSEUDO") and category not in CATEGORIES:
        raise LexiconError(f"{where}: unknown category {category!r}")
    scope = entry.get("max_scope")
    if scope is not None and (not isinstance(scope, int) or scope < 1):
        raise LexiconError(f"{where}: max_scope must be a positive integer")
    return ContextEntry(str(category), direction, _words(entry, where), scope)


def _words(entry: Mapping[str, Any], where: str) -> Terms:
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise LexiconError(f"{where}: missing source")
    terms, stems = _strings(entry, "terms", where), _strings(entry, "stems", where)
    patterns = entry.get("patterns", [])
    if not isinstance(patterns, list) or not all(
        isinstance(p, list) and p and all(isinstance(t, Mapping) for t in p) for p in patterns
    ):
        raise LexiconError(f"{where}: 'patterns' must be a list of spaCy token patterns (lists of mappings)")
    if not (terms or stems or patterns):
        raise LexiconError(f"{where}: no terms, stems or patterns")
    return Terms(terms, stems, tuple([dict(t) for t in p] for p in patterns), source.strip())


def _strings(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    raw = entry.get(key, [])
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not all(isinstance(s, str) and s.strip() for s in raw):
        raise LexiconError(f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(s.strip() for s in raw)
