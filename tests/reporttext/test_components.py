"""The reader's lighter medspaCy components give what medspaCy's own calls give (docs/report-text.md "Speed")."""

from __future__ import annotations

import random

import pytest
import spacy
from medspacy.context import ConText
from medspacy.section_detection import Sectionizer
from medspacy.target_matcher import TargetMatcher
from spacy.attrs import ENT_ID, ENT_IOB, ENT_KB_ID, ENT_TYPE, SENT_START
from spacy.language import Language
from spacy.tokens import Doc, Span

from bmefhir.reporttext.components import ENTS_GROUP, MatchesOnly, SectionsOnly, SentenceContext, matches_of
from bmefhir.reporttext.pipeline import pipeline
from bmefhir.testing.report_corpus import load_corpus


def _until(nlp: Language, text: str, component: str) -> Doc:
    """The text through the pipeline up to (not including) the named component."""
    doc = nlp.make_doc(text)
    for name, proc in nlp.pipeline:
        if name == component:
            return doc
        doc = proc(doc)
    raise AssertionError(component)


def _texts(language: str) -> list[str]:
    texts = [p.text for p in load_corpus() if p.language == language]
    # A whole report: title, header lines without colons, a clinical question with cues and no finding.
    texts.append(
        {
            "en": "MRI RIGHT HIP\nClinical information\nRule out AVN?\nFindings\nNo fracture. Femoral head edema.",
            "tr": "Sağ kalça MRG\nKlinik bilgi\nAVN?\nBulgular\nKırık izlenmedi. Femur başında ödem.",
            "zh": "右侧髋关节MRI\n临床资料\n排除股骨头坏死。\n影像所见\n未见骨折。右侧股骨头骨髓水肿。",
        }[language]
    )
    return texts


@pytest.mark.parametrize("language", ["en", "tr", "zh"])
def test_sections_as_medspacy_sets_them(language: str) -> None:
    nlp = pipeline(language)
    ours = nlp.get_pipe("bmefhir_sectionizer")
    assert isinstance(ours, SectionsOnly)
    headers = 0
    for text in _texts(language):
        doc = _until(nlp, text, "bmefhir_sectionizer")
        mine, theirs = ours(doc.copy()), Sectionizer.__call__(ours, doc.copy())
        got = [(s.category, s.title_span, s.body_span) for s in mine._.sections]
        assert got == [(s.category, s.title_span, s.body_span) for s in theirs._.sections], text[:60]
        assert mine.to_array(SENT_START).tolist() == theirs.to_array(SENT_START).tolist()
        headers += sum(s.category is not None for s in mine._.sections)
    assert headers > 5  # the texts have headers to find


@pytest.mark.parametrize("language", ["en", "tr", "zh"])
def test_context_edges_as_medspacy_draws_them(language: str) -> None:
    nlp = pipeline(language)
    ours = nlp.get_pipe("medspacy_context")
    assert isinstance(ours, SentenceContext)
    edges = 0
    for text in _texts(language):
        doc = _until(nlp, text, "medspacy_context")
        mine, theirs = ours(doc.copy()), ConText.__call__(ours, doc.copy())

        def modifiers(d: Doc) -> list[list[tuple[object, ...]]]:
            return [[(m.modifier_span, m.category, m.scope_span) for m in ent._.modifiers] for ent in d.ents]

        assert modifiers(mine) == modifiers(theirs), text[:60]
        edges += sum(len(m) for m in modifiers(mine))
    assert edges > 20  # the texts have negations, hedges and history to find


def _stock(language: str) -> Language:
    if language == "zh":
        return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
    return spacy.blank(language)


@pytest.mark.parametrize("language", ["en", "tr", "zh"])
def test_tokens_as_spacy_makes_them(language: str) -> None:
    """The tokenizer without the white-space exceptions (en) and the one-pass character alignment (zh) give spaCy's
    own tokens: words, trailing spaces, offsets and norms."""
    rng = random.Random(7)
    alphabet = list("ab Zİı中文。，\n\t\u3000\xa0  .,:;!?-()\r")
    texts = [p.text for p in load_corpus()] + _texts(language)
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    ours, theirs = pipeline(language).tokenizer, _stock(language).tokenizer
    for text in texts:
        mine = [(t.text, t.whitespace_, t.idx, t.norm_) for t in ours(text)]
        assert mine == [(t.text, t.whitespace_, t.idx, t.norm_) for t in theirs(text)], repr(text[:60])


@pytest.mark.parametrize("language", ["en", "tr", "zh"])
def test_target_matches_as_medspacy_finds_them(language: str) -> None:
    nlp = pipeline(language)
    found = 0
    for name in ("medspacy_target_matcher", "bmefhir_spread_findings", "bmefhir_places"):
        ours = nlp.get_pipe(name)
        assert isinstance(ours, MatchesOnly)
        for text in _texts(language):
            doc = _until(nlp, text, name)
            mine = matches_of(ours(doc.copy()), ours.span_group_name)
            theirs = TargetMatcher.__call__(ours, doc.copy())
            assert mine == [(s.label_, s.start, s.end) for s in theirs.spans[ours.span_group_name]], (name, text[:60])
            found += len(mine)
    assert found > 200


@pytest.mark.parametrize("language", ["en", "tr", "zh"])
def test_ents_as_the_setter_writes_them(language: str) -> None:
    """bmefhir_merge_spread writes doc.ents as token attributes; the tokens carry what ``doc.ents = spans`` gives."""
    nlp = pipeline(language)
    attrs = [ENT_IOB, ENT_TYPE, ENT_KB_ID, ENT_ID]
    ents = 0
    for text in _texts(language):
        doc = _until(nlp, text, "medspacy_context")
        again = doc.copy()
        again.ents = [Span(again, e.start, e.end, label=e.label_) for e in doc.ents]
        assert doc.to_array(attrs).tolist() == again.to_array(attrs).tolist(), text[:60]
        assert [(e.label_, e.start, e.end) for e in doc.ents] == matches_of(doc, ENTS_GROUP)
        ents += len(doc.ents)
    assert ents > 100
