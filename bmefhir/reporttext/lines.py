"""What the pipeline reads from each line of a report, before siting: its sentences, their section headers, findings
with their ConText cues, sites, sides and clauses; and a bounded memo of it per line.

A line is a stretch of a language run up to and including the white space after a line break (one token,
``LINE_BREAK``). Nothing the pipeline reads goes past a line break: a line break ends a sentence (ConText scopes
are sentences), phrases have no white-space words, token patterns stop at a line break (``matching.py``), and a
header is a phrase of its line. So what a line reads is the same whatever lines surround it, and the lines a memo
does not hold are read together as one doc: all of them, with no memo, is the run's own text, read as before.

The memo is keyed by a digest of the language and the line's text and holds offsets, labels and categories only,
never report text. Radiology reports repeat their lines (templated technique and normal statements, an impression
restating the findings); the reader's speed is measured without it, cleared ("cold") and filled ("warm")
(docs/report-text.md "Speed").
"""

from __future__ import annotations

import hashlib
import re
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from itertools import accumulate, compress
from operator import or_
from typing import Any, Final, NamedTuple

from spacy.attrs import IDX, IS_SPACE, LENGTH, NORM, ORTH
from spacy.strings import StringStore
from spacy.tokens import Doc

from bmefhir.reporttext.components import ENTS_GROUP, matches_of, sentence_starts, token_values
from bmefhir.reporttext.language import DETECTIONS, clear_detections, set_detections
from bmefhir.reporttext.matching import TOKENS_KEY
from bmefhir.reporttext.pipeline import NOT_A_FINDING, SITE_GROUP, process
from bmefhir.reporttext.siting import PlaceSpan, SitedPlace, bind_sides

MEMO_LINES: Final = 10_000  # the lines remembered by default, least recently used dropped (~2.4 kB each: ~25 MB)
# A line: up to and including the white space after a line break (spaCy makes that white space one token), or the
# rest of the run.
_LINE: Final = re.compile(r"[^\n]*\n\s*|[^\n]+")
CLAUSE_PUNCT: Final = frozenset({",", "，", ":", "：", "(", ")", "（", "）"})
_CLAUSE_HASHES: Final = frozenset(StringStore().add(p) for p in CLAUSE_PUNCT)  # their ORTH values
# Words that join the items of a list of sites ("the talus, navicular and cuboid"; "kalkaneus, küboid ve naviküler").
LIST_WORDS: Final = CLAUSE_PUNCT | frozenset(
    {"", "、", "and", "or", "the", "ve", "veya", "ile", "及", "和", "与", "或"}
)
_LIST_HASHES: Final = frozenset(StringStore().add(w) for w in LIST_WORDS)  # their NORM values
# The Turkish negative suffix -mA- on the finding's own verb, before a participle, past, evidential or aorist ending
# ("kontrastlanmayan", "kontrastlanmadı", "kontrastlanmamış", "kontrastlanmaz", "kontrastlanmıyor"); not the
# progressive "-mAktA" nor the verbal noun "-mAsI" (Göksel A, Kerslake C. Turkish: A Comprehensive Grammar. Routledge
# 2005, §8.1 negation, §25 participles).
_TR_NEGATIVE_SUFFIX: Final = re.compile(r"^(m[ae](y|d|z|m[ıi]ş)|m[ıiuü]yor)")


class Finding(NamedTuple):
    """A target match of a sentence, with what ConText found for it."""

    start: int  # tokens, from the line's first
    end: int
    start_char: int  # characters, from the line's start
    end_char: int
    label: str
    cues: tuple[tuple[int, int], ...]  # character spans of the ConText modifiers that apply to it
    categories: frozenset[str]  # their categories


class LineSentence(NamedTuple):
    """A sentence of a line (offsets from the line's start; tokens from its first)."""

    start_char: int
    end_char: int
    header: str | None  # the section of the last header of the line at or before the sentence, if any
    first: int  # its tokens
    end: int
    findings: tuple[Finding, ...]  # every target but NOT_A_FINDING; the section decides which are read
    places: tuple[PlaceSpan, ...]
    clauses: tuple[int, ...]  # clause number of each token (where it has a finding)
    list_words: frozenset[int]  # its tokens that are white space or a list word (where it has a finding)
    sited: tuple[tuple[SitedPlace, ...], tuple[PlaceSpan, ...]]  # bind_sides(places), as tuples


Line = tuple[LineSentence, ...]

_memo: OrderedDict[bytes, Line] = OrderedDict()  # least recently used first
_memo_lines = MEMO_LINES
_memo_lock = threading.Lock()


def set_memo_lines(lines: int) -> None:
    """Remember at most ``lines`` lines (0: none, every line is read, every language detected); clears the memo."""
    global _memo_lines
    with _memo_lock:
        _memo_lines = max(0, lines)
        _memo.clear()
    set_detections(min(_memo_lines, DETECTIONS))


def clear_memo() -> None:
    """Forget every line read and every language detected (the benchmarks' "cold" passes)."""
    with _memo_lock:
        _memo.clear()
    clear_detections()


def memo_size() -> int:
    return len(_memo)


def _key(language: str, line: str) -> bytes:
    return hashlib.blake2b(f"{language}\x00{line}".encode("utf-8", "surrogatepass"), digest_size=16).digest()


def read_lines(language: str, text: str, start: int, end: int) -> list[tuple[int, Line]]:
    """The lines of ``text[start:end]`` (one language run), each with where it starts in the text."""
    bounds = [(m.start(), m.end()) for m in _LINE.finditer(text, start, end)]
    if not bounds:
        return []
    remember = _memo_lines > 0
    found: list[Line | None] = [None] * len(bounds)
    keys: list[bytes] = []
    if remember:
        keys = [_key(language, text[a:b]) for a, b in bounds]
        with _memo_lock:
            for i, key in enumerate(keys):
                line = _memo.get(key)
                if line is not None:
                    _memo.move_to_end(key)
                    found[i] = line
    missing = [i for i, line in enumerate(found) if line is None]
    if missing:
        # The lines not remembered, read as one doc (the whole run when none is).
        doc = process(language, "".join(text[bounds[i][0] : bounds[i][1]] for i in missing))
        read = _read_doc(doc, language, [bounds[i][1] - bounds[i][0] for i in missing])
        for i, line in zip(missing, read, strict=True):
            found[i] = line
        if remember:
            with _memo_lock:
                for i, line in zip(missing, read, strict=True):
                    _memo[keys[i]] = line
                while len(_memo) > _memo_lines:
                    _memo.popitem(last=False)
    return [(a, line) for (a, _), line in zip(bounds, found, strict=True) if line is not None]


def _read_doc(doc: Doc, language: str, lengths: list[int]) -> list[Line]:
    """Each line's sentences, from a doc of consecutive lines of those character lengths.

    Plain Python over ~100 tokens, ~20 sentences and ~20 matches per report, so its loops are written for the
    interpreter: per-token work through ``map``/``accumulate`` on lists, lookups bound once (docs/report-text.md)."""
    n = len(doc)
    line_chars = [0, *accumulate(lengths)]
    if not n:
        return [() for _ in lengths]
    idx, length, space = doc.to_array([IDX, LENGTH, IS_SPACE]).T.tolist()
    line_tokens = [bisect_left(idx, c) for c in line_chars]  # a line starts with a token (after white space)
    starts = sentence_starts(doc)
    headers = sorted((s.title_start, s.category) for s in doc._.sections if s.category is not None)
    header_starts = [t for t, _ in headers]

    # Sentences (not white space only), in order: (start token, end token, line).
    sentences: list[tuple[int, int, int]] = []
    line_of = 0  # sentences come in token order, so their lines do too
    n_lines = len(line_tokens)
    for a, b in zip(starts, [*starts[1:], n], strict=True):
        if 0 in space[a:b]:
            while line_of + 1 < n_lines and line_tokens[line_of + 1] <= a:
                line_of += 1
            sentences.append((a, b, line_of))
    sentence_firsts = [a for a, _, _ in sentences]
    sentence_ends = [b for _, b, _ in sentences]

    ents = matches_of(doc, ENTS_GROUP)
    places: list[list[PlaceSpan]] = [[] for _ in sentences]
    found = matches_of(doc, SITE_GROUP)
    finding_tokens: set[int] | None = None
    site_starts: list[int] = []
    for label, start, end in found:
        k = bisect_right(sentence_firsts, start) - 1
        if k < 0 or start >= sentence_ends[k]:
            continue
        kind, _, value = label.partition(":")
        if kind == "SIDE" and ents:
            # A side word inside a finding term ("both sides of the joint", "双线征") is not a side, unless a site of
            # its sentence follows it.
            if finding_tokens is None:
                finding_tokens = {i for _, a, b in ents for i in range(a, b)}
                site_starts = [a for name, a, _ in found if name.startswith("SITE:")]
            if not finding_tokens.isdisjoint(range(start, end)) and not any(
                0 <= site - end <= 3 and bisect_right(sentence_firsts, site) - 1 == k and site < sentence_ends[k]
                for site in site_starts
            ):
                continue
        line = sentences[k][2]
        first, chars = line_tokens[line], line_chars[line]
        start_char, end_char = idx[start] - chars, idx[end - 1] + length[end - 1] - chars
        places[k].append(PlaceSpan(kind, value, start - first, end - first, start_char, end_char))

    findings: list[list[Finding]] = [[] for _ in sentences]
    if ents:
        graph = doc._.context_graph
        cues: dict[tuple[int, int], list[tuple[int, int, str]]] = {}  # target → its modifiers, as in _.modifiers
        for target, modifier in graph.edges if graph is not None else ():
            a, b = modifier.modifier_span
            cues.setdefault((target.start, target.end), []).append((a, b, modifier.category))
        tokens = doc.user_data.get(TOKENS_KEY) if language == "tr" else None
        for label, start, end in ents:
            k = bisect_right(sentence_firsts, start) - 1
            if k < 0 or start >= sentence_ends[k] or label == NOT_A_FINDING:
                continue
            line = sentences[k][2]
            first, chars = line_tokens[line], line_chars[line]
            # A trigger inside the finding's own words ("平扫未见明显异常", a normal study) does not modify it.
            applied = [
                (a, b, category)
                for a, b, category in cues.get((start, end), ())
                if category not in ("TERMINATE", "PSEUDO") and not (a < end and start < b)
            ]
            categories = {category.upper() for _, _, category in applied}
            if language == "tr" and _turkish_negative_verb(*_values(doc, tokens, end - 1)):
                categories.add("NEGATED_EXISTENCE")  # "kontrastlanmayan lezyon": a non-enhancing lesion
            spans = tuple((idx[a] - chars, idx[b - 1] + length[b - 1] - chars) for a, b, _ in applied)
            start_char, end_char = idx[start] - chars, idx[end - 1] + length[end - 1] - chars
            f = Finding(start - first, end - first, start_char, end_char, label, spans, frozenset(categories))
            findings[k].append(f)

    lines: list[list[LineSentence]] = [[] for _ in lengths]
    orths: list[int] = []
    norms: list[int] = []
    is_clause = _CLAUSE_HASHES.__contains__
    is_list_word = _LIST_HASHES.__contains__
    for k, (a, b, line) in enumerate(sentences):
        first, chars = line_tokens[line], line_chars[line]
        h = bisect_right(header_starts, a) - 1
        header = headers[h][1] if h >= 0 and headers[h][0] >= first else None
        clauses: tuple[int, ...] = ()
        list_words: frozenset[int] = frozenset()
        if findings[k]:  # clauses are read only for sentences with a finding: siting is all that uses them
            if not orths:
                orths, norms = _orths_norms(doc)
            # The clause number of each token: the clause punctuation before it in the sentence.
            clauses = tuple(accumulate(map(is_clause, orths[a : b - 1]), initial=0))
            list_words = frozenset(
                compress(range(a - first, b - first), map(or_, space[a:b], map(is_list_word, norms[a:b])))
            )
        sites, free = bind_sides(places[k])
        sentence = LineSentence(
            idx[a] - chars,
            idx[b - 1] + length[b - 1] - chars,
            header,
            a - first,
            b - first,
            tuple(findings[k]),
            tuple(places[k]),
            clauses,
            list_words,
            (tuple(sites), tuple(free)),
        )
        lines[line].append(sentence)
    return [tuple(line) for line in lines]


def _orths_norms(doc: Doc) -> tuple[list[int], list[int]]:
    """ORTH and NORM of every token, as ``bmefhir_norm`` kept them (else read from the doc)."""
    kept = doc.user_data.get(TOKENS_KEY)
    if kept is not None and len(kept[0]) == len(doc):
        return kept[0], kept[2]
    return doc.to_array(ORTH).tolist(), doc.to_array(NORM).tolist()


def _values(doc: Doc, kept: Any, i: int) -> tuple[str, str]:
    """NORM and LEMMA of token ``i`` (from what ``bmefhir_norm`` kept, else the token's)."""
    if kept is not None and len(kept[0]) == len(doc):
        strings = doc.vocab.strings
        norm, lemma = kept[1][i]
        return strings[norm], strings[lemma]
    return token_values(doc, i)


def _turkish_negative_verb(word: str, stem: str) -> bool:
    """The word is a lexicon stem followed by the negative suffix."""
    return stem != word and word.startswith(stem) and bool(_TR_NEGATIVE_SUFFIX.match(word[len(stem) :]))
