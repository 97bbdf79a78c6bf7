"""The runner: one patient's failure never ends a run, and logs never name the patient."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bmefhir.fhir.raw import RawPatient
from bmefhir.privacy import pseudonym
from bmefhir.runner import run
from bmefhir.synth import synth_patient


def _raw(index: int) -> RawPatient:
    resources = synth_patient(index, resources=12)
    return RawPatient(patient_id=resources[0]["id"], resources=tuple(resources), issues=())


def test_internal_error_is_reported_and_logged_without_the_patient_id(caplog: pytest.LogCaptureFixture) -> None:
    raw = _raw(1)
    naive_now = datetime(2026, 1, 1)
    with caplog.at_level(logging.ERROR):
        report = run([raw], naive_now)
    assert [f.patient_id for f in report.failures] == [raw.patient_id]
    assert "internal error (ValueError)" in report.failures[0].reason
    assert raw.patient_id not in caplog.text
    assert pseudonym(raw.patient_id) in caplog.text


def test_the_rest_of_the_run_continues() -> None:
    report = run([_raw(i) for i in range(3)], datetime(2026, 1, 1, tzinfo=UTC))
    assert report.analysed == 3
    assert report.ok
