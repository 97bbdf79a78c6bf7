"""Histology / biopsy results are read from a pathology DiagnosticReport or an Observation and are decisive."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bmefhir.normalize import build_record
from bmefhir.pipeline import analyse
from tests.normalize.resources import FINDING, cc, finding

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-04-02", "gender": "male"}
# A TO-like MRI (diffuse hip BME, no subchondral change) that histology then overrules.
MRI = [
    finding("bme1", "bone_marrow_edema", when="2024-05-01"),
    finding("sub1", "subchondral_low_signal_band", present=False, when="2024-05-01"),
]


def pathology_report(concept: str) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport", "id": "path1", "status": "final",
        "category": [cc("http://terminology.hl7.org/CodeSystem/v2-0074", "SP")],
        "code": {"text": "Bone biopsy"}, "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-05-20", "conclusionCode": [cc(FINDING, concept)],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("concept", "top"),
    [
        ("histology_malignancy", "neoplasm"),
        ("histology_osteonecrosis", "osteonecrosis"),
        ("histology_osteomyelitis", "infection"),
        ("histology_fracture", "subchondral_insufficiency_fracture"),
    ],
)
def test_a_pathology_report_is_decisive(concept: str, top: str) -> None:
    analysis = analyse(build_record([PATIENT, *MRI, pathology_report(concept)]), NOW)
    assert analysis.derived.facts[concept].value is True
    assert analysis.derived.facts[concept].evidence == ("DiagnosticReport/path1",)
    assert analysis.differential.ranking[0].code == top
    without = analyse(build_record([PATIENT, *MRI]), NOW).differential.ranking[0].code
    assert without != top  # the MRI alone pointed elsewhere


def test_a_histology_observation_counts_too_and_without_imaging() -> None:
    obs = finding("h1", "histology_malignancy", when="2024-05-20") | {"category": []}
    analysis = analyse(build_record([PATIENT, obs]), NOW)
    assert not analysis.differential.insufficient_data
    assert analysis.differential.ranking[0].code == "neoplasm"
    assert "HIST-MALIGNANCY" in {f.criterion_id for f in analysis.differential.red_flags}


def test_edema_only_histology_excludes_tumour_and_necrosis() -> None:
    analysis = analyse(build_record([PATIENT, *MRI, pathology_report("histology_marrow_edema")]), NOW)
    scores = {r.code: r.score for r in analysis.differential.ranking}
    base = {r.code: r.score for r in analyse(build_record([PATIENT, *MRI]), NOW).differential.ranking}
    assert scores["neoplasm"] < base["neoplasm"]
    assert scores["osteonecrosis"] < base["osteonecrosis"]
    assert scores["transient_osteoporosis"] > base["transient_osteoporosis"]


def test_a_pathology_reports_text_is_not_read_as_imaging_findings() -> None:
    # The pathologist's words ("fracture line", "no osteonecrosis") are not a radiology report: only the
    # conclusion codes count (docs/input-conventions.md). Before, the conclusion text became findings.
    report = pathology_report("histology_fracture") | {
        "conclusion": "Subchondral fracture line on section; no osteonecrosis."
    }
    record = build_record([PATIENT, *MRI, report])
    from_report = [f for f in record.findings if f.ref == "DiagnosticReport/path1"]
    assert [(f.concept, f.present, f.text) for f in from_report] == [("histology_fracture", True, None)]


def test_a_malignancy_on_histology_is_not_worked_up_again() -> None:
    """The work-up and the contrast MRI that would guide a biopsy are for a lesion not yet diagnosed; once
    histology shows a malignancy, its red flag refers to oncology instead (seed 000 §Neoplasms)."""
    lytic = [*MRI, finding("lyt1", "lytic_lesion", when="2024-05-01")]
    before = analyse(build_record([PATIENT, *lytic]), NOW).differential
    after = analyse(build_record([PATIENT, *lytic, pathology_report("histology_malignancy")]), NOW).differential
    assert {"NS-ONCOLOGY-WORKUP", "NS-CONTRAST-MRI"} <= {s.id for s in before.next_steps}
    assert not {"NS-ONCOLOGY-WORKUP", "NS-CONTRAST-MRI"} & {s.id for s in after.next_steps}
    assert "HIST-MALIGNANCY" in {f.criterion_id for f in after.red_flags}
