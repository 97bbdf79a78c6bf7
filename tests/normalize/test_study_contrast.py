"""A contrast MRI known only from the ImagingStudy description counts as a contrast MRI on record."""

from __future__ import annotations

from datetime import date

import pytest

from bmefhir.derive import derive
from bmefhir.differential.engine import run_differential
from bmefhir.normalize import build_record

from .resources import PATIENT, finding, study

TODAY = date(2024, 6, 1)


@pytest.mark.parametrize(
    ("description", "modality", "contrast"),
    [
        ("MRI right knee with contrast", "MR", True),
        ("MR knee with and without contrast", "MR", True),
        ("Post-contrast T1 fat sat", "MR", True),
        ("Gadolinium-enhanced MRI", "MR", True),
        ("MRI knee without contrast", "MR", False),
        ("CT with contrast", "CT", False),  # a contrast CT is not the contrast MRI the step asks for
        (None, "MR", False),
    ],
)
def test_contrast_is_read_from_the_study_description(description: str | None, modality: str, contrast: bool) -> None:
    res = study("s1", modality)
    if description is not None:
        res["description"] = description
    [info] = build_record([PATIENT, res]).studies
    assert info.contrast is contrast


def test_a_contrast_study_is_a_contrast_mri_on_record_and_not_proposed_again() -> None:
    res = study("s1")
    res["series"][0]["description"] = "AX T1 FS"
    res["description"] = "MRI knee post-contrast"
    lesion = finding("f1", "lytic_lesion", derivedFrom=[{"reference": "ImagingStudy/s1"}])
    bme = finding("f2", "bone_marrow_edema", derivedFrom=[{"reference": "ImagingStudy/s1"}])
    derived = derive(build_record([PATIENT, res, lesion, bme]), TODAY)
    assert derived.facts["contrast_mri_done"].evidence == ("ImagingStudy/s1",)
    assert "NS-CONTRAST-MRI" not in {s.id for s in run_differential(derived).next_steps}
    plain = study("s1")
    without = derive(build_record([PATIENT, plain, lesion, bme]), TODAY)
    assert "contrast_mri_done" not in without.facts
    assert "NS-CONTRAST-MRI" in {s.id for s in run_differential(without).next_steps}
