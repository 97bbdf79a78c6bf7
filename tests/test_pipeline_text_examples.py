"""End to end on the text-only examples: read from radiology report text alone, every case reaches
the same conclusion as its coded form, and every finding read shows where in the report it stands.

These tests need the report reader (``bmefhir.reporttext``, docs/report-text.md) and the text sources
(``bmefhir.normalize.report_sources``/``report_findings``); until both are in, the record holds no
finding from text and the tests fail saying so.
"""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from bmefhir.fhir.files import read_bundle
from bmefhir.pipeline import PatientResult, process_patient
from bmefhir.testing.examples import ExampleCase, list_examples, list_text_examples

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PAIRS = list(zip(list_examples(), list_text_examples(), strict=True))
NOT_READ = (
    "{name}: no imaging finding was read from the report text (bmefhir.reporttext read nothing the "
    "record could use; see the data-quality issues of the report, and docs/report-text.md)"
)


@cache
def _result(case: ExampleCase) -> PatientResult:
    (raw,) = list(read_bundle(case.path))
    return process_patient(raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues)


def _texts(resource: dict[str, Any], by_key: dict[str, dict[str, Any]]) -> list[str]:
    """Every text of a report resource, decoded; HTML both as sent and with the markup stripped."""
    texts = [resource["conclusion"]] if resource.get("conclusion") else []
    attachments = [*resource.get("presentedForm", []), *(c["attachment"] for c in resource.get("content", []))]
    for att in attachments:
        data = att.get("data") or by_key[att["url"]]["data"]
        text = base64.b64decode(data).decode("utf-8")
        texts.append(text)
        if att.get("contentType", "").startswith("text/html"):
            texts.append(html.unescape(re.sub(r"<[^>]+>", " ", text)))
    return texts


@pytest.mark.parametrize(("coded", "text"), PAIRS, ids=[c.name for c, _ in PAIRS])
def test_text_only_example_reaches_the_conclusion_of_its_coded_form(coded: ExampleCase, text: ExampleCase) -> None:
    from_text = _result(text)
    assert any(f.text is not None for f in from_text.analysis.record.findings), NOT_READ.format(name=text.name)
    want, got = _result(coded).analysis.differential, from_text.analysis.differential
    ranking = [(c.code, round(c.probability, 3)) for c in got.ranking[:4]]
    assert got.ranking[0].code == want.ranking[0].code, (
        f"{text.name}: top {got.ranking[0].code} from text, {want.ranking[0].code} coded; {ranking}"
    )
    assert {f.code for f in got.red_flags} == {f.code for f in want.red_flags}, text.name
    assert got.ranking[0].code in text.expectation.top


@pytest.mark.parametrize(("coded", "text"), PAIRS, ids=[c.name for c, _ in PAIRS])
def test_every_finding_of_a_text_only_example_quotes_its_report(coded: ExampleCase, text: ExampleCase) -> None:
    record = _result(text).analysis.record
    findings = [f for f in record.findings if f.text is not None]
    assert findings, NOT_READ.format(name=text.name)
    # Histology is not imaging: a pathology report stays coded in the text form (its text is not read).
    imaging = [f for f in record.findings if not f.concept.startswith("histology_")]
    assert len(findings) == len(imaging), f"{text.name}: a finding without TextEvidence in a text-only case"
    entries = json.loads(text.path.read_text(encoding="utf-8"))["entry"]
    by_key = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"] for e in entries}
    reports = {k: r for k, r in by_key.items() if r["resourceType"] in ("DiagnosticReport", "DocumentReference")}
    for f in findings:
        assert f.text is not None
        assert f.text.language in ("en", "tr", "zh")
        assert f.text.end - f.text.start == len(f.text.quote)
        sources = [reports[f.ref]] if f.ref in reports else list(reports.values())
        assert any(f.text.quote in t for r in sources for t in _texts(r, by_key)), (
            f"{text.name}: the quote of {f.concept} ({f.text.element}) is not in {f.ref}'s text"
        )
