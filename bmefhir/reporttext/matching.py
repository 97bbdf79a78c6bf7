"""Exact word sequences through spaCy's PhraseMatcher; only real token patterns through its Matcher.

medspaCy's ``MedspacyMatcher`` sends every rule with a token pattern to spaCy's ``Matcher``, which starts a
state for every pattern at every token: with the lexicons' ~500 term and stem patterns per component that was
most of the reader's time (docs/report-text.md "Speed"). A pattern whose every token is one exact ``NORM`` or
``LEMMA`` value (what ``pipeline._patterns`` compiles terms and stems into) matches exactly where a
``PhraseMatcher`` on that attribute matches the same values, and the PhraseMatcher looks each token up in a
trie instead. Rules, ids, labels and pruning stay medspaCy's, so its components read the matches unchanged.
"""

from __future__ import annotations

from typing import Any, Final

from medspacy.common.base_rule import BaseRule
from medspacy.common.medspacy_matcher import MedspacyMatcher
from medspacy.common.util import prune_overlapping_matches
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

PHRASE_ATTRS: Final = ("NORM", "LEMMA")


def exact_values(pattern: list[dict[str, Any]]) -> tuple[str, list[str]] | None:
    """``(attr, values)`` when every token of the pattern is one exact value of the same phrase attribute."""
    attrs = {next(iter(token)) for token in pattern if len(token) == 1}
    if len(attrs) != 1 or any(len(token) != 1 for token in pattern):
        return None
    attr = attrs.pop()
    values = [token[attr] for token in pattern]
    if attr not in PHRASE_ATTRS or not all(isinstance(v, str) for v in values):
        return None
    return attr, values


class PhraseRoutedMatcher(MedspacyMatcher):
    """A ``MedspacyMatcher`` that matches exact single-attribute patterns with a PhraseMatcher per attribute."""

    def __init__(self, nlp: Language, name: str, phrase_matcher_attr: str, prune: bool) -> None:
        super().__init__(nlp, name=name, phrase_matcher_attr=phrase_matcher_attr, prune=prune)
        self._vocab = nlp.vocab
        self._phrases = {attr: PhraseMatcher(nlp.vocab, attr=attr) for attr in PHRASE_ATTRS}
        self._order: dict[int, int] = {}  # match id → the rule's place, to break ties as the Matcher did

    def add(self, rules: Any) -> None:
        rest: list[BaseRule] = []
        for rule in rules:
            exact = exact_values(rule.pattern) if isinstance(rule.pattern, list) else None
            if exact is None:
                rest.append(rule)
                continue
            self._add_rest(rest)  # keep the rule ids (category_count) in the order given
            rest = []
            self._add_phrase(rule, *exact)
        self._add_rest(rest)

    def _add_rest(self, rules: list[BaseRule]) -> None:
        super().add(rules)
        for rule in rules:
            self._order[self._vocab.strings[rule._rule_id]] = int(rule._rule_id.rsplit("_", 1)[1])

    def _add_phrase(self, rule: BaseRule, attr: str, values: list[str]) -> None:
        # The id medspaCy would give it, registered in its maps: its components look rules up by id.
        count = self._MedspacyMatcher__rule_count  # type: ignore[attr-defined]
        rule_id = f"{rule.category}_{count}"
        rule._rule_id = rule_id
        self._labels.add(rule.category)
        self._rule_map[rule_id] = rule
        doc = Doc(self._vocab, words=values)
        for token, value in zip(doc, values, strict=True):
            token.norm_ = value
            token.lemma_ = value
        self._phrases[attr].add(rule_id, [doc], on_match=rule.on_match)
        self._order[self._vocab.strings[rule_id]] = count
        self._MedspacyMatcher__rule_count = count + 1  # type: ignore[attr-defined]

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        matches = list(self._MedspacyMatcher__matcher(doc))  # type: ignore[attr-defined]
        for phrases in self._phrases.values():
            if len(phrases):
                matches += phrases(doc)
        matches += self._MedspacyMatcher__regex_matcher(doc)  # type: ignore[attr-defined]
        order = self._order
        matches.sort(key=lambda m: (m[1], m[2], order.get(m[0], -1)))
        return prune_overlapping_matches(matches) if self._prune else matches


def route_phrases(component: Any, nlp: Language, name: str = "medspacy_matcher") -> None:
    """Give a medspaCy component (TargetMatcher, ConText, Sectionizer) a phrase-routed matcher, before rules."""
    attr = f"_{type(component).__name__}__matcher"
    old: MedspacyMatcher = getattr(component, attr)
    if old.rules:
        raise ValueError("route_phrases must be called before rules are added")
    new = PhraseRoutedMatcher(
        nlp,
        name=name,
        phrase_matcher_attr=old._MedspacyMatcher__phrase_matcher_attr,  # type: ignore[attr-defined]
        prune=old._prune,
    )
    setattr(component, attr, new)
