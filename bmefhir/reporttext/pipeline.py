"""One spaCy + medspaCy pipeline per language, built once from its lexicon and cached.

Components, in order: a normaliser (``NORM`` = lower case, Turkish-aware for ``tr``: İ→i, I→ı), the
medspaCy Sectionizer (which starts a sentence at each header; ``SectionsOnly``, without its per-token
attributes), a rule-based sentence splitter with the language's punctuation (spaCy's Sentencizer would
overwrite the header boundaries), a medspaCy TargetMatcher for findings (doc.ents), one for sites, sides and
modalities (a span group, so a site may lie inside a finding: "股骨头坏死"), and medspaCy ConText over the
findings (``SentenceContext``: only in sentences that hold one).
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, cast

import spacy
from medspacy.context import ConText, ConTextRule
from medspacy.section_detection import Sectionizer, SectionRule
from medspacy.target_matcher import TargetMatcher, TargetRule
from spacy.attrs import ORTH
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from bmefhir.reporttext import components  # noqa: F401  (registers the spaCy factories)
from bmefhir.reporttext.components import CharTokenizer, lower_for, stem_matches
from bmefhir.reporttext.lexicon import Lexicon, Terms, load_lexicon
from bmefhir.reporttext.matching import LINE_BREAK, route_phrases

SITE_GROUP: Final = "bmefhir_sites"
SPREAD_GROUP: Final = "bmefhir_spread"
PHRASE_GROUP: Final = "bmefhir_phrases"
NOT_A_FINDING: Final = "NOT_A_FINDING"
INTACT_ONLY: Final = "@intact"  # label suffix of a structure term that states its finding only when negated

logging.getLogger("jieba").setLevel(logging.WARNING)  # jieba prints its dictionary loading otherwise


# functools.cache does not make a second caller wait for a call in progress: the four threads of a fresh sync pool
# would each build the English pipeline (~1.7 s CPU each). The lock makes them wait for the first one's.
_building = threading.Lock()


@functools.cache
def pipeline(language: str) -> Language:
    """The cached pipeline of one language (``en``, ``tr``, ``zh``), built once however many threads ask at once."""
    with _building:
        return _built(language)


@functools.cache
def _built(language: str) -> Language:
    return build_pipeline(load_lexicon(language))


def process(language: str, text: str) -> Doc:
    """``pipeline(language)(text)``: the tokenizer, then each component in order, called directly (spaCy's
    ``Language.__call__`` looks up error handlers and component settings for every component of every doc, ~15 % of
    a report's pipeline time; docs/report-text.md "Speed"). An error in a component propagates, as it does there."""
    make_doc, steps = _steps(language)
    doc = make_doc(text)
    for step in steps:
        doc = step(doc)
    return doc


@functools.cache
def _steps(language: str) -> tuple[Callable[[str], Doc], tuple[Callable[[Doc], Doc], ...]]:
    nlp = pipeline(language)
    return nlp.make_doc, tuple(component for _, component in nlp.pipeline)


@functools.cache
def negation_pipeline(max_scope: int) -> Language:
    """English ConText alone over NORM-lowered tokens, scopes cut to ``max_scope`` tokens (NegEx's window).

    Used by ``bmefhir.terminology.negation`` on short coded-data text fields; targets are set by the caller.
    """
    lexicon = load_lexicon("en")
    nlp = _blank("en")
    nlp.add_pipe("bmefhir_sentences", config={"language": "en"})
    rules = list(_context_rules(nlp, lexicon, max_scope=max_scope))
    context: ConText = nlp.add_pipe(
        "medspacy_context", config={"rules": None, "span_attrs": None, "phrase_matcher_attr": "NORM"}
    )
    route_phrases(context, nlp)
    context.add(rules)
    return nlp


def build_pipeline(lexicon: Lexicon) -> Language:
    lang = lexicon.language
    stems = frozenset(_stem_words(lexicon))
    nlp = _blank(lang, sorted(stems))

    def pats(words: Terms) -> Iterable[tuple[str, list[dict[str, Any]]]]:
        return _patterns(nlp, words, lang, stems)

    sectionizer: Sectionizer = nlp.add_pipe(
        "bmefhir_sectionizer",
        config={"rules": None, "phrase_matcher_attr": "NORM", "apply_sentence_boundary": True, "span_attrs": None},
    )
    route_phrases(sectionizer, nlp)
    sectionizer.add([SectionRule(lit, e.section, pattern=pat) for e in lexicon.sections for lit, pat in pats(e.words)])
    sectionizer.add(list(_line_headers(nlp, lexicon)))
    nlp.add_pipe("bmefhir_sentences", config={"language": lang})
    # Matches kept as tuples (MatchesOnly), set as doc.ents once by bmefhir_merge_spread (medspaCy adds ents one by
    # one: quadratic).
    findings: TargetMatcher = nlp.add_pipe(
        "bmefhir_matches",
        name="medspacy_target_matcher",
        config={"phrase_matcher_attr": "NORM", "result_type": "group", "span_group_name": PHRASE_GROUP},
    )
    route_phrases(findings, nlp)
    findings.add(
        [
            TargetRule(lit, e.concept + (INTACT_ONLY if e.intact_only else ""), pattern=pat)
            for e in lexicon.targets
            for lit, pat in pats(e.words.phrases)
        ]
    )
    # Longest match wins, so "transient osteoporosis" (a diagnosis) hides its "osteoporosis" (a finding word).
    findings.add(
        [TargetRule(lit, NOT_A_FINDING, pattern=pat) for words in lexicon.not_findings for lit, pat in pats(words)]
    )
    # Token patterns ("T2 ... artmış", "low ... T1") span words between; they yield to the phrases they overlap.
    spread: TargetMatcher = nlp.add_pipe(
        "bmefhir_matches",
        name="bmefhir_spread_findings",
        config={"phrase_matcher_attr": "NORM", "result_type": "group", "span_group_name": SPREAD_GROUP},
    )
    route_phrases(spread, nlp)
    spread.add([TargetRule(lit, e.concept, pattern=pat) for e in lexicon.targets for lit, pat in pats(e.words.spread)])
    nlp.add_pipe("bmefhir_merge_spread", config={"phrases": PHRASE_GROUP, "group": SPREAD_GROUP})
    places: TargetMatcher = nlp.add_pipe(
        "bmefhir_matches",
        name="bmefhir_places",
        config={"phrase_matcher_attr": "NORM", "result_type": "group", "span_group_name": SITE_GROUP, "prune": True},
    )
    route_phrases(places, nlp)
    places.add(
        [
            TargetRule(lit, "SITE:" + "+".join(e.structures), pattern=pat)
            for e in lexicon.sites
            for lit, pat in pats(e.words)
        ]
        + [TargetRule(lit, "SIDE:" + e.side, pattern=pat) for e in lexicon.sides for lit, pat in pats(e.words)]
        + [
            TargetRule(lit, "MODALITY:" + e.modality, pattern=pat)
            for e in lexicon.modalities
            for lit, pat in pats(e.words)
        ]
    )
    context: ConText = nlp.add_pipe(
        "bmefhir_context",
        name="medspacy_context",
        config={"rules": None, "span_attrs": None, "phrase_matcher_attr": "NORM"},
    )
    route_phrases(context, nlp)
    context.add(list(_context_rules(nlp, lexicon, stems=stems)))
    return nlp


def _line_headers(nlp: Language, lexicon: Lexicon) -> Iterator[SectionRule]:
    """A header written on a line of its own without its colon ("Klinik bilgi\\n", "FINDINGS\\n", an HTML <h2> made
    text): the header words followed by white space with a line break (its NORM is LINE_BREAK), an exact phrase."""
    for e in lexicon.sections:
        for term in e.words.terms:
            bare = term.rstrip(":：").strip()
            if bare == term or not bare:
                continue
            words = [{"NORM": lower_for(lexicon.language, t.text)} for t in nlp.make_doc(bare) if not t.is_space]
            yield SectionRule(bare, e.section, pattern=[*words, {"NORM": LINE_BREAK}])


def _stem_words(lexicon: Lexicon) -> list[str]:
    groups: list[Terms] = [e.words for e in lexicon.targets]
    groups += [*lexicon.not_findings, *(e.words for e in lexicon.sites), *(e.words for e in lexicon.sides)]
    groups += [e.words for e in lexicon.context] + [e.words for e in lexicon.sections]
    groups += [e.words for e in lexicon.modalities]
    make_doc = spacy.blank(lexicon.language).make_doc if lexicon.language != "zh" else None
    words: set[str] = set()
    for g in groups:
        for stem in g.stems:
            tokens = [t.text for t in make_doc(stem)] if make_doc else stem.split()
            words.update(lower_for(lexicon.language, t) for t in tokens if t.strip())
    return sorted(words)


def _blank(language: str, stems: list[str] | None = None) -> Language:
    if language == "zh":
        # Character segmentation: every Han character a token, so a lexicon term matches wherever its characters
        # occur (see docs/report-text.md "Choices" for the measurement against jieba).
        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
        nlp.tokenizer = CharTokenizer(nlp.vocab)
    else:
        nlp = spacy.blank(language)
        # spaCy's base exceptions make " ", "\t" and "\n" special cases that tokenize as themselves; one such hit
        # turns off the tokenizer's cache for the rest of the doc (its has_special flag is per call), so every word
        # after a report's first line break was split by the affix rules again. Without them the tokens are the
        # same (tests/reporttext/test_components.py) and the tokenizer takes half the time (docs/report-text.md).
        tokenizer = cast(Tokenizer, nlp.tokenizer)
        tokenizer.rules = {k: v for k, v in (tokenizer.rules or {}).items() if not _identity_space(k, v)}
    nlp.add_pipe("bmefhir_norm", config={"language": language, "stems": stems or []})
    return nlp


def _identity_space(text: str, tokens: list[dict[int, str]]) -> bool:
    """A tokenizer exception that makes a white-space string one token of itself, nothing else set."""
    return text.isspace() and tokens == [{ORTH: text}]


def _context_rules(
    nlp: Language, lexicon: Lexicon, max_scope: int | None = None, stems: frozenset[str] = frozenset()
) -> Iterator[ConTextRule]:
    for e in lexicon.context:
        for lit, pat in _patterns(nlp, e.words, lexicon.language, stems):
            yield ConTextRule(
                lit, e.category or e.direction, pattern=pat, direction=e.direction, max_scope=e.max_scope or max_scope
            )


def _patterns(
    nlp: Language, words: Terms, language: str, stems: frozenset[str] = frozenset()
) -> Iterable[tuple[str, list[dict[str, Any]]]]:
    """Token patterns for every term (NORM equal), stem (NORM prefix per word) and explicit pattern."""
    for term in words.terms:
        tokens = [t.text for t in nlp.make_doc(term) if not t.is_space]
        yield term, [{"NORM": lower_for(language, t)} for t in tokens]
    for stem in words.stems:
        tokens = [t.text for t in nlp.make_doc(stem) if not t.is_space]
        # Each word stands for the known stems it begins (LEMMA, set by bmefhir_norm); one exact pattern per
        # combination, which matching.py sends to a PhraseMatcher on LEMMA (a set test per token: ~10x slower).
        choices = [stem_matches(lower_for(language, t), stems) for t in tokens]
        for combination in itertools.product(*choices):
            yield stem, [{"LEMMA": value} for value in combination]
    for i, pattern in enumerate(words.patterns):
        yield f"pattern {i}", pattern
