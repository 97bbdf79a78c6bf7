"""Report text into the record: hand-built readings (bmefhir.reporttext.model) → ImagingFindings."""

from __future__ import annotations

from datetime import date
from typing import Any

from bmefhir.normalize.context import Context
from bmefhir.normalize.report_findings import Reader, text_findings
from bmefhir.normalize.report_sources import TextSource
from bmefhir.record import Assertion, ImagingFinding, Site
from bmefhir.reporttext import Mention, Reading

from .resources import study

TEXT = "Findings: bone marrow edema of the talus. No joint effusion. Possible stress fracture."
DAY = date(2024, 3, 2)


def mention(
    phrase: str,
    concept: str,
    assertion: Assertion = "affirmed",
    site: Site | None = None,
    text: str = TEXT,
    modality: str | None = None,
) -> Mention:
    start = text.index(phrase)
    return Mention(concept, site, start, start + len(phrase), phrase, assertion, "findings", "en", modality)


def reader(*readings: tuple[str, Reading]) -> Reader:
    """The reader's answer for each text (the real reader's contract, docs/report-text.md)."""
    table = dict(readings)

    def read(text: str, language: str | None = None) -> Reading:
        return table.get(text, Reading("und", problems=("no language detected",)))

    return read


def source(
    text: str = TEXT,
    ref: str = "DiagnosticReport/dr1",
    element: str = "DiagnosticReport.conclusion",
    studies: tuple[str, ...] = (),
    when: date | None = DAY,
) -> TextSource:
    return TextSource(ref, element, text, "en", when, studies)


def context(*resources: dict[str, Any]) -> Context:
    ctx = Context()
    for r in resources:
        ctx.by_ref[f"{r['resourceType']}/{r['id']}"] = r
    return ctx


def ankle_study(rid: str = "mr1", modality: str = "MR") -> dict[str, Any]:
    return study(rid, modality, "ankle", "24028007")  # right ankle


ANKLE = Site("ankle", "right")


def test_assertions_map_to_present_absent_and_uncertain_with_evidence() -> None:
    reading = Reading(
        "en",
        (
            mention("bone marrow edema of the talus", "bone_marrow_edema", site=Site("talus")),
            mention("No joint effusion", "joint_effusion", "negated", site=Site("ankle")),
            mention("Possible stress fracture", "fracture_line", "uncertain"),
        ),
    )
    ctx = context(ankle_study())
    found = text_findings(ctx, [source(studies=("ImagingStudy/mr1",))], [], reader((TEXT, reading)))
    summary = [(f.concept, f.present, f.site, f.uncertain) for f in found]
    assert summary == [
        ("bone_marrow_edema", True, Site("talus", "right"), False),  # side from the right-ankle study
        ("joint_effusion", False, ANKLE, False),
        ("fracture_line", True, ANKLE, True),  # no site in the text: the study's single site
    ]
    first = found[0]
    assert (first.ref, first.date, first.modality, first.study_ref) == (
        "DiagnosticReport/dr1",
        DAY,
        "MR",
        "ImagingStudy/mr1",
    )
    assert first.text is not None
    assert TEXT[first.text.start : first.text.end] == first.text.quote
    assert (first.text.element, first.text.assertion, first.text.language, first.text.section) == (
        "DiagnosticReport.conclusion",
        "affirmed",
        "en",
        "findings",
    )
    assert not ctx.issues.items()


def test_historical_and_hypothetical_are_not_findings_one_counting_note() -> None:
    text = "History of AVN. R/o stress fracture. Edema of the talus."
    reading = Reading(
        "en",
        (
            mention("History of AVN", "osteonecrosis", "historical", text=text),
            mention("R/o stress fracture", "fracture_line", "hypothetical", text=text),
            mention("Edema of the talus", "bone_marrow_edema", site=Site("talus"), text=text),
        ),
    )
    ctx = context()
    found = text_findings(ctx, [source(text)], [], reader((text, reading)))
    assert [f.concept for f in found] == ["bone_marrow_edema"]
    [note] = ctx.issues.items()
    assert note.severity == "information"
    assert note.element == "DiagnosticReport.conclusion"
    assert "1 historical and 1 hypothetical" in note.message
    assert "AVN" not in note.message
    assert "talus" not in note.message


def test_site_and_modality_fallbacks() -> None:
    # Side-less site of another joint keeps no side; modality from the mention, then the reading.
    text = "Edema of the femoral head. Edema of the talus."
    reading = Reading(
        "en",
        (
            mention(
                "Edema of the femoral head", "bone_marrow_edema", site=Site("femoral_head"), text=text, modality="CT"
            ),
            mention("Edema of the talus", "bone_marrow_edema", site=Site("talus"), text=text),
        ),
        modality="MR",
    )
    found = text_findings(context(), [source(text)], [], reader((text, reading)))
    assert [(f.site, f.modality, f.study_ref) for f in found] == [
        (Site("femoral_head"), "CT", None),
        (Site("talus"), "MR", None),
    ]
    # With a study, its modality wins over the text's; a structure of another joint takes no side.
    found = text_findings(
        context(ankle_study("ct1", "CT")), [source(text, studies=("ImagingStudy/ct1",))], [], reader((text, reading))
    )
    assert [(f.site, f.modality) for f in found] == [(Site("femoral_head"), "CT"), (Site("talus", "right"), "CT")]


def test_study_description_gives_site_and_modality_when_not_coded() -> None:
    described = {
        "resourceType": "ImagingStudy",
        "id": "s1",
        "status": "available",
        "subject": {"reference": "Patient/p1"},
        "description": "MRI left knee",
        "series": [{"uid": "1", "modality": {"code": "OT"}}],
    }
    text = "Bone marrow edema."
    reading = Reading("en", (mention("Bone marrow edema", "bone_marrow_edema", text=text),))
    read = reader((text, reading), ("MRI left knee", Reading("en", modality="MR")))
    [f] = text_findings(context(described), [source(text, studies=("ImagingStudy/s1",))], [], read)
    assert (f.site, f.modality) == (Site("knee", "left"), "MR")


def test_several_study_sites_leave_an_unsited_mention_without_site() -> None:
    hip = study("mr2", "MR", "femoral_head", "7771000")
    text = "Bone marrow edema."
    reading = Reading("en", (mention("Bone marrow edema", "bone_marrow_edema", text=text),))
    ctx = context(ankle_study(), hip)
    [f] = text_findings(
        ctx, [source(text, studies=("ImagingStudy/mr1", "ImagingStudy/mr2"))], [], reader((text, reading))
    )
    assert f.site is None
    assert f.study_ref is None
    assert "several sites" in ctx.issues.items()[0].message


def coded(concept: str, present: bool, **extra: Any) -> ImagingFinding:
    return ImagingFinding(
        "Observation/c1", concept, present, extra.get("site"), extra.get("when", DAY), "MR", extra.get("study")
    )


def test_coded_finding_wins_a_disagreement_and_says_so() -> None:
    reading = Reading(
        "en",
        (
            mention("No joint effusion", "joint_effusion", "negated", site=Site("ankle")),
            mention("bone marrow edema of the talus", "bone_marrow_edema", site=Site("talus")),
        ),
    )
    ctx = context(ankle_study())
    codes = [coded("joint_effusion", True, study="ImagingStudy/mr1"), coded("bone_marrow_edema", True)]
    found = text_findings(ctx, [source(studies=("ImagingStudy/mr1",))], codes, reader((TEXT, reading)))
    assert [f.concept for f in found] == ["bone_marrow_edema"]  # agreeing text finding kept
    [warning] = ctx.issues.items()
    assert (warning.severity, warning.code, warning.resource) == ("warning", "conflict", "DiagnosticReport/dr1")
    assert "Observation/c1" in warning.message
    assert "joint_effusion" in warning.message


def test_disagreement_on_another_date_or_site_is_no_conflict() -> None:
    reading = Reading("en", (mention("No joint effusion", "joint_effusion", "negated", site=Site("ankle", "right")),))
    codes = [
        coded("joint_effusion", True, when=date(2023, 1, 1)),
        coded("joint_effusion", True, site=Site("ankle", "left")),
    ]
    ctx = context()
    found = text_findings(ctx, [source()], codes, reader((TEXT, reading)))
    assert [f.present for f in found] == [False]
    assert not ctx.issues.items()


def test_same_text_in_two_resources_is_read_once_from_the_report() -> None:
    reading = Reading("en", (mention("bone marrow edema of the talus", "bone_marrow_edema"),))
    doc = source(ref="DocumentReference/doc1", element="DocumentReference.content[0].attachment")
    form = source(element="DiagnosticReport.presentedForm[0]")
    ctx = context()
    found = text_findings(ctx, [doc, form], [], reader((TEXT, reading)))
    assert [(f.ref, f.text.element if f.text else None) for f in found] == [
        ("DiagnosticReport/dr1", "DiagnosticReport.presentedForm[0]")
    ]
    [note] = ctx.issues.items()
    assert note.resource == "DocumentReference/doc1"
    assert "DiagnosticReport/dr1" in note.message


def test_unsupported_language_and_unusable_mentions() -> None:
    ctx = context()
    bad = Reading(
        "en",
        (
            Mention("not_a_concept", None, 0, 4, "Find", "affirmed", None, "en"),
            Mention("bone_marrow_edema", None, 0, 4, "nope", "affirmed", None, "en"),
        ),
    )
    other = "Knochenmarködem des Talus."
    found = text_findings(
        ctx,
        [source(), source(other, ref="DiagnosticReport/dr2")],
        [],
        reader((TEXT, bad)),
    )
    assert found == []
    by_ref = {i.resource: i for i in ctx.issues.items()}
    assert "2 mention(s)" in by_ref["DiagnosticReport/dr1"].message
    german = by_ref["DiagnosticReport/dr2"]
    assert german.severity == "warning"
    assert german.code == "not-supported"
    assert "Talus" not in german.message


def test_deterministic_whatever_the_source_order() -> None:
    reading = Reading("en", (mention("bone marrow edema of the talus", "bone_marrow_edema", site=Site("talus")),))
    other = "Edema of the talus."
    reading2 = Reading("en", (mention("Edema of the talus", "bone_marrow_edema", site=Site("talus"), text=other),))
    a = source(ref="DiagnosticReport/a")
    b = source(other, ref="DiagnosticReport/b")
    read = reader((TEXT, reading), (other, reading2))
    ctx1, ctx2 = context(), context()
    assert text_findings(ctx1, [a, b], [], read) == text_findings(ctx2, [b, a], [], read)
    assert ctx1.issues.items() == ctx2.issues.items()


def test_an_impression_restating_a_finding_is_read_once_and_said_so() -> None:
    body = "Findings: bone marrow edema of the talus. Impression: bone marrow edema of the talus."
    conclusion = "Marrow edema of the talus; no effusion."
    first = body.index("bone marrow edema of the talus")
    again = body.index("bone marrow edema of the talus", first + 1)
    talus = Site("talus", "right")
    body_reading = Reading(
        "en",
        (
            mention("bone marrow edema of the talus", "bone_marrow_edema", site=talus, text=body),
            Mention(
                "bone_marrow_edema", talus, again, again + 30, body[again : again + 30], "affirmed", "impression", "en"
            ),
        ),
    )
    conclusion_reading = Reading(
        "en",
        (
            mention("Marrow edema of the talus", "bone_marrow_edema", site=talus, text=conclusion),
            mention("no effusion", "joint_effusion", "negated", site=Site("ankle", "right"), text=conclusion),
        ),
    )
    ctx = context()
    sources = [source(body, element="DiagnosticReport.presentedForm[0]"), source(conclusion)]
    found = text_findings(ctx, sources, [], reader((body, body_reading), (conclusion, conclusion_reading)))
    assert [(f.concept, f.present, f.text.element if f.text else None) for f in found] == [
        ("bone_marrow_edema", True, "DiagnosticReport.presentedForm[0]"),
        ("joint_effusion", False, "DiagnosticReport.conclusion"),
    ]
    notes = {i.element: i.message for i in ctx.issues.items()}
    assert "restated" in notes["DiagnosticReport.presentedForm[0]"]
    assert "restated" in notes["DiagnosticReport.conclusion"]
