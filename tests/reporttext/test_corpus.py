"""The labelled report corpus: it validates, the scorer scores right, and the reader does not regress."""

from __future__ import annotations

from pathlib import Path

import pytest

from bmefhir.record import Assertion, Side, Site
from bmefhir.reporttext import Mention, Reading, read_report
from bmefhir.testing.report_corpus import (
    ASSERTIONS,
    CorpusError,
    CorpusScore,
    GoldMention,
    Passage,
    load_corpus,
    parse_corpus,
    parse_known_misses,
    score_passage,
    score_readings,
)

HERE = Path(__file__).parent
CORPUS = load_corpus()


# --- (a) the corpus ------------------------------------------------------------------------------------------------


def test_corpus_size_and_languages() -> None:
    per_language = {lang: sum(p.language == lang for p in CORPUS) for lang in ("en", "tr", "zh")}
    assert len(CORPUS) >= 300
    assert all(n >= 100 for n in per_language.values()), per_language


@pytest.mark.parametrize("language", ["en", "tr", "zh"])
def test_every_assertion_class_in_every_language(language: str) -> None:
    present = {m.assertion for p in CORPUS if p.language == language for m in p.mentions}
    assert present == set(ASSERTIONS)


def test_ids_unique_and_sources_given() -> None:
    assert len({p.id for p in CORPUS}) == len(CORPUS)
    assert all(p.source for p in CORPUS)


def test_realistic_mix_of_assertions() -> None:
    non_affirmed = sum(any(m.assertion != "affirmed" for m in p.mentions) for p in CORPUS)
    assert 0.4 <= non_affirmed / len(CORPUS) <= 0.85


_GOOD = """
language: en
passages:
  - id: en-0001
    source: "written for the test"
    text: "Edema of the talus."
    mentions:
      - {concept: bone_marrow_edema, site: talus, side: null, assertion: affirmed}
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("bone_marrow_edema", "bone_edema"), "en.yaml passage 1 (en-0001) mention 1: unknown concept 'bone_edema'"),
        (("site: talus", "site: talar_dome"), "unknown site 'talar_dome'"),
        (("side: null", "side: both"), "unknown side 'both'"),
        (("assertion: affirmed", "assertion: denied"), "unknown assertion 'denied'"),
        (('source: "written for the test"', 'source: ""'), "(en-0001): every passage needs a source"),
        (("id: en-0001", "id: tr-0001"), "id 'tr-0001' must look like 'en-0001'"),
        (("site: talus, side: null", "site: null, side: left"), "side 'left' without a site"),
    ],
)
def test_validation_errors_name_file_and_passage(change: tuple[str, str], message: str) -> None:
    assert parse_corpus(_GOOD, "en.yaml")[0].mentions[0].structure == "talus"
    with pytest.raises(CorpusError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_corpus(_GOOD.replace(*change), "en.yaml")


def test_duplicate_ids_rejected() -> None:
    twice = _GOOD + _GOOD.split("passages:\n", 1)[1]
    with pytest.raises(CorpusError, match="duplicate passage id"):
        parse_corpus(twice, "en.yaml")


def test_known_misses_validated() -> None:
    ids = ["en-0001"]
    assert parse_known_misses("misses: [{id: en-0001, reason: hedge scope}]", ids) == {"en-0001": "hedge scope"}
    with pytest.raises(CorpusError, match="not a passage"):
        parse_known_misses("misses: [{id: en-9999, reason: x}]", ids)
    with pytest.raises(CorpusError, match="give the reason"):
        parse_known_misses("misses: [{id: en-0001, reason: ''}]", ids)


# --- (b) the scorer ------------------------------------------------------------------------------------------------


def _gold(concept: str, structure: str | None, side: Side | None, assertion: Assertion = "affirmed") -> GoldMention:
    return GoldMention(concept, structure, side, assertion)


def _said(concept: str, structure: str | None, side: Side | None, assertion: Assertion = "affirmed") -> Mention:
    site = Site(structure, side) if structure else None
    return Mention(concept, site, 0, 1, "x", assertion, "findings", "en")


PASSAGE = Passage(
    "en-9001",
    "en",
    "test",
    "x",
    (
        _gold("bone_marrow_edema", "talus", "right"),
        _gold("joint_effusion", "ankle", "right", "negated"),
        _gold("fracture_line", None, None, "negated"),
    ),
)
PERFECT = (
    _said("bone_marrow_edema", "talus", "right"),
    _said("joint_effusion", "ankle", "right", "negated"),
    _said("fracture_line", None, None, "negated"),
)


def _score(*mentions: Mention, passage: Passage = PASSAGE) -> CorpusScore:
    return score_readings([passage], [Reading("en", tuple(mentions))])


def test_perfect_reading_passes() -> None:
    score = _score(*PERFECT)
    assert score.failing == ()
    assert score.by_language["en"].f1 == 1.0
    assert score.assertions["en"].accuracy == 1.0
    assert score.assertions["en"].matched == 3


def test_missed_mention_fails_and_lowers_recall() -> None:
    score = _score(*PERFECT[1:])
    result = score.results[0]
    assert not result.passed
    assert result.missed == (PASSAGE.mentions[0],)
    bme = score.by_concept["bone_marrow_edema"]
    assert (bme.gold, bme.found, bme.recall, bme.precision) == (1, 0, 0.0, 1.0)
    assert "missed bone_marrow_edema @ right talus (affirmed)" in result.describe()


def test_extra_mention_fails_and_lowers_precision() -> None:
    extra = _said("bone_marrow_edema", "distal_tibia", "right")
    score = _score(*PERFECT, extra)
    assert score.results[0].extra == (extra,)
    bme = score.by_concept["bone_marrow_edema"]
    assert (bme.predicted, bme.correct, bme.precision, bme.recall) == (2, 1, 0.5, 1.0)
    assert score.by_concept["bone_marrow_edema"].f1 == pytest.approx(2 / 3)


def test_wrong_assertion_fails_and_counts_in_assertion_accuracy() -> None:
    score = _score(_said("bone_marrow_edema", "talus", "right", "negated"), *PERFECT[1:])
    result = score.results[0]
    assert not result.passed
    assert result.missed == (PASSAGE.mentions[0],)
    assert score.assertions["en"].matched == 3
    assert score.assertions["en"].accuracy == pytest.approx(2 / 3)
    assert score.assertions["en"].confusion[("affirmed", "negated")] == 1
    assert score.by_concept["bone_marrow_edema"].recall == 0.0  # not found as present


def test_bilateral_matches_left_and_right_both_ways() -> None:
    bilateral = Passage("en-9002", "en", "t", "x", (_gold("joint_effusion", "hip", "bilateral"),))
    both = _score(_said("joint_effusion", "hip", "left"), _said("joint_effusion", "hip", "right"), passage=bilateral)
    assert both.failing == ()
    split = Passage(
        "en-9003", "en", "t", "x", (_gold("joint_effusion", "hip", "left"), _gold("joint_effusion", "hip", "right"))
    )
    assert _score(_said("joint_effusion", "hip", "bilateral"), passage=split).failing == ()
    assert _score(_said("joint_effusion", "hip", "left"), passage=split).failing == ("en-9003",)


def test_side_and_structure_must_match_when_gold_gives_them() -> None:
    assert _score(_said("bone_marrow_edema", "talus", "left"), *PERFECT[1:]).failing == ("en-9001",)
    assert _score(_said("bone_marrow_edema", "calcaneus", "right"), *PERFECT[1:]).failing == ("en-9001",)
    assert _score(_said("bone_marrow_edema", None, None), *PERFECT[1:]).failing == ("en-9001",)
    gold_no_side = Passage("en-9004", "en", "t", "x", (_gold("bone_marrow_edema", "talus", None),))
    assert _score(_said("bone_marrow_edema", "talus", "left"), passage=gold_no_side).failing == ()


def test_null_site_gold_is_a_wildcard() -> None:
    anywhere = (_said("fracture_line", "talus", "right", "negated"), _said("fracture_line", None, None, "negated"))
    score = _score(*PERFECT[:2], *anywhere)
    assert score.failing == ()
    assert score_passage(PASSAGE, Reading("en", (*PERFECT[:2], anywhere[0]))).passed


def test_empty_reading_of_empty_gold_passes() -> None:
    empty = Passage("en-9005", "en", "t", "x", ())
    score = _score(passage=empty)
    assert score.failing == ()
    assert score.by_language["en"].f1 == 1.0


def test_scores_need_one_reading_per_passage() -> None:
    with pytest.raises(ValueError, match="1 passages but 0 readings"):
        score_readings([PASSAGE], [])


# --- (c) the regression test of the reader -------------------------------------------------------------------------


def test_reader_regressions() -> None:
    known = parse_known_misses((HERE / "known_misses.yaml").read_text(encoding="utf-8"), [p.id for p in CORPUS])
    score = score_readings(CORPUS, [read_report(p.text, p.language) for p in CORPUS])
    regressions = [r for r in score.results if not r.passed and r.passage.id not in known]
    now_passing = sorted(set(score.passing) & set(known))
    problems = []
    if regressions:
        problems.append(
            f"{len(regressions)} passage(s) fail that are not in known_misses.yaml: "
            + ", ".join(r.passage.id for r in regressions)
            + "\nfirst differences:\n  "
            + "\n  ".join(r.describe() for r in regressions[:10])
        )
    if now_passing:
        problems.append(f"listed in known_misses.yaml but now passing (remove them): {', '.join(now_passing)}")
    assert not problems, "\n".join(problems)


def test_gold_labels_read_back_as_a_perfect_score() -> None:
    """A reading that says exactly the gold labels passes every passage: the labels are self-consistent."""

    def oracle(p: Passage) -> Reading:
        return Reading(p.language, tuple(_said(g.concept, g.structure, g.side, g.assertion) for g in p.mentions))  # type: ignore[arg-type]

    score = score_readings(CORPUS, [oracle(p) for p in CORPUS])
    assert score.failing == ()
    assert score.overall.f1 == 1.0
    assert all(a.accuracy == 1.0 and a.matched > 0 for a in score.assertions.values())
