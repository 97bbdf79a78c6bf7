"""Text-only examples across a real FHIR server: report text in DiagnosticReport.presentedForm,
DocumentReference and Binary is fetched, read and concludes as the coded form does; findings read
from text can be written back as profiled Observations without duplicates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.patient_fetch import fetch_patient
from bmefhir.pipeline import process_patient
from bmefhir.render import ids
from bmefhir.runner import run
from bmefhir.sinks import RestSink
from bmefhir.testing.examples import ExampleCase, list_text_examples

from .target import Target
from .test_profiles_on_server import _validate, profiles  # noqa: F401  (the profiles fixture)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CASES = list_text_examples()


@pytest.fixture(scope="module")
def loaded_text(target: Target) -> Target:
    with target.client() as client:
        for case in CASES:
            target.load(client, target.example_bundle(case, text=True))
    return target


def _types(resources: tuple[dict, ...]) -> set[str]:
    return {r["resourceType"] for r in resources}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_report_text_from_the_server_concludes_as_expected(
    case: ExampleCase, loaded_text: Target, client: FhirClient
) -> None:
    pid = loaded_text.prefix + case.expectation.patient
    raw = fetch_patient(client, pid)
    assert "DiagnosticReport" in _types(raw.resources) or "DocumentReference" in _types(raw.resources)
    result = process_patient(raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues)
    d = result.analysis.differential
    text_findings = [f for f in result.analysis.record.findings if f.text is not None]
    assert text_findings, f"{case.name}: nothing read from the report text on the server"
    assert not d.insufficient_data
    assert d.ranking[0].code in case.expectation.top, [(c.code, c.probability) for c in d.ranking[:3]]
    assert set(case.expectation.red_flags) <= {f.code for f in d.red_flags}
    assert not [i for i in result.analysis.record.issues if i.element.endswith(".url") and i.severity != "information"]


def test_binary_reports_are_fetched_and_counted(loaded_text: Target, client: FhirClient) -> None:
    with_binary = [c for c in CASES if '"Binary"' in c.path.read_text(encoding="utf-8")]
    assert with_binary, "the text-only examples should include a report held in a Binary"
    case = with_binary[0]
    raw = fetch_patient(client, loaded_text.prefix + case.expectation.patient)
    assert "Binary" in _types(raw.resources)
    assert raw.requests >= 2  # the patient batch, then the Binaries its reports point to
    result = process_patient(raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues)
    assert any(f.text is not None for f in result.analysis.record.findings)


def test_findings_read_from_text_are_written_back_once_and_validate(
    loaded_text: Target,
    profiles: Target,  # noqa: F811
    client: FhirClient,
) -> None:
    case = CASES[0]
    pid = loaded_text.prefix + case.expectation.patient
    first = run(iter([fetch_patient(client, pid)]), NOW, sink=RestSink(client), write_findings=True)
    assert first.ok, first.failures
    tag = f"{ids.BASE}/CodeSystem/output-kind|text-finding"
    written = list(client.search("Observation", {"subject": f"Patient/{pid}", "_tag": tag}))
    if loaded_text.external:
        loaded_text.created += [f"Observation/{o['id']}" for o in written]
    raw = fetch_patient(client, pid)
    expected = process_patient(raw.resources, NOW, patient_id=pid, write_findings=True).outputs.findings
    assert written
    assert len(written) == len(expected)
    errors: list[str] = []
    with profiles.http() as http:
        for obs in written:
            errors += _validate(http, obs, ids.profile_url("imaging-finding"), "text finding")
    assert errors == []
    # Our own Observations are not read back as input, so the second run sees the same record.
    ours = {w["id"] for w in written}
    assert not [r for r in raw.resources if r["resourceType"] == "Observation" and r["id"] in ours]
    again = run(iter([raw]), NOW, sink=RestSink(client), write_findings=True)
    assert again.ok, again.failures
    assert len(list(client.search("Observation", {"subject": f"Patient/{pid}", "_tag": tag}))) == len(written)
