"""Exact word sequences through spaCy's PhraseMatcher; only real token patterns through its Matcher.

medspaCy's ``MedspacyMatcher`` sends every rule with a token pattern to spaCy's ``Matcher``, which starts a
state for every pattern at every token: with the lexicons' ~500 term and stem patterns per component that was
most of the reader's time (docs/report-text.md "Speed"). A pattern whose every token is one exact ``NORM`` or
``LEMMA`` value (what ``pipeline._patterns`` compiles terms and stems into) matches exactly where a
``PhraseMatcher`` on that attribute matches the same values, and the PhraseMatcher looks each token up in a
trie instead. Rules, ids, labels and pruning stay medspaCy's, so its components read the matches unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from medspacy.common.base_rule import BaseRule
from medspacy.common.medspacy_matcher import MedspacyMatcher
from medspacy.common.util import prune_overlapping_matches
from spacy.attrs import NORM
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc

PHRASE_ATTRS: Final = ("NORM", "LEMMA")
_REGEX_CACHE_LIMIT: Final = 50_000  # distinct words remembered per regular expression
# What every match of a pattern needs some token of the doc to have: one of a set of NORM hashes, or a NORM
# passing a test (a regular expression).
Requirement = frozenset[int] | Callable[[int], bool]


def _required(token: dict[str, Any]) -> bool:
    """Whether every match has this pattern token (no OP, or one that takes at least one token)."""
    op = token.get("OP")
    if op in (None, "1", "+"):
        return True
    return isinstance(op, str) and op.startswith("{") and op[1:-1].partition(",")[0].strip() not in ("", "0")


def requirements(pattern: list[dict[str, Any]], strings: Any) -> list[Requirement]:
    """Tests on NORM that a doc must pass, one per required pattern token, for the pattern to match at all.

    Only the NORM tests a pattern token states alone (exact, IN, REGEX) are used; any other token asks nothing.
    """
    out: list[Requirement] = []
    for token in pattern:
        spec = {k: v for k, v in token.items() if k != "OP"}
        if not _required(token) or list(spec) != ["NORM"]:
            continue
        value = spec["NORM"]
        if isinstance(value, str):
            out.append(frozenset({strings.add(value)}))
        elif isinstance(value, dict) and list(value) == ["IN"] and all(isinstance(v, str) for v in value["IN"]):
            out.append(frozenset(strings.add(v) for v in value["IN"]))
        elif isinstance(value, dict) and list(value) == ["REGEX"] and isinstance(value["REGEX"], str):
            out.append(_regex_test(re.compile(value["REGEX"]), strings))
    return out


def _repeats(op: Any) -> int | None:
    """The most tokens one pattern token with this OP takes; None when unbounded."""
    if op in (None, "!", "?", "1"):
        return 1
    if isinstance(op, str) and op.startswith("{") and op.endswith("}"):
        low, comma, high = op[1:-1].partition(",")
        bound = (high if comma else low).strip()
        return int(bound) if bound else None
    return None  # "*", "+"


def anchor_and_length(pattern: list[dict[str, Any]], strings: Any) -> tuple[Requirement, int] | None:
    """The test a match's first token passes (NORM hashes, or a regular expression on NORM) and the most tokens a
    match spans; None when either is open."""
    first = pattern[0]
    if first.get("OP") not in (None, "1") or set(first) - {"OP"} != {"NORM"}:
        return None
    tests = requirements([first], strings)
    if not tests:
        return None
    length = 0
    for token in pattern:
        n = _repeats(token.get("OP"))
        if n is None:
            return None
        length += n
    return tests[0], length


@dataclass(frozen=True, slots=True)
class _TokenPattern:
    """One token pattern in a Matcher of its own, with what a doc must have for it to match."""

    matcher: Matcher
    needs: list[Requirement]
    # When the first token is known and a match is bounded: the Matcher runs only on the windows after such tokens.
    anchor: Requirement | None = None
    length: int = 0

    def matches(self, doc: Doc, norms: set[int], positions: dict[int, list[int]]) -> list[tuple[int, int, int]]:
        if not all(_present(need, norms) for need in self.needs):
            return []
        if self.anchor is None:
            return list(self.matcher(doc))
        anchor = self.anchor
        first = anchor & norms if isinstance(anchor, frozenset) else [n for n in norms if anchor(n)]
        windows: list[list[int]] = []
        for start in sorted(i for n in first for i in positions[n]):
            end = min(len(doc), start + self.length)
            if windows and start <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], end)
            else:
                windows.append([start, end])
        out: list[tuple[int, int, int]] = []
        for start, end in windows:
            out += [(key, start + a, start + b) for key, a, b in self.matcher(doc[start:end])]
        return out


def _present(need: Requirement, norms: set[int]) -> bool:
    if isinstance(need, frozenset):
        return not need.isdisjoint(norms)
    return any(need(n) for n in norms)


def _regex_test(regex: re.Pattern[str], strings: Any) -> Requirement:
    seen: dict[int, bool] = {}

    def test(norm: int) -> bool:
        found = seen.get(norm)
        if found is None:
            if len(seen) > _REGEX_CACHE_LIMIT:
                seen.clear()
            found = seen[norm] = regex.search(strings[norm]) is not None  # the Matcher's REGEX is re.search
        return found

    return test


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


class PhraseRoutedMatcher(MedspacyMatcher):  # type: ignore[misc]
    """A ``MedspacyMatcher`` that matches exact single-attribute patterns with a PhraseMatcher per attribute."""

    def __init__(self, nlp: Language, name: str, phrase_matcher_attr: str, prune: bool) -> None:
        super().__init__(nlp, name=name, phrase_matcher_attr=phrase_matcher_attr, prune=prune)
        self._vocab = nlp.vocab
        self._phrases = {attr: PhraseMatcher(nlp.vocab, attr=attr) for attr in PHRASE_ATTRS}
        self._order: dict[int, int] = {}  # match id → the rule's place, to break ties as the Matcher did
        # Each remaining token pattern in a Matcher of its own, run only on docs that have a word for each of its
        # required NORM tests: the Matcher evaluates IN/REGEX tests in Python at every token, for every pattern.
        self._token_patterns: list[_TokenPattern] = []
        self._unanchored: list[_TokenPattern] = []  # tried on every doc (their first-token test is not a set)
        self._by_anchor: dict[int, list[_TokenPattern]] = {}  # NORM hash → the patterns whose first token it is

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
        super().add([r for r in rules if not isinstance(r.pattern, list)])
        for rule in rules:
            if isinstance(rule.pattern, list):
                rule_id = self._register(rule)
                matcher = Matcher(self._vocab)
                matcher.add(rule_id, [rule.pattern], on_match=rule.on_match)
                strings = self._vocab.strings
                windowed = anchor_and_length(rule.pattern, strings) if rule.on_match is None else None
                pattern = _TokenPattern(matcher, requirements(rule.pattern, strings), *(windowed or (None, 0)))
                self._token_patterns.append(pattern)
                if not isinstance(pattern.anchor, frozenset):
                    self._unanchored.append(pattern)
                for n in pattern.anchor if isinstance(pattern.anchor, frozenset) else ():
                    self._by_anchor.setdefault(n, []).append(pattern)
            self._order[self._vocab.strings[rule._rule_id]] = int(rule._rule_id.rsplit("_", 1)[1])

    def _register(self, rule: BaseRule) -> str:
        """Give the rule the id medspaCy would and enter it in its maps: its components look rules up by id."""
        count: int = self._MedspacyMatcher__rule_count  # type: ignore[has-type]
        rule_id = f"{rule.category}_{count}"
        rule._rule_id = rule_id
        self._labels.add(rule.category)
        self._rule_map[rule_id] = rule
        self._MedspacyMatcher__rule_count = count + 1
        return rule_id

    def _add_phrase(self, rule: BaseRule, attr: str, values: list[str]) -> None:
        rule_id = self._register(rule)
        doc = Doc(self._vocab, words=values)
        for token, value in zip(doc, values, strict=True):
            token.norm_ = value
            token.lemma_ = value
        self._phrases[attr].add(rule_id, [doc], on_match=rule.on_match)
        self._order[self._vocab.strings[rule_id]] = int(rule_id.rsplit("_", 1)[1])

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        matches: list[tuple[int, int, int]] = []
        if self._token_patterns:
            values = doc.to_array(NORM).tolist()
            positions: dict[int, list[int]] = {}
            for i, n in enumerate(values):
                positions.setdefault(n, []).append(i)
            norms = set(positions)
            by_anchor = self._by_anchor
            candidates = {id(p): p for n in norms for p in by_anchor.get(n, ())}
            for pattern in (*self._unanchored, *candidates.values()):
                matches += pattern.matches(doc, norms, positions)
        for phrases in self._phrases.values():
            if len(phrases):
                matches += phrases(doc)
        matches += self._MedspacyMatcher__regex_matcher(doc)
        order = self._order
        matches.sort(key=lambda m: (m[1], m[2], order.get(m[0], -1)))
        return prune_overlapping_matches(matches) if self._prune else matches


def route_phrases(component: Any, nlp: Language, name: str = "medspacy_matcher") -> None:
    """Give a medspaCy component (TargetMatcher, ConText, Sectionizer) a phrase-routed matcher, before rules."""
    # The name-mangled attribute of the medspaCy class that defines it (a subclass such as SectionsOnly inherits it).
    attr = next(
        name for cls in type(component).__mro__ if hasattr(component, name := f"_{cls.__name__}__matcher")
    )
    old: MedspacyMatcher = getattr(component, attr)
    if old.rules:
        raise ValueError("route_phrases must be called before rules are added")
    new = PhraseRoutedMatcher(
        nlp,
        name=name,
        phrase_matcher_attr=old._MedspacyMatcher__phrase_matcher_attr,
        prune=old._prune,
    )
    setattr(component, attr, new)
