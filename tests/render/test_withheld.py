"""The tester's case end to end: a woman in the third trimester is not offered a bisphosphonate or an NSAID,
and every output says what was withheld and why (JSON summary, ClinicalImpression note, CDS card)."""

from __future__ import annotations

from datetime import UTC, datetime

from bmefhir.fhir.files import read_bundle
from bmefhir.pipeline import PatientResult, process_patient
from bmefhir.render.cards import cds_cards
from bmefhir.testing.examples import examples_dir

# synth-preg: pregnancy status "Pregnant" and 33 weeks on 2024-02-12, hip BME on 2024-02-14; analysed during
# the pregnancy (the delivery and the follow-up MRI are later and not yet known).
DURING_PREGNANCY = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _result() -> PatientResult:
    (raw,) = list(read_bundle(examples_dir() / "synth-pregnancy-transient-osteoporosis.json"))
    return process_patient(raw.resources, DURING_PREGNANCY, patient_id=raw.patient_id, source_issues=raw.issues)


def test_summary_lists_withheld_treatments_with_reasons() -> None:
    result = _result()
    summary = result.summary
    assert summary["ranking"][0]["code"] == "transient_osteoporosis"
    assert summary["ranking"][0]["confidence"].startswith("leading")
    shown = {s["id"] for s in summary["next_steps"]}
    withheld = {w["id"]: w for w in summary["withheld"]}
    assert "NS-BISPHOSPHONATE" not in shown
    assert "NS-NSAID" not in shown
    reasons = {r["contraindication"] for r in withheld["NS-BISPHOSPHONATE"]["reasons"]}
    assert "CI-BISPHOSPHONATE-PREGNANCY" in reasons
    assert "CI-NSAID-PREGNANCY-20-WEEKS" in {r["contraindication"] for r in withheld["NS-NSAID"]["reasons"]}
    assert all(r["citation"] and r["evidence"] for w in summary["withheld"] for r in w["reasons"])


def test_clinical_impression_and_card_show_what_was_withheld() -> None:
    result = _result()
    notes = [n["text"] for n in result.outputs.clinical_impression["note"]]
    assert any(n.startswith("Not suggested (NS-BISPHOSPHONATE") for n in notes)
    detail = "\n".join(c["detail"] for c in cds_cards(result.analysis))
    assert "Not suggested (contraindicated for this patient)" in detail
