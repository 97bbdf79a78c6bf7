"""Contradictory facts end to end (issue 10 §Bad input): a man recorded postpartum or pregnant, a pregnancy at 80,
a birth date after the study. Each becomes a data-quality issue naming the resource and the element; the
analysis goes on without the implausible fact, and nothing else is lost."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bmefhir.pipeline import process_patient

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "synth-pregnancy-transient-osteoporosis.json"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
MATERNAL_REFS = {"Observation/synth-preg-pregnancy-status", "Observation/synth-preg-postpartum-1"}


def _resources() -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(EXAMPLE.read_text(encoding="utf-8"))["entry"]]


def _with_patient(**changes: str) -> list[dict[str, Any]]:
    res = copy.deepcopy(_resources())
    next(r for r in res if r["resourceType"] == "Patient").update(changes)
    return res


def _summary(res: list[dict[str, Any]]) -> dict[str, Any]:
    return process_patient(res, NOW).summary


def _criteria(summary: dict[str, Any]) -> set[str]:
    return {e["criterion"] for r in summary["ranking"] for e in r["explanation"]}


def test_the_example_is_consistent_and_uses_the_pregnancy() -> None:
    base = _summary(_resources())
    assert not [d for d in base["data_quality"] if d["severity"] in ("error", "warning")]
    assert "TO-LATE-PREGNANCY-HIP" in _criteria(base)
    assert "pregnancy_late_or_postpartum" in base["risk_factors"]


def test_a_man_recorded_pregnant_and_postpartum_is_flagged_per_resource_and_the_record_is_not_trusted() -> None:
    summary = _summary(_with_patient(gender="male"))
    issues = [d for d in summary["data_quality"] if "contradicts the recorded sex" in d["message"]]
    assert {d["resource"] for d in issues} >= MATERNAL_REFS
    assert all(d["severity"] == "warning" and d["element"] for d in issues)
    assert "TO-LATE-PREGNANCY-HIP" not in _criteria(summary)  # the implausible fact is not used
    assert "pregnancy_late_or_postpartum" not in summary["risk_factors"]
    assert summary["ranking"]  # the rest of the analysis goes on
    assert summary["timeline"]
    withheld = {r["contraindication"] for w in summary["withheld"] for r in w["reasons"]}
    assert "CI-BISPHOSPHONATE-PREGNANCY" in withheld  # until the record is checked, treatments stay withheld


def test_a_pregnancy_at_80_is_flagged_and_not_used() -> None:
    summary = _summary(_with_patient(birthDate="1944-01-15"))
    issues = [d for d in summary["data_quality"] if "implausible at the age" in d["message"]]
    assert {d["resource"] for d in issues} >= MATERNAL_REFS
    assert "TO-LATE-PREGNANCY-HIP" not in _criteria(summary)
    assert summary["ranking"][0]["probability"] < 1.0


def test_a_birth_date_after_the_study_is_flagged_and_age_is_not_used() -> None:
    summary = _summary(_with_patient(birthDate="2024-05-01"))
    issues = [d for d in summary["data_quality"] if d["element"] == "Patient.birthDate"]
    assert [d["resource"] for d in issues] == ["Patient/synth-preg"]
    assert "birth date is after" in issues[0]["message"]
    criteria = _criteria(summary)
    assert not {c for c in criteria if c.startswith(("PED-", "AGE-"))}  # no age, so no age criterion
    assert "TO-LATE-PREGNANCY-HIP" in criteria  # the rest of the record is still used
    assert summary["ranking"][0]["code"] == "transient_osteoporosis"
