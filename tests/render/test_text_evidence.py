"""Findings read from report text: hedged ones count less, and every place evidence is shown quotes them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bmefhir.derive import derive
from bmefhir.differential.engine import run_differential
from bmefhir.differential.knowledge_base import load_knowledge
from bmefhir.pipeline import Analysis
from bmefhir.record import Assertion, ImagingFinding, TextEvidence
from bmefhir.render.bundle import render_outputs
from bmefhir.render.cards import cds_cards
from bmefhir.render.summary import summarize
from tests.derive.builders import TODAY, finding, record

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
REPORT = "DiagnosticReport/mri-1"
EDEMA = "diffuse bone marrow edema of the right femoral head"
DOUBLE_LINE = "a double-line sign in the right femoral head"


def _text(quote: str, start: int, assertion: Assertion = "affirmed") -> TextEvidence:
    return TextEvidence("DiagnosticReport.conclusion", start, start + len(quote), quote, assertion, "en", "impression")


def _from_text(f: ImagingFinding, quote: str, start: int, assertion: Assertion = "affirmed") -> ImagingFinding:
    return replace(f, ref=REPORT, text=_text(quote, start, assertion))


def _analysis(double_line: Assertion) -> Analysis:
    rec = record(
        _from_text(finding("bone_marrow_edema", "2024-05-01", "femoral_head", "right"), EDEMA, 0),
        _from_text(finding("double_line_sign", "2024-05-01", "femoral_head", "right"), DOUBLE_LINE, 60, double_line),
    )
    derived = derive(rec, TODAY)
    return Analysis(rec, derived, run_differential(derived), NOW)


def _hits(analysis: Analysis, criterion_facts: str) -> list[tuple[tuple[str, str], float, bool]]:
    return [
        ((c.code, h.criterion_id), h.weight, h.uncertain)
        for c in analysis.differential.ranking
        for h in (*c.supporting, *c.opposing)
        if criterion_facts in h.facts
    ]


def test_a_hedged_finding_counts_with_the_knowledge_base_fraction_of_its_weight():
    kb = load_knowledge()
    affirmed = {cid: w for cid, w, _ in _hits(_analysis("affirmed"), "double_line_sign")}
    hedged = _hits(_analysis("uncertain"), "double_line_sign")
    assert affirmed, "the double-line sign should move some candidate"
    assert hedged
    for cid, weight, uncertain in hedged:
        assert uncertain
        assert weight == round(affirmed[cid] * kb.uncertain_weight, 4)
    assert 0 < kb.uncertain_weight < 1
    assert kb.uncertain_citation is not None
    assert kb.uncertain_citation.doi


def test_a_hedged_finding_still_raises_its_red_flag_marked_uncertain():
    flags = [f for f in _analysis("uncertain").differential.red_flags if "double_line_sign" in f.facts]
    assert flags
    assert all(f.uncertain for f in flags)


def test_summary_quotes_the_report_phrase_behind_each_criterion_and_lists_text_findings():
    summary = summarize(_analysis("affirmed"))
    osteonecrosis = next(c for c in summary["ranking"] if c["code"] == "osteonecrosis")
    quoted = [q for e in osteonecrosis["explanation"] for q in e["quotes"]]
    assert f"{REPORT}: '{DOUBLE_LINE}'" in quoted
    flags = [q for f in summary["red_flags"] for q in f["quotes"]]
    assert any(DOUBLE_LINE in q for q in flags)
    assert {t["quote"] for t in summary["text_findings"]} == {EDEMA, DOUBLE_LINE}
    assert {t["site"] for t in summary["text_findings"]} == {"Right femoral head"}


def test_quotes_name_only_the_findings_a_criterion_used():
    analysis = _analysis("affirmed")
    summary = summarize(analysis)
    hits = {(c.code, h.criterion_id): h for c in analysis.differential.ranking for h in (*c.supporting, *c.opposing)}
    assert any(h.facts == ("double_line_sign",) for h in hits.values())
    for c in summary["ranking"]:
        for e in c["explanation"]:
            facts = hits[(c["code"], e["criterion"])].facts
            # A criterion on the double-line sign alone quotes that phrase, never the edema one.
            if facts == ("double_line_sign",):
                assert e["quotes"] == [f"{REPORT}: '{DOUBLE_LINE}'"]
            if not any(f.startswith("bme_") for f in facts):
                assert not any(EDEMA in q for q in e["quotes"])


def test_clinical_impression_and_cards_carry_the_quotes():
    analysis = _analysis("uncertain")
    outputs = render_outputs(analysis)
    impression = outputs.clinical_impression
    text = " ".join([*(f["basis"] for f in impression["finding"]), *(n["text"] for n in impression["note"])])
    assert f"'{DOUBLE_LINE}' (uncertain)" in text
    cards = cds_cards(analysis)
    assert any(DOUBLE_LINE in c["detail"] for c in cards)
    assert any("hedged" in c["detail"] for c in cards if c["indicator"] == "warning")


def test_hedged_edema_is_not_placed_on_the_timeline_and_says_so():
    rec = record(
        _from_text(finding("bone_marrow_edema", "2024-05-01", "femoral_head", "right"), EDEMA, 0, "uncertain"),
    )
    derived = derive(rec, TODAY)
    assert derived.timeline.episodes == ()
    assert [c.code for c in derived.timeline.caveats] == ["uncertain_finding_skipped"]
    assert derived.timeline.caveats[0].evidence == (REPORT,)
