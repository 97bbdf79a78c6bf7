"""The small spaCy components of the report pipelines: a language-aware NORM and a sentence splitter.

No ``from __future__ import annotations`` here: spaCy reads the factories' annotations at registration.
"""

from typing import Any, Final

from spacy.language import Language
from spacy.tokens import Doc

SENTENCE_END: Final[dict[str, frozenset[str]]] = {
    "en": frozenset({".", "!", "?", ";"}),
    "tr": frozenset({".", "!", "?", ";"}),
    "zh": frozenset({"。", "；", "！", "？", ".", ";", "!", "?"}),
}
_TURKISH_LOWER: Final = str.maketrans({"İ": "i", "I": "ı"})


def turkish_lower(text: str) -> str:
    """Turkish lower case: dotted capital İ → i, dotless capital I → ı, then the usual lower()."""
    return text.translate(_TURKISH_LOWER).lower()


def lower_for(language: str, text: str) -> str:
    return turkish_lower(text) if language == "tr" else text.lower()


@Language.factory("bmefhir_norm", default_config={"language": "en", "stems": []})
def _make_norm(nlp: Language, name: str, language: str, stems: list[str]) -> Any:
    """NORM = the language's lower case; LEMMA = the longest lexicon stem the word begins with (else NORM).

    A stem pattern word w then matches the tokens whose LEMMA is one of the stems beginning with w (see
    ``stem_matches``): exact attribute tests instead of a regular expression per token and pattern, which
    Turkish, with hundreds of stems ("ödem" → "ödemi", "ödeminin"), cannot afford.
    """
    known = frozenset(stems)
    longest = max((len(s) for s in known), default=0)

    def norm(doc: Doc) -> Doc:
        for token in doc:
            lower = lower_for(language, token.text)
            token.norm_ = lower
            if known:
                stem = next((lower[:k] for k in range(min(len(lower), longest), 0, -1) if lower[:k] in known), lower)
                token.lemma_ = stem
        return doc

    return norm


@Language.factory("bmefhir_sentences", default_config={"language": "en"})
def _make_sentences(nlp: Language, name: str, language: str) -> Any:
    ends = SENTENCE_END.get(language, SENTENCE_END["en"])

    def split(doc: Doc) -> Doc:
        # A sentence ends at the language's punctuation or a line break; section headers already start one.
        previous = None
        for token in doc:
            if previous is None:
                token.is_sent_start = True
            elif not token.is_sent_start:
                token.is_sent_start = previous.text in ends or "\n" in previous.text
            previous = token
        return doc

    return split


def stem_matches(word: str, stems: frozenset[str]) -> list[str]:
    """The LEMMA values of words that begin with ``word``: the known stems that do."""
    return sorted(s for s in stems if s.startswith(word))
