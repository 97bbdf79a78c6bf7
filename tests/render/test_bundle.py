"""Output bundles: conditional updates on business identifiers, stable ids, valid R4."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fhir.resources.R4B.bundle import Bundle

from bmefhir import __version__
from bmefhir.pipeline import analyse
from bmefhir.record import ImagingFinding, PatientInfo, PatientRecord, Site, SourceRef
from bmefhir.render import ids
from bmefhir.render.bundle import collection_bundle, render_outputs, transaction_bundle
from bmefhir.render.signature import Signature

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _record(pid: str = "p1") -> PatientRecord:
    finding = ImagingFinding(
        ref="Observation/f1",
        concept="bone_marrow_edema",
        present=True,
        site=Site("femoral_head", "right"),
        date=date(2026, 9, 1),
        modality="MR",
    )
    return PatientRecord(
        patient=PatientInfo(ref=f"Patient/{pid}", birth_date=date(1980, 1, 1), sex="male"),
        findings=(finding,),
        sources=(SourceRef("Observation/f1", "3"), SourceRef(f"Patient/{pid}", "1")),
    )


def test_transaction_uses_conditional_update_on_identifiers() -> None:
    tx = transaction_bundle(render_outputs(analyse(_record(), NOW)))
    Bundle.model_validate(tx)
    assert tx["type"] == "transaction"
    urls = [e["request"]["url"] for e in tx["entry"]]
    assert f"DiagnosticReport?identifier={ids.ASSESSMENT_SYSTEM}|p1/diagnostic-report" in urls
    assert f"ClinicalImpression?identifier={ids.ASSESSMENT_SYSTEM}|p1/clinical-impression" in urls
    assert f"RiskAssessment?identifier={ids.ASSESSMENT_SYSTEM}|p1/risk-assessment" in urls
    outputs = [e for e in tx["entry"] if e["resource"]["resourceType"] != "Device"]
    assert all(e["request"]["method"] == "PUT" for e in outputs)
    # The shared Device is created once and never updated: parallel writers must not contend on it.
    (dev,) = [e for e in tx["entry"] if e["resource"]["resourceType"] == "Device"]
    assert dev["request"] == {
        "method": "POST",
        "url": "Device",
        "ifNoneExist": f"identifier={ids.DEVICE_SYSTEM}|bmefhir/{__version__}",
    }
    # Conditionally updated bodies carry no id (the server's match decides it); Provenance keeps its fixed id.
    for entry in tx["entry"]:
        res = entry["resource"]
        assert ("id" in res) == (res["resourceType"] == "Provenance")


def test_ids_depend_on_patient_only_not_on_run() -> None:
    a = render_outputs(analyse(_record("p1"), NOW))
    b = render_outputs(analyse(_record("p1"), datetime(2027, 1, 1, tzinfo=UTC)))
    c = render_outputs(analyse(_record("p2"), NOW))
    assert a.diagnostic_report["id"] == b.diagnostic_report["id"] != c.diagnostic_report["id"]


def test_provenance_targets_outputs_and_cites_versioned_sources() -> None:
    out = render_outputs(analyse(_record(), NOW))
    targets = {t["reference"] for t in out.provenance["target"]}
    assert targets == {
        f"urn:uuid:{r['id']}" for r in (out.diagnostic_report, out.clinical_impression, out.risk_assessment)
    }
    entities = {e["what"]["reference"] for e in out.provenance["entity"]}
    assert entities == {"Observation/f1/_history/3", "Patient/p1/_history/1"}
    assert out.provenance["agent"][0]["who"]["reference"] == f"urn:uuid:{out.device['id']}"


def test_signature_makes_outputs_final_and_names_the_clinician() -> None:
    sig = Signature("Practitioner/dr1", "Dr One", comment="Agree; follow-up MRI booked")
    out = render_outputs(analyse(_record(), NOW), signature=sig)
    assert out.diagnostic_report["status"] == "final"
    assert out.diagnostic_report["performer"][0]["reference"] == "Practitioner/dr1"
    assert out.clinical_impression["status"] == "completed"
    assert out.risk_assessment["status"] == "final"
    assert {a["who"]["reference"] for a in out.provenance["agent"]} >= {"Practitioner/dr1"}
    assert "follow-up MRI booked" in out.diagnostic_report["conclusion"]
    Bundle.model_validate(transaction_bundle(out))


def test_narrative_escapes_input_text() -> None:
    sig = Signature("Practitioner/dr1", comment="<script>alert(1)</script>")
    out = render_outputs(analyse(_record(), NOW), signature=sig)
    assert "<script>" not in out.diagnostic_report["text"]["div"]
    Bundle.model_validate(collection_bundle(out))


def test_probabilities_sum_to_one_and_qualitative_risk_matches() -> None:
    out = render_outputs(analyse(_record(), NOW))
    preds = out.risk_assessment["prediction"]
    assert abs(sum(p["probabilityDecimal"] for p in preds) - 1.0) < 0.01
    for p in preds:
        code = p["qualitativeRisk"]["coding"][0]["code"]
        prob = p["probabilityDecimal"]
        assert code == (
            "high" if prob >= 0.5 else "moderate" if prob >= 0.2 else "low" if prob >= 0.05 else "negligible"
        )
