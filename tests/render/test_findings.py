"""Findings read from report text, rendered as bmefhir-imaging-finding Observations (--write-findings)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from bmefhir.fhir.existing import is_own_output
from bmefhir.fhir.raw import usable_inputs
from bmefhir.normalize import build_record
from bmefhir.pipeline import analyse
from bmefhir.record import ImagingFinding, PatientInfo, PatientRecord, Site, SourceRef, TextEvidence
from bmefhir.render.bundle import collection_bundle, render_outputs, transaction_bundle
from bmefhir.render.findings import FINDING_IDENTIFIER_SYSTEM, text_findings, writable

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PROFILE = "http://bmefhir.org/fhir/StructureDefinition/bmefhir-imaging-finding"
LATERALITY = "http://bmefhir.org/fhir/StructureDefinition/laterality"
QUOTE = "diffuse bone marrow edema of the right femoral head"
TEXT = f"Findings: There is {QUOTE}. No joint effusion. Subchondral fracture cannot be excluded. No fracture."


def evidence(quote: str, assertion: str = "affirmed", element: str = "DiagnosticReport.conclusion") -> TextEvidence:
    start = TEXT.index(quote)
    return TextEvidence(element, start, start + len(quote), quote, assertion, "en", "findings")  # type: ignore[arg-type]


def record(report: str = "DiagnosticReport/r1") -> PatientRecord:
    day = date(2024, 3, 10)
    study = "ImagingStudy/s1"
    return PatientRecord(
        patient=PatientInfo("Patient/p1", date(1980, 1, 1), "male"),
        findings=(
            ImagingFinding("Observation/coded", "t1_low_signal", True, Site("femoral_head", "right"), day, "MR", study),
            ImagingFinding(
                report, "bone_marrow_edema", True, Site("femoral_head", "right"), day, "MR", study, evidence(QUOTE)
            ),
            ImagingFinding(
                report,
                "joint_effusion",
                False,
                Site("hip", "right"),
                day,
                "MR",
                study,
                evidence("No joint effusion", "negated"),
            ),
            ImagingFinding(
                report,
                "subchondral_fracture_line",
                True,
                Site("femoral_head", "right"),
                day,
                "MR",
                None,
                evidence("Subchondral fracture cannot be excluded", "uncertain"),
            ),
            ImagingFinding(report, "fracture_line", False, None, day, "MR", None, evidence("No fracture", "negated")),
        ),
        sources=(SourceRef("Patient/p1", "1"), SourceRef(report, "2"), SourceRef(study, "1")),
    )


def by_concept(observations: tuple[dict, ...]) -> dict[str, dict]:
    return {o["code"]["coding"][0]["code"]: o for o in observations}


def test_one_valid_profiled_observation_per_text_finding_and_none_for_coded_ones():
    found = by_concept(text_findings(analyse(record(), NOW)))
    # The site-less "No fracture" is used and quoted but not written (the profile needs a bodySite).
    assert sorted(found) == ["bone_marrow_edema", "joint_effusion", "subchondral_fracture_line"]
    for obs in found.values():
        Observation.model_validate(obs)
        assert obs["meta"]["profile"] == [PROFILE]
        assert (obs["status"], obs["category"][0]["coding"][0]["code"]) == ("final", "imaging")
        assert obs["subject"] == {"reference": "Patient/p1"}
        assert obs["effectiveDateTime"] == "2024-03-10"
    bme = found["bone_marrow_edema"]
    assert bme["valueCodeableConcept"]["coding"][0]["code"] == "52101004"
    assert bme["bodySite"]["coding"][0] == {
        "system": "http://bmefhir.org/fhir/CodeSystem/body-structure",
        "code": "femoral_head",
        "display": "Femoral head",
    }
    assert bme["extension"] == [
        {
            "url": LATERALITY,
            "valueCodeableConcept": {
                "coding": [{"system": "http://snomed.info/sct", "code": "24028007", "display": "Right"}]
            },
        }
    ]
    assert bme["partOf"] == [{"reference": "ImagingStudy/s1"}]
    # R4 derivedFrom may not point at a DiagnosticReport: the study stands in, the note names the report.
    assert bme["derivedFrom"] == [{"reference": "ImagingStudy/s1"}]
    assert "DiagnosticReport/r1" in bme["note"][0]["text"]
    assert f'"{QUOTE}"' in bme["note"][0]["text"]
    assert "affirmed" in bme["note"][0]["text"]
    assert found["joint_effusion"]["valueCodeableConcept"]["coding"][0]["code"] == "2667000"
    hedged = found["subchondral_fracture_line"]
    assert "uncertain" in hedged["note"][0]["text"]
    assert "(uncertain)" in hedged["text"]["div"]
    assert "partOf" not in hedged


def test_a_finding_from_a_document_reference_is_derived_from_it():
    (bme, *_) = text_findings(analyse(record("DocumentReference/d1"), NOW))
    assert bme["derivedFrom"] == [{"reference": "DocumentReference/d1"}]


def test_identity_is_content_so_a_rerun_updates_rather_than_duplicates():
    first = text_findings(analyse(record(), NOW))
    again = text_findings(analyse(record(), datetime(2027, 1, 1, tzinfo=UTC)))
    assert [o["id"] for o in first] == [o["id"] for o in again]
    assert first == again
    values = [o["identifier"][0]["value"] for o in first]
    assert values[0] == "DiagnosticReport/r1/bone_marrow_edema/femoral_head/right"
    assert len(set(values)) == len(values)
    assert {o["identifier"][0]["system"] for o in first} == {FINDING_IDENTIFIER_SYSTEM}
    other = text_findings(analyse(record("DiagnosticReport/r2"), NOW))
    assert not {o["id"] for o in other} & {o["id"] for o in first}


def test_outputs_carry_them_only_when_asked_with_provenance_and_conditional_updates():
    analysis = analyse(record(), NOW)
    plain, with_findings = render_outputs(analysis), render_outputs(analysis, write_findings=True)
    assert plain.findings == ()
    assert len(with_findings.findings) == 3
    assert plain.content_hash != with_findings.content_hash  # a run that adds them is not "unchanged"
    targets = {t["reference"] for t in with_findings.provenance["target"]}
    assert {f"urn:uuid:{o['id']}" for o in with_findings.findings} <= targets
    tx = transaction_bundle(with_findings)
    Bundle.model_validate(tx)
    Bundle.model_validate(collection_bundle(with_findings))
    obs_entries = [e for e in tx["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert [e["request"] for e in obs_entries] == [
        {"method": "PUT", "url": f"Observation?identifier={FINDING_IDENTIFIER_SYSTEM}|{o['identifier'][0]['value']}"}
        for o in with_findings.findings
    ]
    assert [e["resource"]["resourceType"] for e in tx["entry"]][-1] == "Provenance"


def test_written_findings_are_never_read_back_as_input():
    observations = list(text_findings(analyse(record(), NOW)))
    assert all(is_own_output(o) for o in observations)
    patient = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1980-01-01"}
    kept, _ = usable_inputs([patient, *observations])
    assert kept == [patient]
    # A clinician's own profiled finding is still input: the profile alone does not make it ours.
    theirs = {k: v for k, v in observations[0].items() if k not in ("identifier", "id")} | {"id": "theirs"}
    assert not is_own_output(theirs)
    assert len(build_record([patient, theirs]).findings) == 1


def test_a_finding_without_a_site_is_not_written_back() -> None:
    rec = record()
    unsited = [f for f in rec.findings if f.text is not None and f.site is None]
    assert [f.concept for f in unsited] == ["fracture_line"]
    assert not any(writable(f) for f in unsited)
    written = text_findings(analyse(rec, NOW))
    assert all(o["bodySite"]["coding"] for o in written)
    assert "fracture_line" not in by_concept(written)
