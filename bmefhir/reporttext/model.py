"""What the report reader returns: mentions of imaging findings with their place in the text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bmefhir.record import Assertion, Site

Language = Literal["en", "tr", "zh", "und"]  # "und": not one of the languages bmefhir reads
SUPPORTED_LANGUAGES: tuple[Language, ...] = ("en", "tr", "zh")
MAX_QUOTE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Mention:
    """One finding at one site, as a sentence of the report states it.

    ``text[start:end] == quote``: the phrase stating the finding with its site, within one sentence.
    A finding stated for several sites is one mention per site, sharing the quote.
    """

    concept: str  # a key of bmefhir.concepts.FINDING_CONCEPTS
    site: Site | None
    start: int
    end: int
    quote: str
    assertion: Assertion
    section: str | None
    language: Language
    modality: str | None = None  # DICOM code of the sentence or the report ("MR", "CR", "CT", "NM")


@dataclass(frozen=True, slots=True)
class Reading:
    """The mentions of one report text, in text order, and what could not be read (never quoting it)."""

    language: Language
    mentions: tuple[Mention, ...] = ()
    modality: str | None = None
    problems: tuple[str, ...] = ()
