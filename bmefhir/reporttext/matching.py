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
from bisect import bisect_left
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

from medspacy.common.base_rule import BaseRule
from medspacy.common.medspacy_matcher import MedspacyMatcher
from spacy.attrs import NORM
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc

PHRASE_ATTRS: Final = ("NORM", "LEMMA")
# The NORM of every white-space token with a line break in it (bmefhir_norm sets it): a token pattern's match never
# goes on past one, so what is read from a line does not depend on the lines around it (docs/report-text.md).
LINE_BREAK: Final = "\n"
# What bmefhir_norm (components.py) keeps in doc.user_data: (ORTH, (NORM, LEMMA), NORM per token).
TOKENS_KEY: Final = "bmefhir_tokens"
_start_end: Final = itemgetter(1, 2)
_REGEX_CACHE_LIMIT: Final = 50_000  # distinct words whose regular-expression results are remembered per matcher
# What every match of a pattern needs some token of the doc to have: one of a set of NORM hashes, or a NORM that a
# regular expression finds something in (re.search, as the Matcher's REGEX).
Requirement = frozenset[int] | re.Pattern[str]


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
            out.append(re.compile(value["REGEX"]))
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


def starred(pattern: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The pattern with its one bounded repeat ``{lo,hi}`` written as ``lo`` copies and ``*``; None when it has not
    exactly one and every other token once.

    Within a stretch of at most the pattern's bound after its first word the two match the same: a ``*`` there takes
    at most ``hi`` tokens. spaCy's Matcher writes ``{0,10}`` as ten optional tokens, each a branch, and was most of
    the Chinese reader's time (docs/report-text.md "Speed"); a ``*`` is one state.
    """
    repeats = [i for i, token in enumerate(pattern) if token.get("OP") not in (None, "1")]
    if len(repeats) != 1:
        return None
    token = pattern[repeats[0]]
    op = token["OP"]
    if not (isinstance(op, str) and op.startswith("{") and op.endswith("}") and "," in op):
        return None
    low = op[1:-1].partition(",")[0].strip()
    if not low.isdigit() or _repeats(op) is None:
        return None
    test = {k: v for k, v in token.items() if k != "OP"}
    return [
        *pattern[: repeats[0]],
        *[dict(test) for _ in range(int(low))],
        {**test, "OP": "*"},
        *pattern[repeats[0] + 1 :],
    ]


# A test of the matcher's own: a set of NORM hashes, or the index of a regular expression in its list.
_Test = frozenset[int] | int


@dataclass(frozen=True, slots=True)
class _TokenPattern:
    """A token pattern with what a doc must have for it to match: in a Matcher of its own when it cannot be windowed
    (run on the whole doc), else in the matcher's windowed Matcher ``group``."""

    needs: list[_Test]
    matcher: Matcher | None = None
    group: int = 0
    anchor: _Test = frozenset()  # the test its first token passes (windowed patterns)
    length: int = 0  # the most tokens a match spans (windowed patterns)
    words: frozenset[int] = frozenset()  # the NORMs its set tests (anchor and needs) name


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
    """A ``MedspacyMatcher`` that matches exact single-attribute patterns with a PhraseMatcher per attribute.

    The remaining token patterns run only on docs that have a word for each of their required NORM tests (the
    Matcher evaluates IN/REGEX tests in Python at every token, for every pattern). A bounded pattern whose first
    token is a NORM test sits in one shared Matcher, run once on each stretch of the doc where such a pattern
    starts and every word it requires occurs within its bound: every match of such a pattern lies within its first
    token and the bound after it, and a Matcher run on a stretch finds only real matches, so the matches are the
    whole-doc Matcher's (test_matching.py). No token-pattern match goes on past a line break (``LINE_BREAK``): the
    stretches end at one, and the whole-doc matches that do are dropped.
    """

    def __init__(self, nlp: Language, name: str, phrase_matcher_attr: str, prune: bool) -> None:
        super().__init__(nlp, name=name, phrase_matcher_attr=phrase_matcher_attr, prune=prune)
        self._vocab = nlp.vocab
        self._phrases = {attr: PhraseMatcher(nlp.vocab, attr=attr) for attr in PHRASE_ATTRS}
        self._order: dict[int, int] = {}  # match id → the rule's place, to break ties as the Matcher did
        self._token_patterns: list[_TokenPattern] = []
        # The windowed patterns, one Matcher for each first-token test (run on the windows where that test passes),
        # with that test and the longest match of its patterns.
        self._windowed: list[Matcher] = []
        self._groups: dict[tuple[_Test, int], int] = {}  # (first test, bound of a starred group or 0) → group
        self._group_anchor: list[tuple[_Test, int]] = []
        self._group_starred: list[bool] = []  # run from each start alone, keeping the matches that begin there
        self._unwindowed: list[int] = []  # indexes into _token_patterns: tried on every doc
        self._by_anchor: dict[int, list[int]] = {}  # NORM hash → the windowed patterns whose first word it is
        self._by_anchor_regex: dict[int, list[int]] = {}  # regular expression → the patterns it is the first test of
        self._anchor_norms: set[int] = set()
        self._regexes: list[re.Pattern[str]] = []
        self._regex_hits: dict[int, frozenset[int]] = {}  # NORM hash → the regular expressions that find in it
        self._regex_seen: set[int] = set()  # the NORM hashes looked at (with a hit or not)
        self._line_break = nlp.vocab.strings.add(LINE_BREAK)

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

    def _test(self, requirement: Requirement) -> _Test:
        if isinstance(requirement, frozenset):
            return requirement
        if requirement not in self._regexes:
            self._regexes.append(requirement)
            self._regex_hits.clear()
            self._regex_seen.clear()
        return self._regexes.index(requirement)

    def _add_rest(self, rules: list[BaseRule]) -> None:
        super().add([r for r in rules if not isinstance(r.pattern, list)])
        strings = self._vocab.strings
        for rule in rules:
            if isinstance(rule.pattern, list):
                rule_id = self._register(rule)
                needs = [self._test(r) for r in requirements(rule.pattern, strings)]
                windowed = anchor_and_length(rule.pattern, strings) if rule.on_match is None else None
                index = len(self._token_patterns)
                if windowed is None:
                    matcher = Matcher(self._vocab)
                    matcher.add(rule_id, [rule.pattern], on_match=rule.on_match)
                    self._token_patterns.append(_TokenPattern(needs, matcher))
                    self._unwindowed.append(index)
                    continue
                anchor = self._test(windowed[0])
                star = starred(rule.pattern)
                # A starred pattern matches as itself only within its own bound: it shares a Matcher with the
                # patterns of the same first test and bound, run from each place such a pattern may start.
                key: tuple[_Test, int] = (anchor, windowed[1]) if star else (anchor, 0)
                group = self._groups.setdefault(key, len(self._groups))
                if group == len(self._windowed):
                    self._windowed.append(Matcher(self._vocab))
                    self._group_anchor.append((anchor, 0))
                    self._group_starred.append(star is not None)
                self._group_anchor[group] = (anchor, max(self._group_anchor[group][1], windowed[1]))
                self._windowed[group].add(rule_id, [star or rule.pattern])
                words = frozenset(n for t in (anchor, *needs) if not isinstance(t, int) for n in t)
                self._token_patterns.append(_TokenPattern(needs, None, group, anchor, windowed[1], words))
                if isinstance(anchor, int):
                    self._by_anchor_regex.setdefault(anchor, []).append(index)
                else:
                    for n in anchor:
                        self._by_anchor.setdefault(n, []).append(index)
                    self._anchor_norms |= anchor
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

    def _hits(self, norms: set[int]) -> dict[int, frozenset[int]]:
        """The words of ``norms`` that a regular expression finds something in, with those expressions (worked out
        once per distinct word: ``_regex_seen`` holds every word looked at, ``_regex_hits`` those with a hit)."""
        new = norms - self._regex_seen
        if new:
            if len(self._regex_seen) > _REGEX_CACHE_LIMIT:
                self._regex_seen.clear()
                self._regex_hits.clear()
                new = norms
            strings = self._vocab.strings
            for norm in new:
                text = strings[norm]
                found = frozenset(i for i, regex in enumerate(self._regexes) if regex.search(text))
                if found:
                    self._regex_hits[norm] = found
            self._regex_seen |= new
        return {n: self._regex_hits[n] for n in norms.intersection(self._regex_hits)}

    def _token_matches(self, doc: Doc) -> list[tuple[int, int, int]]:
        kept = doc.user_data.get(TOKENS_KEY)  # the NORM values bmefhir_norm wrote, else read from the doc
        values: list[int] = kept[2] if kept is not None and len(kept[2]) == len(doc) else doc.to_array(NORM).tolist()
        norms = set(values)
        hits = self._hits(norms) if self._regexes else {}  # only the words with a hit
        found_regexes: frozenset[int] = frozenset().union(*hits.values())

        def passes(test: _Test) -> bool:
            return test in found_regexes if isinstance(test, int) else not test.isdisjoint(norms)

        # Only the patterns whose first word is in the doc (and those that cannot be windowed) are looked at.
        candidates = set(self._unwindowed)
        for n in norms & self._anchor_norms:
            candidates.update(self._by_anchor[n])
        for r in found_regexes:
            candidates.update(self._by_anchor_regex.get(r, ()))
        out: list[tuple[int, int, int]] = []
        windowed: list[_TokenPattern] = []
        for index in sorted(candidates):
            pattern = self._token_patterns[index]
            if not all(passes(need) for need in pattern.needs):
                continue
            if pattern.matcher is not None:
                out += self._within_lines(pattern.matcher(doc), values)
            else:
                windowed.append(pattern)
        if not windowed:
            return out
        # The positions of the words those patterns test for (a set test's words, a regular expression's hits).
        wanted = norms.intersection(*(p.words for p in windowed[:1])).union(*(p.words & norms for p in windowed[1:]))
        wanted |= hits.keys()
        wanted.add(self._line_break)
        where: dict[int, list[int]] = {}  # NORM → its token positions
        for i, v in enumerate(values):
            if v in wanted:
                where.setdefault(v, []).append(i)
        positions: dict[_Test, list[int]] = {}  # test → the sorted positions of the tokens that pass it

        def at(test: _Test) -> list[int]:
            found = positions.get(test)
            if found is None:
                if isinstance(test, int):
                    found = sorted(i for n, h in hits.items() if test in h for i in where.get(n, ()))
                else:
                    found = sorted(i for n in test.intersection(where) for i in where[n])
                positions[test] = found
            return found

        def within(test: _Test, start: int, end: int) -> bool:
            found = at(test)
            k = bisect_left(found, start)
            return k < len(found) and found[k] < end

        # The stretches where a pattern starts and has every word it requires within its bound, and its line.
        stretches: dict[int, list[tuple[int, int]]] = {}
        n_tokens = len(values)
        breaks = where.get(self._line_break, [])
        for pattern in windowed:
            for start in at(pattern.anchor):
                end = min(n_tokens, start + pattern.length)
                k = bisect_left(breaks, start)
                if k < len(breaks):
                    end = min(end, breaks[k] + 1)
                if all(within(need, start, end) for need in pattern.needs):
                    stretches.setdefault(pattern.group, []).append((start, end))
        for group, found in stretches.items():
            matcher = self._windowed[group]
            if self._group_starred[group]:
                for start, end in sorted(set(found)):
                    out += [(key, start, start + b) for key, a, b in matcher(doc[start:end]) if a == 0]
                continue
            windows: list[list[int]] = []
            for start, end in sorted(found):
                if windows and start <= windows[-1][1]:
                    windows[-1][1] = max(windows[-1][1], end)
                else:
                    windows.append([start, end])
            for start, end in windows:
                out += [(key, start + a, start + b) for key, a, b in matcher(doc[start:end])]
        return out

    def _within_lines(self, matches: list[tuple[int, int, int]], values: list[int]) -> list[tuple[int, int, int]]:
        """The matches that do not cross a line break (one may end with it)."""
        line_break = self._line_break
        return [m for m in matches if line_break not in values[m[1] : m[2] - 1]]

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        matches: list[tuple[int, int, int]] = self._token_matches(doc) if self._token_patterns else []
        for phrases in self._phrases.values():
            if len(phrases):
                matches += phrases(doc)
        matches += self._MedspacyMatcher__regex_matcher(doc)
        if len(matches) > 1:
            order = self._order
            matches.sort(key=lambda m: (m[1], m[2], order.get(m[0], -1)))
        return prune_longest(matches, ordered=True) if self._prune else matches


def prune_longest(matches: list[tuple[int, int, int]], ordered: bool = False) -> list[tuple[int, int, int]]:
    """``medspacy.common.util.prune_overlapping_matches``, the same result without its ``list.pop(0)`` and copies.

    Its rule, kept step for step: in (start, end) order, of two overlapping neighbours the longer stays (the first on
    a tie) and the match after them is taken next unchecked against it; rounds repeat until one removes nothing.
    Each round keeps (start, end) order, so only the first sorts (none when the caller passes ``ordered``).
    """
    if not ordered:
        matches = sorted(matches, key=_start_end)
    while matches:
        ordered_matches = matches
        n = len(ordered_matches)
        kept: list[tuple[int, int, int]] = []
        current = ordered_matches[0]
        i = 1
        while True:
            if i >= n:
                kept.append(current)
                break
            following = ordered_matches[i]
            i += 1
            if current[1] < following[2] and following[1] < current[2]:
                kept.append(following if following[2] - following[1] > current[2] - current[1] else current)
                if i >= n:
                    break
                current = ordered_matches[i]
                i += 1
            else:
                kept.append(current)
                current = following
        if len(kept) == n:
            return kept
        matches = kept
    return matches


def route_phrases(component: Any, nlp: Language, name: str = "medspacy_matcher") -> None:
    """Give a medspaCy component (TargetMatcher, ConText, Sectionizer) a phrase-routed matcher, before rules."""
    # The name-mangled attribute of the medspaCy class that defines it (a subclass such as SectionsOnly inherits it).
    attr = next(name for cls in type(component).__mro__ if hasattr(component, name := f"_{cls.__name__}__matcher"))
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
