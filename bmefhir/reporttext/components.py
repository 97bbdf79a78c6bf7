"""The small spaCy components of the report pipelines: a language-aware NORM and a sentence splitter.

No ``from __future__ import annotations`` here: spaCy reads the factories' annotations at registration.
"""

from bisect import bisect_right
from collections.abc import Callable
from typing import Any, Final, cast

import numpy
from medspacy.context import ConText
from medspacy.context.context_graph import ConTextGraph
from medspacy.context.context_modifier import ConTextModifier
from medspacy.section_detection import Sectionizer
from medspacy.section_detection.section import Section
from medspacy.target_matcher import TargetMatcher, TargetRule
from medspacy.util import tuple_overlaps
from spacy.attrs import ENT_IOB, ENT_TYPE, LEMMA, NORM, ORTH, SENT_START
from spacy.lang.zh import ChineseTokenizer, Segmenter
from spacy.language import Language
from spacy.tokens import Doc, Span

from bmefhir.reporttext.matching import LINE_BREAK, TOKENS_KEY

SENTENCE_END: Final[dict[str, frozenset[str]]] = {
    "en": frozenset({".", "!", "?", ";"}),
    "tr": frozenset({".", "!", "?", ";"}),
    "zh": frozenset({"。", "；", "！", "？", ".", ";", "!", "?"}),
}
# What the components keep in doc.user_data for the ones after them (lists read once instead of per-token access):
SENTENCES_KEY: Final = "bmefhir_sentences"  # bmefhir_sentences: the tokens that start a sentence
MATCHES_KEY: Final = "bmefhir_matches:"  # MatchesOnly and bmefhir_merge_spread: MATCHES_KEY + group → matches
ENTS_GROUP: Final = "bmefhir_ents"  # bmefhir_merge_spread: doc.ents as matches
_SEEN_LIMIT: Final = 100_000  # distinct words remembered per component (a bound on memory, not a cache of texts)
_TURKISH_LOWER: Final = str.maketrans({"İ": "i", "I": "ı"})


class CharTokenizer(ChineseTokenizer):
    """spaCy's Chinese character segmentation ("char"), the same words and spaces in one pass over the text.

    spaCy aligns the characters with ``util.get_words_and_spaces``, which searches a fresh slice of the rest of the
    text for every character (quadratic in the text's length); here each non-space character is a word, each run of
    white space between them a word, and one plain space after a word is that word's trailing space, which is what
    that alignment gives (tests/reporttext/test_components.py compares both).
    """

    def __init__(self, vocab: Any) -> None:
        super().__init__(vocab, segmenter=Segmenter.char)

    def __call__(self, text: str) -> Doc:
        words: list[str] = []
        spaces: list[bool] = []
        i, n = 0, len(text)
        while i < n:
            if text[i].isspace():
                j = i + 1
                while j < n and text[j].isspace():
                    j += 1
                words.append(text[i:j])
                spaces.append(False)
                i = j
                continue
            words.append(text[i])
            i += 1
            if i < n and text[i] == " ":
                spaces.append(True)
                i += 1
            else:
                spaces.append(False)
        return Doc(self.vocab, words=words, spaces=spaces)


def turkish_lower(text: str) -> str:
    """Turkish lower case: dotted capital İ → i, dotless capital I → ı, then the usual lower()."""
    return text.translate(_TURKISH_LOWER).lower()


# Turkish final-consonant alternation: a stem-final p, ç, t, k becomes b, c, d, ğ before a suffix that begins with a
# vowel ("kırık" → "kırığı", "kırıkları" unchanged; Göksel A, Kerslake C. Turkish: A Comprehensive Grammar. Routledge
# 2005, §2.4.2). Lexicon stems are written in the dictionary form, so the softened word is also tried hardened back.
_SOFTENED: Final = {"ğ": "k", "b": "p", "c": "ç", "d": "t"}
_TURKISH_VOWELS: Final = frozenset("aeıioöuüâîû")


def turkish_hardened(word: str) -> str | None:
    """The dictionary form of the stem when ``word`` ends in a softened stem-final consonant and a vowel suffix:
    "kırığı" → "kırık", "yırtığının" → "yırtık"; None otherwise. Only the last softened consonant is the stem's end
    ("yoğunluğu" is not "yok" + ...)."""
    for i in range(len(word) - 2, 0, -1):
        if word[i] in _SOFTENED and word[i + 1] in _TURKISH_VOWELS:
            return word[:i] + _SOFTENED[word[i]]
    return None


def lower_for(language: str, text: str) -> str:
    return turkish_lower(text) if language == "tr" else text.lower()


@Language.factory("bmefhir_norm", default_config={"language": "en", "stems": []})
def _make_norm(nlp: Language, name: str, language: str, stems: list[str]) -> Any:
    """NORM = the language's lower case (``LINE_BREAK`` for white space with a line break); LEMMA = the longest
    lexicon stem the word begins with (else NORM).

    A stem pattern word w then matches the tokens whose LEMMA is one of the stems beginning with w (see
    ``stem_matches``): exact attribute tests instead of a regular expression per token and pattern, which
    Turkish, with hundreds of stems ("ödem" → "ödemi", "ödeminin"), cannot afford. Both are worked out once per
    distinct word and written as one array (setting token.norm_ one by one costs a Python call per token).
    """
    known = frozenset(stems)
    longest = max((len(s) for s in known), default=0)
    strings = nlp.vocab.strings
    seen: dict[int, tuple[int, int]] = {}  # ORTH → (NORM, LEMMA) hashes

    def longest_stem(word: str) -> str | None:
        return next((word[:k] for k in range(min(len(word), longest), 0, -1) if word[:k] in known), None)

    def values(orth: int) -> tuple[int, int]:
        text = strings[orth]
        if len(seen) > _SEEN_LIMIT:
            seen.clear()
        if text.isspace():
            # White space with a line break is one word, LINE_BREAK: a header on a line of its own is then an exact
            # phrase ("klinik bilgi" + LINE_BREAK) for the PhraseMatcher (matching.py).
            space = strings.add(LINE_BREAK if "\n" in text else text)
            seen[orth] = (space, space)
            return space, space
        lower = lower_for(language, text)
        stem = longest_stem(lower) if known else None
        # "kırığı" is "kırık" + "-ı": a known stem in its dictionary form, when longer, is the word's stem.
        # Short stems are left alone: "yoğun" (dense) is not "yok" + "-un".
        hard = turkish_hardened(lower) if known and language == "tr" else None
        if hard and len(hard) >= 5 and hard in known and (stem is None or len(hard) > len(stem)):
            stem = hard
        seen[orth] = found = (strings.add(lower), strings.add(stem or lower))
        return found

    def norm(doc: Doc) -> Doc:
        if not len(doc):
            return doc
        orths = doc.to_array(ORTH).tolist()
        rows = [seen.get(o) or values(o) for o in orths]
        norms = [r[0] for r in rows]
        if known:
            doc.from_array([NORM, LEMMA], cast(Any, numpy.array(rows, dtype="uint64")))
        else:
            doc.from_array([NORM], cast(Any, numpy.array(norms, dtype="uint64").reshape(-1, 1)))
        doc.user_data[TOKENS_KEY] = (orths, rows, norms)  # for the components after it (no second to_array)
        return doc

    return norm


@Language.factory("bmefhir_sentences", default_config={"language": "en"})
def _make_sentences(nlp: Language, name: str, language: str) -> Any:
    ends = SENTENCE_END.get(language, SENTENCE_END["en"])

    strings = nlp.vocab.strings
    ending: dict[int, bool] = {}  # ORTH → whether a sentence ends after the token

    def ends_after(orth: int) -> bool:
        text = strings[orth]
        if len(ending) > _SEEN_LIMIT:
            ending.clear()
        ending[orth] = found = text in ends or "\n" in text
        return found

    def split(doc: Doc) -> Doc:
        # A sentence ends at the language's punctuation or a line break; section headers already start one.
        # Written as one array: setting token.is_sent_start one by one rescans the doc each time (quadratic).
        if not len(doc):
            return doc
        kept = doc.user_data.get(TOKENS_KEY)
        orths = kept[0] if kept is not None and len(kept[0]) == len(doc) else doc.to_array(ORTH).tolist()
        flags = doc.to_array(SENT_START).tolist()
        starts: list[int] = []
        after_end = True  # the first token starts one
        for i, (flag, orth) in enumerate(zip(flags, orths, strict=True)):
            if after_end or flag == 1:
                starts.append(i)
            found = ending.get(orth)
            after_end = ends_after(orth) if found is None else found
        values = [-1] * len(flags)
        for i in starts:
            values[i] = 1
        doc.from_array([SENT_START], cast(Any, numpy.array(values, dtype="int64").astype("uint64").reshape(-1, 1)))
        doc.user_data[SENTENCES_KEY] = starts
        return doc

    return split


def stem_matches(word: str, stems: frozenset[str]) -> list[str]:
    """The LEMMA values of words that begin with ``word``: the known stems that do."""
    return sorted(s for s in stems if s.startswith(word))


Match = tuple[str, int, int]  # (label, start token, end token) of a TargetMatcher match, as MatchesOnly keeps it


def matches_of(doc: Doc, group: str) -> list[Match]:
    """What the ``MatchesOnly`` component of that group name found in the doc (none when it did not run)."""
    found: list[Match] = doc.user_data.get(MATCHES_KEY + group, [])
    return found


def sentence_starts(doc: Doc) -> list[int]:
    """The tokens that start a sentence (as ``bmefhir_sentences`` set them, else read from SENT_START)."""
    kept: list[int] | None = doc.user_data.get(SENTENCES_KEY)
    if kept is not None:
        return kept
    return [i for i, s in enumerate(doc.to_array(SENT_START).tolist()) if s == 1 or i == 0]


def token_values(doc: Doc, i: int) -> tuple[str, str]:
    """NORM and LEMMA of token ``i``."""
    return doc[i].norm_, doc[i].lemma_


@Language.factory("bmefhir_merge_spread", default_config={"phrases": "bmefhir_phrases", "group": "bmefhir_spread"})
def _make_merge_spread(nlp: Language, name: str, phrases: str, group: str) -> Any:
    """Set ``doc.ents``: the phrase findings, then the token-pattern findings where they do not overlap one;
    where they do, their first word ("T2" of "T2 sekansta talusta belirgin ödem ve intensite artışı"), so both
    the signal and the phrase inside it are read."""

    def overlap(a: Match, b: Match) -> bool:
        return a[1] < b[2] and b[1] < a[2]

    def merge(doc: Doc) -> Doc:
        base = matches_of(doc, phrases)
        spread = matches_of(doc, group)
        if not spread:  # the phrase findings alone, already in order and apart (their matcher prunes)
            _set_ents(doc, base)
            doc.user_data[MATCHES_KEY + ENTS_GROUP] = base
            return doc
        # A structure term ("menisküs", "半月板") yields to a pattern that reads its abnormality ("menisküs arka
        # boynuzunda horizontal yırtık").
        base = [b for b in base if not b[0].endswith("@intact") or not any(overlap(s, b) for s in spread)]
        taken = {i for _, start, end in base for i in range(start, end)}
        candidates: list[Match] = []
        for span in sorted(spread, key=lambda s: (s[1], s[1] - s[2])):
            if any(b[0] == span[0] and overlap(b, span) for b in base):
                continue  # "半月板后角水平撕裂": the phrase of the same finding ("撕裂") already reads it
            if any(i in taken for i in range(span[1], span[2])):
                span = (span[0], span[1], span[1] + 1)
            candidates.append(span)
        # Two patterns of different findings sharing words ("T2 ve STIR görüntülerde artmış sinyal") are both read,
        # each as its first word.
        shared: set[int] = set()
        for i, a in enumerate(candidates):
            for j in range(i + 1, len(candidates)):
                b = candidates[j]
                if a[0] != b[0] and overlap(a, b):
                    shared |= {i, j}
        added = []
        for i, span in enumerate(candidates):
            if i in shared:
                span = (span[0], span[1], span[1] + 1)
            tokens = set(range(span[1], span[2]))
            if tokens & taken:
                continue
            taken |= tokens
            added.append(span)
        found = sorted((*base, *added), key=lambda s: s[1])
        _set_ents(doc, found)
        doc.user_data[MATCHES_KEY + ENTS_GROUP] = found
        return doc

    return merge


def _set_ents(doc: Doc, found: list[Match]) -> None:
    """``doc.ents = found`` (as Spans), written as the entity attributes of every token in one array: what the
    setter writes (B, I, O and the label; no KB or entity id), without building and checking the Spans. Matches
    that overlap go to the setter, which refuses them."""
    n = len(doc)
    iob, kind = [2] * n, [0] * n  # 2: outside
    strings = doc.vocab.strings
    end_before = 0
    for label, start, end in found:
        if start < end_before or end <= start:
            doc.ents = [Span(doc, a, b, label=name) for name, a, b in found]
            return
        iob[start:end] = [3] + [1] * (end - start - 1)  # 3: begin, 1: inside
        kind[start:end] = [strings.add(label)] * (end - start)
        end_before = end
    if n:
        doc.from_array([ENT_IOB, ENT_TYPE], cast(Any, numpy.array([iob, kind], dtype="uint64").T.copy()))


class MatchesOnly(TargetMatcher):  # type: ignore[misc]
    """medspaCy's TargetMatcher (its rules, matcher and pruning) keeping what it finds as ``(label, start, end)``
    tuples in ``doc.user_data`` (``matches_of``) instead of a span group of Spans, each with a ``target_rule``
    extension: nothing reads those, and building them (and a group's Spans again at every read) was most of the
    three matchers' time (docs/report-text.md "Speed"). Rules with span attributes are refused: they would need the
    Spans. ``tests/reporttext/test_components.py`` compares the matches with medspaCy's own call."""

    def add(self, rules: Any) -> None:
        for rule in [rules] if isinstance(rules, TargetRule) else rules:
            if isinstance(rule, TargetRule) and rule.attributes is not None:
                raise ValueError("MatchesOnly keeps no span attributes; use medspaCy's TargetMatcher for them")
        super().add(rules)

    def __call__(self, doc: Doc) -> Doc:
        matcher = self._TargetMatcher__matcher
        rules, strings = matcher.rule_map, self.nlp.vocab.strings
        doc.user_data[MATCHES_KEY + self.span_group_name] = [
            (rules[strings[key]].category, start, end) for key, start, end in matcher(doc)
        ]
        return doc


Language.factory("bmefhir_matches")(MatchesOnly)


class SectionsOnly(Sectionizer):  # type: ignore[misc]
    """medspaCy's Sectionizer that sets ``doc._.sections`` (and the header sentence starts) but not
    ``token._.section`` on every token: the reader reads ``doc._.sections`` alone, and the per-token extension
    writes were a third of the Sectionizer's time (docs/report-text.md "Speed"). Configurations this does not
    cover (parent sections, start/end-line rules, scoped sections, span attributes) go to medspaCy's own call."""

    def __call__(self, doc: Doc) -> Doc:
        if (
            self._parent_sections
            or self.require_start_line
            or self.require_end_line
            or self.max_section_length is not None
            or self.assertion_attributes_mapping
        ):
            return cast(Doc, super().__call__(doc))
        matcher = self._Sectionizer__matcher
        matches = matcher(doc)
        sections: list[Section] = []
        if not matches:
            sections.append(Section(None, 0, 0, 0, len(doc)))
        elif matches[0][1] != 0:
            sections.append(Section(None, 0, 0, 0, matches[0][1]))
        strings = self.nlp.vocab.strings
        boundaries: list[int] = []
        for i, (match_id, start, end) in enumerate(matches):
            rule = matcher.rule_map[strings[match_id]]
            if rule.max_scope is not None:
                return cast(Doc, super().__call__(doc))
            if self._apply_sentence_boundary:
                boundaries.append(start)  # the header starts a sentence, and so does the text after it
                if end < len(doc):
                    boundaries.append(end)
            body_end = matches[i + 1][1] if i + 1 < len(matches) else len(doc)
            sections.append(Section(rule.category, start, end, end, body_end, None, rule))
        if boundaries:  # one array write: token.sent_start = True checks the doc's annotations at every call
            flags = doc.to_array(SENT_START).astype("int64")
            flags[boundaries] = 1
            doc.from_array([SENT_START], cast(Any, flags.astype("uint64").reshape(-1, 1)))
        doc._.sections = sections
        return doc


Language.factory("bmefhir_sectionizer")(SectionsOnly)


class SentenceContext(ConText):  # type: ignore[misc]
    """medspaCy's ConText that builds modifiers only in the sentences that hold a target (``doc.ents``) and looks at
    a modifier and a target, or two modifiers, only when they are in the same sentence.

    Without a component-wide ``max_scope`` a modifier's scope is its sentence (cut to the rule's ``max_scope``), so a
    trigger in a sentence with no finding ("Clinical question: rule out AVN?" with nothing to read) modifies nothing
    and, its scope overlapping no other sentence's, limits no other modifier; for the same reason medspaCy's pairwise
    tests across sentences all come out false. Scopes are set from the sentence bounds as medspaCy's
    ``ConTextModifier`` sets them from ``doc[start].sent``. Where a modifier or a target crosses a sentence boundary,
    every pair is tested as medspaCy does. The edges, their order and the scopes are medspaCy's
    (tests/reporttext/test_components.py; docs/report-text.md "Speed"). Other configurations go to medspaCy's call."""

    def __call__(self, doc: Doc, targets: str | None = None) -> Doc:
        if targets or self.input_span_type != "ents" or self.max_scope or self.context_attributes_mapping:
            return cast(Doc, super().__call__(doc, targets))
        ents = doc.ents
        graph = ConTextGraph(prune_on_modifier_overlap=self.prune_on_target_overlap)
        graph.targets = ents
        graph.modifiers = []
        graph.edges = []
        doc._.context_graph = graph
        if not ents:
            return doc
        bounds = [*sentence_starts(doc), len(doc)]  # sentence k is [bounds[k], bounds[k + 1])

        def sentence(token: int) -> int:
            return bisect_right(bounds, token) - 1

        spans = [(sentence(e.start), sentence(e.end - 1)) for e in ents]
        with_target = {k for first, last in spans for k in range(first, last + 1)}
        crossing = any(first != last for first, last in spans)
        matcher = self._ConText__matcher
        strings = self.nlp.vocab.strings
        by_sentence: dict[int, list[ConTextModifier]] = {}
        for match_id, start, end in matcher(doc):
            k, last = sentence(start), sentence(end - 1)
            if k in with_target or last in with_target:
                rule = matcher.rule_map[strings[match_id]]
                scope = _scope(rule.direction, rule.max_scope, start, end, bounds[k], bounds[k + 1])
                modifier = ConTextModifier(rule, start, end, doc, scope_start=scope[0], scope_end=scope[1])
                graph.modifiers.append(modifier)
                by_sentence.setdefault(k, []).append(modifier)
                crossing = crossing or k != last
        if crossing:  # medspaCy's own pairwise tests
            graph.update_scopes()
            graph.apply_modifiers()
        else:
            for group in by_sentence.values():
                ConTextGraph.update_scopes(cast(ConTextGraph, _Modifiers(group)))
            _apply(graph, by_sentence, sentence)
        for target, modifier in graph.edges:
            target._.modifiers += (modifier,)
        return doc


class _Modifiers:
    """What ``ConTextGraph.update_scopes`` reads: a list of modifiers (one sentence's)."""

    def __init__(self, modifiers: list[ConTextModifier]) -> None:
        self.modifiers = modifiers


def _scope(direction: str, max_scope: int | None, start: int, end: int, first: int, last: int) -> tuple[int, int]:
    """A modifier's scope in its sentence [first, last), as ``ConTextModifier.__set_scope`` sets it without a
    component-wide ``max_scope``: after it (forward), before it (backward), else the sentence, each cut to the rule's
    ``max_scope`` tokens."""
    way = direction.lower()
    if way == "forward":
        scope_end = last
        if max_scope is not None and scope_end - end > max_scope:
            scope_end = end + max_scope
        return end, scope_end
    if way == "backward":
        scope_start = first
        if max_scope is not None and start - scope_start > max_scope:
            scope_start = start - max_scope
        return scope_start, start
    scope_start, scope_end = first, last
    if max_scope is not None and start - scope_start > max_scope:
        scope_start = start - max_scope
    if max_scope is not None and scope_end - end > max_scope:
        scope_end = end + max_scope
    return scope_start, scope_end


def _apply(graph: ConTextGraph, by_sentence: dict[int, list[ConTextModifier]], sentence: Callable[[int], int]) -> None:
    """``ConTextGraph.apply_modifiers`` with each target tested against the modifiers of its own sentence only."""
    if graph.prune_on_modifier_overlap:
        for i in range(len(graph.modifiers) - 1, -1, -1):
            modifier = graph.modifiers[i]
            if any(tuple_overlaps((t.start, t.end), modifier.modifier_span) for t in graph.targets):
                graph.modifiers.pop(i)
        kept = {id(m) for m in graph.modifiers}
        by_sentence = {k: [m for m in group if id(m) in kept] for k, group in by_sentence.items()}
    for target in graph.targets:
        for modifier in by_sentence.get(sentence(target.start), ()):
            if modifier.modifies(target):
                modifier.modify(target)
    edges = []
    for modifier in graph.modifiers:
        modifier.reduce_targets()
        for target in modifier._targets:
            edges.append((target, modifier))
    graph.edges = edges


Language.factory("bmefhir_context")(SentenceContext)
