"""The phrase-routed matcher finds exactly what medspaCy's own matcher finds, only faster (docs/report-text.md)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from medspacy.common.medspacy_matcher import MedspacyMatcher
from medspacy.common.util import prune_overlapping_matches
from medspacy.context import ConTextRule
from medspacy.section_detection import SectionRule
from medspacy.target_matcher import TargetRule
from spacy.language import Language
from spacy.tokens import Doc

from bmefhir.reporttext.lexicon import load_lexicon
from bmefhir.reporttext.matching import (
    LINE_BREAK,
    PhraseRoutedMatcher,
    anchor_and_length,
    exact_values,
    prune_longest,
)
from bmefhir.reporttext.pipeline import _context_rules, _line_headers, _patterns, _stem_words, pipeline
from bmefhir.reporttext.reader import _WRAPPED_LINE
from bmefhir.testing.report_corpus import load_corpus

Rules = Callable[[Language], Iterable[Any]]


def _rule_sets(language: str) -> dict[str, Rules]:
    lexicon = load_lexicon(language)
    stems = frozenset(_stem_words(lexicon))

    def targets(nlp: Language) -> Iterable[Any]:
        for e in lexicon.targets:
            for lit, pat in _patterns(nlp, e.words, language, stems):
                yield TargetRule(lit, e.concept, pattern=pat)

    def places(nlp: Language) -> Iterable[Any]:
        for site in lexicon.sites:
            for lit, pat in _patterns(nlp, site.words, language, stems):
                yield TargetRule(lit, "SITE:" + "+".join(site.structures), pattern=pat)
        for side in lexicon.sides:
            for lit, pat in _patterns(nlp, side.words, language, stems):
                yield TargetRule(lit, "SIDE:" + side.side, pattern=pat)

    def sections(nlp: Language) -> Iterable[Any]:
        for e in lexicon.sections:
            for lit, pat in _patterns(nlp, e.words, language, stems):
                yield SectionRule(lit, e.section, pattern=pat)
        yield from _line_headers(nlp, lexicon)

    def context(nlp: Language) -> Iterable[ConTextRule]:
        return _context_rules(nlp, lexicon, stems=stems)

    return {"targets": targets, "places": places, "sections": sections, "context": context}


def _normalised_docs(nlp: Language, language: str) -> list[Doc]:
    """The corpus passages as the reader gives them to the pipeline (hard-wrapped lines joined)."""
    norm = nlp.get_pipe("bmefhir_norm")
    return [norm(nlp.make_doc(_WRAPPED_LINE.sub(" ", p.text))) for p in load_corpus() if p.language == language]


def _found(matcher: MedspacyMatcher, doc: Doc) -> list[tuple[str, str, int, int]]:
    strings = doc.vocab.strings
    out = []
    for key, start, end in matcher(doc):
        rule = matcher.rule_map[strings[key]]
        out.append((rule.category, rule.literal, start, end))
    return sorted(out)


def _crosses_a_line(doc: Doc, start: int, end: int) -> bool:
    """What the routed matcher leaves out on purpose: a match that goes on past a line break."""
    return any(t.norm_ == LINE_BREAK for t in doc[start : end - 1])


@pytest.mark.parametrize(("language", "prune"), [("en", True), ("tr", True), ("zh", True), ("tr", False)])
def test_same_matches_as_medspacy_on_the_corpus(language: str, prune: bool) -> None:
    nlp = pipeline(language)
    docs = _normalised_docs(nlp, language)
    compared = 0
    for name, rules in _rule_sets(language).items():
        plain = MedspacyMatcher(nlp, phrase_matcher_attr="NORM", prune=prune)
        plain.add(list(rules(nlp)))
        routed = PhraseRoutedMatcher(nlp, name=name, phrase_matcher_attr="NORM", prune=prune)
        routed.add(list(rules(nlp)))
        assert routed.rule_map.keys() == plain.rule_map.keys()  # the same ids, so components look rules up alike
        for doc in docs:
            expected = _found(plain, doc)
            assert not any(_crosses_a_line(doc, start, end) for *_, start, end in expected)  # (the one difference)
            assert _found(routed, doc) == expected, (language, name, doc.text[:60])
            compared += len(expected)
    assert compared > 100  # the corpus exercises the rules


def test_exact_single_attribute_patterns_are_phrases() -> None:
    assert exact_values([{"NORM": "bone"}, {"NORM": "marrow"}]) == ("NORM", ["bone", "marrow"])
    assert exact_values([{"LEMMA": "kemik"}, {"LEMMA": "iliği"}]) == ("LEMMA", ["kemik", "iliği"])
    assert exact_values([{"NORM": "low"}, {"LEMMA": "t1"}]) is None  # two attributes: one PhraseMatcher cannot
    assert exact_values([{"NORM": {"IN": ["low", "decreased"]}}]) is None
    assert exact_values([{"NORM": "low", "OP": "?"}]) is None
    assert exact_values([{"TEXT": "MRI"}]) is None


def test_windows_only_for_bounded_patterns_with_a_known_first_word() -> None:
    strings = pipeline("en").vocab.strings
    bounded = [{"NORM": {"IN": ["low", "decreased"]}}, {"NORM": {"NOT_IN": ["t2"]}, "OP": "{0,5}"}, {"NORM": "t1"}]
    anchored = anchor_and_length(bounded, strings)
    assert anchored is not None
    assert anchored[0] == frozenset({strings["low"], strings["decreased"]})
    assert anchored[1] == 7
    assert anchor_and_length([{"NORM": "low"}, {"OP": "*"}, {"NORM": "t1"}], strings) is None  # unbounded
    assert anchor_and_length([{"NORM": "low", "OP": "?"}, {"NORM": "t1"}], strings) is None  # may start later
    assert anchor_and_length([{"LOWER": "t1"}, {"NORM": "low"}], strings) is None  # another attribute: open
    by_regex = anchor_and_length([{"NORM": {"REGEX": "^t1"}}, {"NORM": "low"}], strings)  # a test on the first word
    assert by_regex is not None
    assert isinstance(by_regex[0], re.Pattern)
    assert by_regex[1] == 2
    assert by_regex[0].search("t1w")
    assert not by_regex[0].search("low")


@pytest.mark.parametrize(
    "pattern",
    [
        [{"NORM": "low"}, {"NORM": {"NOT_IN": ["."]}, "OP": "{0,3}"}, {"NORM": "t1"}],  # windowed
        [{"NORM": "low"}, {"OP": "*"}, {"NORM": "t1"}],  # unbounded: the whole doc
        [{"NORM": {"REGEX": "^lo"}}, {"NORM": {"NOT_IN": ["."]}, "OP": "{0,3}"}, {"NORM": {"REGEX": "^t1$"}}],
    ],
)
def test_token_patterns_match_at_the_edges_of_the_doc(pattern: list[dict[str, Any]]) -> None:
    nlp = pipeline("en")
    norm = nlp.get_pipe("bmefhir_norm")
    texts = ["Low on T1", "low t1", "Signal is low on the T1. Again low T1", "low. T1", "No match here", "T1 low"]
    texts += ["low a b c t1", "low a b c d t1 low", "low low low a t1", "t1 low a b c d e t1"]  # at and past the bound
    texts += ["low a\nT1", "low a T1\n", "low\n\nb T1 low T1"]  # a line break ends every match
    plain = MedspacyMatcher(nlp, phrase_matcher_attr="NORM", prune=False)
    plain.add([TargetRule("p", "X", pattern=pattern)])
    routed = PhraseRoutedMatcher(nlp, name="t", phrase_matcher_attr="NORM", prune=False)
    routed.add([TargetRule("p", "X", pattern=pattern)])
    hits = 0
    for text in texts:
        doc = norm(nlp.make_doc(text))
        expected = [m for m in _found(plain, doc) if not _crosses_a_line(doc, m[2], m[3])]
        assert _found(routed, doc) == expected, text
        hits += len(expected)
    assert hits >= 4


def test_pruning_keeps_what_medspacy_keeps() -> None:
    rng = random.Random(9)
    cases = [[], [(1, 0, 2)], [(1, 0, 2), (2, 0, 2)], [(1, 0, 3), (2, 1, 2), (3, 2, 5)]]
    for _ in range(3000):  # random overlapping matches of up to 12 rules over a 20-token doc, ties included
        cases.append([(rng.randint(1, 12), a, a + rng.randint(1, 5)) for a in (rng.randint(0, 20) for _ in range(8))])
    pruned = 0
    for matches in cases:
        expected = prune_overlapping_matches(list(matches))
        assert prune_longest(list(matches)) == expected, matches
        ordered = sorted(matches, key=lambda m: (m[1], m[2], m[0]))  # as the routed matcher passes them
        assert prune_longest(list(ordered), ordered=True) == prune_overlapping_matches(list(ordered)), ordered
        pruned += len(matches) - len(expected)
    assert pruned > 1000  # the cases overlap


def test_no_token_pattern_match_goes_past_a_line_break() -> None:
    nlp = pipeline("en")
    norm = nlp.get_pipe("bmefhir_norm")
    routed = PhraseRoutedMatcher(nlp, name="t", phrase_matcher_attr="NORM", prune=False)
    pattern = [{"NORM": "low"}, {"NORM": {"NOT_IN": ["."]}, "OP": "{0,3}"}, {"NORM": "t1"}]
    unbounded = [{"NORM": "high"}, {"OP": "*"}, {"NORM": "t2"}]
    routed.add([TargetRule("p", "X", pattern=pattern), TargetRule("q", "Y", pattern=unbounded)])
    spans = {
        text: [doc[s:e].text for _, s, e in routed(doc)]
        for text in ("Low on\nT1. High on\nT2", "Low on T1\nhigh on T2", "low T1 \n")
        for doc in [norm(nlp.make_doc(text))]
    }
    assert spans == {
        "Low on\nT1. High on\nT2": [],
        "Low on T1\nhigh on T2": ["Low on T1", "high on T2"],
        "low T1 \n": ["low T1"],
    }
