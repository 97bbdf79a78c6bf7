"""--write-findings against a real server: the Observations are written, pass HAPI's $validate against
bmefhir-imaging-finding, are not read back as input, and a re-run neither duplicates nor rewrites them.

The findings are built by hand (as the reader would produce them from the text-only seed 002 reports),
so this runs without the report reader; the reports and studies they cite are loaded first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.patient_fetch import fetch_patient
from bmefhir.fhir.raw import RawPatient
from bmefhir.pipeline import PatientResult, analyse
from bmefhir.record import ImagingFinding, PatientInfo, PatientRecord, Site, SourceRef, TextEvidence
from bmefhir.render import ids
from bmefhir.render.bundle import render_outputs
from bmefhir.render.findings import FINDING_IDENTIFIER_SYSTEM
from bmefhir.render.summary import summarize
from bmefhir.testing.examples import load_bundle
from bmefhir.writeback import write_back

from .target import TEST_TAG, Target, rewrite_ids
from .test_profiles_on_server import _validate, profiles  # noqa: F401  (the profiles fixture)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CASE = "seed-002-to-talus-to-tibia"


def _result(prefix: str) -> PatientResult:
    pid = f"{prefix}seed-002-text"
    report, study = f"DiagnosticReport/{pid}-mri-2-report", f"ImagingStudy/{pid}-mri-2"
    quote = "No bone marrow edema in the right talus"
    findings = (
        ImagingFinding(
            report,
            "bone_marrow_edema",
            False,
            Site("talus", "right"),
            date(2021, 10, 7),
            "MR",
            study,
            TextEvidence("DiagnosticReport.presentedForm[0]", 10, 10 + len(quote), quote, "negated", "en", "findings"),
        ),
        ImagingFinding(
            report,
            "bone_marrow_edema",
            True,
            Site("distal_tibia", "right"),
            date(2021, 10, 7),
            "MR",
            study,
            TextEvidence(
                "DiagnosticReport.conclusion",
                9,
                52,
                "bone marrow edema in the right distal tibia",
                "affirmed",
                "en",
                "impression",
            ),
        ),
    )
    record = PatientRecord(
        patient=PatientInfo(f"Patient/{pid}", date(1970, 2, 11), "male"),
        findings=findings,
        sources=(SourceRef(report, "1"), SourceRef(study, "1")),
    )
    analysis = analyse(record, NOW)
    return PatientResult(analysis, render_outputs(analysis, write_findings=True), summarize(analysis))


def test_written_findings_validate_are_not_reread_and_rerun_without_duplicates(
    profiles: Target,  # noqa: F811
    client: FhirClient,
) -> None:
    bundle = rewrite_ids(load_bundle(CASE, text=True), profiles.prefix)
    profiles.load(client, bundle)
    pid = f"{profiles.prefix}seed-002-text"
    result = _result(profiles.prefix)
    assert len(result.outputs.findings) == 2

    first = write_back(client, RawPatient(pid, ()), result, extra_tags=(TEST_TAG,))
    assert first.skipped is None
    stored = list(
        client.search(
            "Observation", {"subject": f"Patient/{pid}", "_tag": f"{ids.BASE}/CodeSystem/output-kind|text-finding"}
        )
    )
    assert sorted(o["identifier"][0]["value"] for o in stored) == sorted(
        o["identifier"][0]["value"] for o in result.outputs.findings
    )
    if profiles.external:
        profiles.created += [f"Observation/{o['id']}" for o in stored]
    errors: list[str] = []
    with profiles.http() as http:
        for obs in stored:
            errors += _validate(http, obs, ids.profile_url("imaging-finding"), "text finding")
            errors += _validate(http, obs, None, "text finding")
    assert not errors, "\n".join(errors)

    raw = fetch_patient(client, pid)
    assert not [
        r
        for r in raw.resources
        if r["resourceType"] == "Observation"
        and r.get("identifier")
        and r["identifier"][0]["system"] == FINDING_IDENTIFIER_SYSTEM
    ]

    versions = {o["id"]: o["meta"]["versionId"] for o in stored}
    again = write_back(client, raw, _result(profiles.prefix), extra_tags=(TEST_TAG,))
    assert again.skipped == "same-content"
    # Forced through (the server's outputs read as absent): conditional updates hit the same resources.
    forced = write_back(client, RawPatient(pid, (), existing=()), _result(profiles.prefix), extra_tags=(TEST_TAG,))
    assert forced.skipped is None
    after = list(
        client.search(
            "Observation",
            {"identifier": f"{FINDING_IDENTIFIER_SYSTEM}|{result.outputs.findings[0]['identifier'][0]['value']}"},
        )
    )
    assert len(after) == 1
    assert after[0]["id"] in versions
