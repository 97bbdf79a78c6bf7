"""Where report text comes from: every source kind, decoding, and each bad input as its issue."""

from __future__ import annotations

import base64
import time
from typing import Any

from bmefhir.normalize import build_record
from bmefhir.normalize.context import Context
from bmefhir.normalize.report_sources import (
    MAX_TEXT_CHARS,
    TextSource,
    diagnostic_report_texts,
    document_reference_texts,
    html_text,
)
from bmefhir.record import DataQualityIssue, PatientRecord

from .resources import CAT, LOINC, PATIENT, cc, finding, lab, study

REPORT = "MRI right hip. Findings: diffuse bone marrow edema of the right femoral head. No joint effusion."


def b64(text: str | bytes, encoding: str = "utf-8") -> str:
    raw = text if isinstance(text, bytes) else text.encode(encoding)
    return base64.b64encode(raw).decode("ascii")


def report(rid: str = "dr1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "category": [cc(LOINC, "LP29684-5")],
        "code": cc(LOINC, "18748-4"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-02",
    } | extra


def document(rid: str = "doc1", attachment: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": rid,
        "status": "current",
        "type": cc(LOINC, "24538-1"),
        "subject": {"reference": "Patient/p1"},
        "date": "2024-03-05T09:00:00Z",
        "content": [{"attachment": attachment or {"contentType": "text/plain", "data": b64(REPORT)}}],
    } | extra


def binary(rid: str = "bin1", text: str = REPORT, content_type: str = "text/plain") -> dict[str, Any]:
    return {"resourceType": "Binary", "id": rid, "contentType": content_type, "data": b64(text)}


def sources_of(*resources: dict[str, Any]) -> tuple[list[TextSource], Context]:
    """The text sources of the DiagnosticReports and DocumentReferences, resolved against all."""
    ctx = Context()
    for r in resources:
        ctx.by_ref[f"{r['resourceType']}/{r['id']}"] = r
    out: list[TextSource] = []
    for r in resources:
        ref = f"{r['resourceType']}/{r['id']}"
        if r["resourceType"] == "DiagnosticReport":
            out += diagnostic_report_texts(ctx, ref, r, None, ())
        elif r["resourceType"] == "DocumentReference":
            out += document_reference_texts(ctx, ref, r)
    return out, ctx


def issue(record: PatientRecord, resource: str, element: str) -> DataQualityIssue:
    found = [i for i in record.issues if i.resource == resource and i.element == element]
    assert found, f"no issue on {resource} {element}: {record.issues}"
    return found[0]


def rest_intact(record: PatientRecord) -> None:
    """The other resources of the patient were still read."""
    assert [x.concept for x in record.labs] == ["crp"]
    assert record.patient.birth_date is not None


# --- where the text comes from ----------------------------------------------------------------


def test_conclusion_is_read_with_date_studies_and_language() -> None:
    ctx = Context()
    res = report(conclusion=REPORT, language="en-GB", imagingStudy=[{"reference": "ImagingStudy/mr1"}])
    [source] = diagnostic_report_texts(ctx, "DiagnosticReport/dr1", res, None, ("ImagingStudy/mr1",))
    assert (source.element, source.text, source.language) == ("DiagnosticReport.conclusion", REPORT, "en-GB")
    assert source.study_refs == ("ImagingStudy/mr1",)


def test_presented_form_plain_text_with_charset() -> None:
    text = "Sağ femur başında kemik iliği ödemi."
    form = {"contentType": "text/plain; charset=ISO-8859-9", "language": "tr", "data": b64(text, "iso-8859-9")}
    [source], ctx = sources_of(report(presentedForm=[form], language="en"))
    assert source.text == text
    assert source.language == "tr"  # Attachment.language before the resource's
    assert source.element == "DiagnosticReport.presentedForm[0]"
    assert not ctx.issues.items()


def test_presented_form_and_same_conclusion_are_read_once() -> None:
    form = {"contentType": "text/plain", "data": b64(REPORT)}
    [source], ctx = sources_of(report(presentedForm=[form], conclusion="  " + REPORT.upper()))
    assert source.element == "DiagnosticReport.presentedForm[0]"
    [note] = ctx.issues.items()
    assert note.element == "DiagnosticReport.conclusion"
    assert "read once" in note.message


def test_conclusion_differing_from_presented_form_is_read_too() -> None:
    form = {"contentType": "text/plain", "data": b64(REPORT)}
    sources, _ = sources_of(report(presentedForm=[form], conclusion="Impression: transient osteoporosis."))
    assert [s.element for s in sources] == ["DiagnosticReport.presentedForm[0]", "DiagnosticReport.conclusion"]


def test_html_is_stripped_to_lines_and_entities_decoded() -> None:
    markup = (
        "<html><head><title>Report title</title><style>p {color: red}</style></head><body>"
        "<h1>MRI&nbsp;hip</h1><p>Findings:<br>Edema of the femoral head &amp; neck.</p>"
        "<script>alert('x')</script><ul><li>No   fracture.</li><li>No effusion.</li></ul>"
        "<!-- a comment --><pre>line one\nline two</pre></body></html>"
    )
    form = {"contentType": "text/html; charset=utf-8", "data": b64(markup)}
    [source], ctx = sources_of(report(presentedForm=[form]))
    assert source.text.split("\n") == [
        "MRI\xa0hip",
        "Findings:",
        "Edema of the femoral head & neck.",
        "No fracture.",
        "No effusion.",
        "line one",
        "line two",
    ]
    for hidden in ("alert", "color", "Report title", "comment"):
        assert hidden not in source.text
    assert any("scripts or styles removed" in n.message for n in source.notes)
    assert not ctx.issues.items()  # notes are emitted after reading (report_findings)


def test_deeply_nested_html_does_not_recurse() -> None:
    markup = "<div>" * 20_000 + "edema" + "</div>" * 20_000
    assert html_text(markup, []) == "edema"


def test_binary_by_relative_url_and_by_absolute_url_on_the_same_server() -> None:
    rel = report("dr1", presentedForm=[{"contentType": "text/html", "url": "Binary/bin1"}])
    absolute = document("doc1", {"url": "https://ehr.example/fhir/Binary/bin2"})
    sources, ctx = sources_of(rel, absolute, binary("bin1", f"<p>{REPORT}</p>"), binary("bin2", "Other text."))
    assert [s.text for s in sources] == [REPORT, "Other text."]
    assert ctx.used_refs == {"Binary/bin1", "Binary/bin2"}


def test_document_reference_by_type_category_or_related_study() -> None:
    by_type = document("d1")
    by_category = document("d2", type=cc(LOINC, "11506-3"), category=[cc(LOINC, "LP29684-5")])
    by_study = document("d3", type=cc(LOINC, "11506-3"), context={"related": [{"reference": "ImagingStudy/mr1"}]})
    other = document("d4", type=cc(LOINC, "11506-3"))
    sources, ctx = sources_of(by_type, by_category, by_study, other, study())
    assert [s.ref for s in sources] == ["DocumentReference/d1", "DocumentReference/d2", "DocumentReference/d3"]
    assert sources[2].study_refs == ("ImagingStudy/mr1",)
    assert sources[0].date is not None
    assert sources[0].date.isoformat() == "2024-03-05"
    [note] = ctx.issues.items()
    assert (note.resource, note.element) == ("DocumentReference/d4", "DocumentReference.type")


def test_document_reference_period_start_is_its_date() -> None:
    [source], _ = sources_of(document(context={"period": {"start": "2024-02-28"}}))
    assert source.date is not None
    assert source.date.isoformat() == "2024-02-28"


# --- through the builder: bad input → its issue, the rest of the patient intact -------------


def build(*resources: dict[str, Any]) -> PatientRecord:
    return build_record([PATIENT, lab("crp1", "1988-5", 12, "mg/L"), *resources])


def test_empty_conclusion_is_a_warning() -> None:
    r = build(report(conclusion="   "))
    assert issue(r, "DiagnosticReport/dr1", "DiagnosticReport.conclusion").message == "report text is empty"
    rest_intact(r)


def test_invalid_base64_is_an_error_on_the_attachment() -> None:
    r = build(report(presentedForm=[{"contentType": "text/plain", "data": "not base64!!"}]))
    found = issue(r, "DiagnosticReport/dr1", "DiagnosticReport.presentedForm[0]")
    assert found.severity == "error"
    assert "not valid base64" in found.message
    rest_intact(r)


def test_non_utf8_bytes_are_replaced_with_a_warning() -> None:
    raw = "Kemik iliği ödemi".encode("iso-8859-9")
    r = build(report(presentedForm=[{"contentType": "text/plain", "data": b64(raw)}]))
    found = issue(r, "DiagnosticReport/dr1", "DiagnosticReport.presentedForm[0]")
    assert found.severity == "warning"
    assert "not valid utf-8" in found.message
    assert "ödemi" not in found.message
    assert "iliği" not in found.message
    rest_intact(r)


def test_unknown_content_type_is_not_read() -> None:
    r = build(report(presentedForm=[{"contentType": "application/pdf", "data": b64(b"%PDF-1.4")}]))
    found = issue(r, "DiagnosticReport/dr1", "DiagnosticReport.presentedForm[0]")
    assert found.severity == "information"
    assert "application/pdf is not read" in found.message
    rest_intact(r)


def test_url_to_a_binary_not_in_the_input_is_a_warning() -> None:
    r = build(document(attachment={"contentType": "text/plain", "url": "Binary/missing"}))
    found = issue(r, "DocumentReference/doc1", "DocumentReference.content[0].attachment")
    assert found.severity == "warning"
    assert found.code == "not-found"
    rest_intact(r)


def test_binary_with_another_full_url_is_not_taken_for_this_server() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": PATIENT},
            {"resource": document(attachment={"url": "https://ehr.example/fhir/Binary/bin1"})},
            {"fullUrl": "https://other.example/fhir/Binary/bin1", "resource": binary()},
        ],
    }
    r = build_record([bundle])
    assert issue(r, "DocumentReference/doc1", "DocumentReference.content[0].attachment").code == "not-found"
    assert "not used" in issue(r, "Binary/bin1", "Binary").message


def test_binary_read_through_a_report_is_a_source_an_unreferenced_one_is_not_used() -> None:
    r = build(report(presentedForm=[{"url": "Binary/bin1"}]), binary("bin1"), binary("stray"))
    refs = [s.ref for s in r.sources]
    assert "Binary/bin1" in refs
    assert "Binary/stray" not in refs
    assert issue(r, "Binary/stray", "Binary").severity == "information"
    assert not [i for i in r.issues if i.resource == "Binary/bin1"]
    rest_intact(r)


def test_text_over_the_limit_is_cut_with_a_warning_quickly() -> None:
    big = "edema of the talus. " * (10_000_000 // 20)  # a 10 MB report
    started = time.perf_counter()
    [source], _ = sources_of(document(attachment={"contentType": "text/plain", "data": b64(big)}))
    assert time.perf_counter() - started < 20  # generous: a shared 2-core machine
    assert len(source.text) == MAX_TEXT_CHARS
    assert any(n.code == "too-long" for n in source.notes)


def test_html_too_long_and_with_script_says_both_in_one_issue() -> None:
    markup = "<script>x()</script><p>" + "a" * (MAX_TEXT_CHARS + 10) + "</p>"
    r = build(report(presentedForm=[{"contentType": "text/html", "data": b64(markup)}]))
    found = issue(r, "DiagnosticReport/dr1", "DiagnosticReport.presentedForm[0]")
    assert found.severity == "warning"
    assert "longer than" in found.message
    assert "scripts or styles removed" in found.message


def test_attachment_without_data_or_url() -> None:
    r = build(document(attachment={"contentType": "text/plain", "title": "report"}))
    assert (
        "neither data nor url" in issue(r, "DocumentReference/doc1", "DocumentReference.content[0].attachment").message
    )


def test_imaging_observation_value_string_is_text_and_not_an_unused_warning() -> None:
    obs = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "category": [cc(CAT, "imaging")],
        "code": cc(LOINC, "18748-4"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-02",
        "valueString": REPORT,
    }
    r = build(obs)
    # The text was read into findings quoting it: no "observation not used" warning.
    read = {(f.concept, f.present) for f in r.findings if f.ref == "Observation/o1" and f.text is not None}
    assert read == {("bone_marrow_edema", True), ("joint_effusion", False)}
    assert all(f.text.element == "Observation.valueString" for f in r.findings if f.text is not None)
    assert not [i for i in r.issues if i.resource == "Observation/o1" and i.element == "Observation.code"]


def test_radiology_report_with_text_has_no_missing_conclusion_note() -> None:
    with_text = build(report(conclusion=REPORT))
    without = build(report())
    assert not [i for i in with_text.issues if i.element == "DiagnosticReport.conclusionCode"]
    assert issue(without, "DiagnosticReport/dr1", "DiagnosticReport.conclusionCode").severity == "information"


GERMAN = "MRT rechte Hüfte. Befund: ausgedehntes Knochenmarködem des rechten Femurkopfes. Kein Gelenkerguss."


def test_unsupported_language_note_never_quotes_the_text() -> None:
    r = build(report(conclusion=GERMAN))
    found = issue(r, "DiagnosticReport/dr1", "DiagnosticReport.conclusion")
    assert found.code == "not-supported"
    assert "Knochenmark" not in found.message
    assert "Femurkopf" not in found.message
    assert not [f for f in r.findings if f.text is not None]


def test_coded_findings_still_read_next_to_text() -> None:
    r = build(report(conclusion=REPORT), finding("f1", "bone_marrow_edema"))
    coded = [(f.ref, f.concept) for f in r.findings if f.text is None]
    read = sorted((f.ref, f.concept) for f in r.findings if f.text is not None)
    assert coded == [("Observation/f1", "bone_marrow_edema")]
    assert read == [("DiagnosticReport/dr1", "bone_marrow_edema"), ("DiagnosticReport/dr1", "joint_effusion")]
