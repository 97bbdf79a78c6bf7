"""Which language a report (or each of its sentences) is written in.

A BCP-47 hint wins for its script; Han-script sentences are Chinese whatever the hint (an English
report with a Chinese impression); the rest is identified by lingua over a fixed set of common
languages, so a German report is recognised as German (not read) rather than forced into English.

lingua's models load lazily, per language and n-gram size, the first time a text needs them
(docs/report-text.md "Language detection at first use"): its trigram models of all candidates cost
~0.3 s; the 1- to 5-gram models its full mode needs for a short text ~0.2-0.6 s per language, which is
why a short text is compared in full against three candidates only.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from lingua import Language as LinguaLanguage
from lingua import LanguageDetector, LanguageDetectorBuilder

from bmefhir.reporttext.model import Language

_HINTS: Final[dict[str, Language]] = {"en": "en", "tr": "tr", "zh": "zh"}
_LINGUA: Final[dict[LinguaLanguage, Language]] = {LinguaLanguage.ENGLISH: "en", LinguaLanguage.TURKISH: "tr"}
# Languages a report might plausibly come in: detecting among them lets "not ours" be an answer.
_CANDIDATES: Final = (
    LinguaLanguage.ENGLISH, LinguaLanguage.TURKISH, LinguaLanguage.GERMAN, LinguaLanguage.FRENCH,
    LinguaLanguage.SPANISH, LinguaLanguage.ITALIAN, LinguaLanguage.PORTUGUESE, LinguaLanguage.DUTCH,
    LinguaLanguage.POLISH, LinguaLanguage.RUSSIAN, LinguaLanguage.ARABIC, LinguaLanguage.PERSIAN,
    LinguaLanguage.GREEK, LinguaLanguage.SWEDISH, LinguaLanguage.INDONESIAN, LinguaLanguage.AZERBAIJANI,
)  # fmt: skip
_HAN: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER: Final = re.compile(r"[^\W\d_]")
# Sentence-sized pieces for deciding the script: after . ; ! ? (and their full-width forms) or a line break.
_PIECE: Final = re.compile(r"[^\n。；！？.;!?]*(?:[\n。；！？.;!?]+|$)")
_MIN_LATIN_LETTERS: Final = 12  # shorter Latin runs in a Chinese report ("MRI", "T1WI") are read as Chinese
_DETECT_CHARS: Final = 160
# lingua's low-accuracy mode (trigrams only) is about 4x cheaper and, by lingua's own evaluation, as reliable as the
# full mode from ~120 characters on; shorter samples use the full mode.
_LOW_ACCURACY_FROM_CHARS: Final = 120


# What lingua found for a sample, by the sample's digest (no text kept), the oldest dropped: a report read again, or
# a text sent in two elements, is not detected twice (docs/report-text.md "Speed").
DETECTIONS: Final = 2_000
_detections = DETECTIONS  # the bound now (set_detections)
_detected: OrderedDict[bytes, Language | None] = OrderedDict()
_detected_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of the text in one language: ``text[start:end]``."""

    start: int
    end: int
    language: Language | None  # None: a language bmefhir does not read


def hint_language(hint: str | None) -> Language | str | None:
    """The language of a BCP-47 hint: "en"/"tr"/"zh", None for no hint, or the hint itself when unsupported."""
    if hint is None or not hint.strip():
        return None
    primary = hint.strip().replace("_", "-").split("-")[0].lower()
    return _HINTS.get(primary, hint.strip())


@functools.cache
def _ranker() -> LanguageDetector:
    """lingua's trigram-only (low-accuracy) mode over every candidate: cheap to load and to run."""
    return LanguageDetectorBuilder.from_languages(*_CANDIDATES).with_low_accuracy_mode().build()


@functools.cache
def _full(languages: frozenset[LinguaLanguage]) -> LanguageDetector:
    """lingua's full (1- to 5-gram) mode over ``languages``; the models are lingua's, shared by every
    detector of the process, so another trio loads only the languages not loaded before."""
    return LanguageDetectorBuilder.from_languages(*languages).build()


def preload_models() -> None:
    """Load lingua's full models of every candidate now (~3.4 s CPU, ~200 MB), for a service that warms up before
    taking requests: lingua keeps one copy of each model per process, shared by every detector, so afterwards no
    short unhinted report loads any (lazily, each new "best other" language of a trio costs 0.2-0.6 s on the first
    text that ranks it: a CDS call of ~0.45 s instead of ~30 ms). The CLI and the sync's thread pool load lazily."""
    LanguageDetectorBuilder.from_languages(*_CANDIDATES).with_preloaded_language_models().build()


def _lingua(sample: str) -> LinguaLanguage | None:
    if len(sample) >= _LOW_ACCURACY_FROM_CHARS:
        return _ranker().detect_language_of(sample)
    # A short text: the full mode, among English, Turkish and the language the trigram pass ranks first among
    # the others (the most plausible "not ours"). The full mode over all 16 would load 1- to 5-gram models of
    # every candidate of the script (~5 s); on the labelled samples the trio answers as well (or better:
    # docs/report-text.md "Language detection at first use").
    ranked = _ranker().compute_language_confidence_values(sample)
    if not ranked or ranked[0].value <= 0:
        return None  # no trigram of any candidate: too little text to tell
    other = next((c.language for c in ranked if c.language not in _LINGUA and c.value > 0), None)
    trio = frozenset((*_LINGUA, other) if other is not None else _LINGUA)
    return _full(trio).detect_language_of(sample)


def detect_latin(text: str) -> Language | None:
    """English or Turkish for non-Han text; None when it is another language (or has no letters to tell)."""
    if not _LETTER.search(text):
        return None
    sample = text[:_DETECT_CHARS]  # the opening says the language; cost grows with length
    key = hashlib.blake2b(sample.encode("utf-8", "surrogatepass"), digest_size=16).digest() if _detections else b""
    if key in _detected:
        return _detected[key]
    found = _lingua(sample)
    language = _LINGUA.get(found) if found is not None else None
    if _detections:
        with _detected_lock:
            _detected[key] = language
            while len(_detected) > _detections:
                _detected.popitem(last=False)
    return language


def set_detections(size: int) -> None:
    """Remember at most ``size`` detections (0: none); forgets those remembered (``lines.set_memo_lines``)."""
    global _detections
    with _detected_lock:
        _detections = max(0, size)
        _detected.clear()


def clear_detections() -> None:
    """Forget the languages detected (the reader's memo, cleared with the lines': ``lines.clear_memo``)."""
    with _detected_lock:
        _detected.clear()


def runs(text: str, hint: Language | None) -> list[Run]:
    """Split the text into runs of one language each; offsets are into ``text``."""
    if hint in ("en", "tr") and not _HAN.search(text):
        return [Run(0, len(text), hint)]  # what the pieces below come to for Latin text with a Latin hint
    pieces: list[tuple[int, int]] = []
    for m in _PIECE.finditer(text):
        a, b = m.start(), m.end()
        first_han = _HAN.search(text, a, b)
        # "Impression: 右侧股骨头骨髓水肿。": the Latin header before the Han text stays with the Latin run.
        if first_han is not None and first_han.start() > a and len(_LETTER.findall(text[a : first_han.start()])) >= 2:
            pieces.append((a, first_han.start()))
            a = first_han.start()
        if b > a:
            pieces.append((a, b))
    is_han = [bool(_HAN.search(text[a:b])) for a, b in pieces]
    latin = " ".join(text[a:b] for (a, b), han in zip(pieces, is_han, strict=True) if not han)
    latin_letters = len(_LETTER.findall(latin))
    if any(is_han) and latin_letters < _MIN_LATIN_LETTERS:
        latin_language: Language | None = "zh"
    elif hint in ("en", "tr"):
        latin_language = hint
    else:
        latin_language = detect_latin(latin)
    out: list[Run] = []
    for (a, b), han in zip(pieces, is_han, strict=True):
        lang: Language | None = "zh" if han else latin_language
        if not han and not _LETTER.search(text[a:b]) and out:
            lang = out[-1].language  # punctuation or numbers only: stay with the run before
        if out and out[-1].language == lang:
            out[-1] = Run(out[-1].start, b, lang)
        else:
            out.append(Run(a, b, lang))
    return out
