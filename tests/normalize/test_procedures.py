"""A Procedure that leaves a risk factor (splenectomy → asplenia → infection risk) is read; others are reported."""

from __future__ import annotations

from datetime import date
from typing import Any

from bmefhir.derive import derive
from bmefhir.normalize import build_record

from .resources import PATIENT, SCT, cc

TODAY = date(2024, 6, 1)


def procedure(rid: str, code: dict[str, Any], status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": status,
        "code": code,
        "subject": {"reference": "Patient/p1"},
    } | extra


def issues_for(record: Any, ref: str) -> list[Any]:
    return [i for i in record.issues if i.resource == ref]


def test_a_splenectomy_procedure_is_asplenia_from_its_date_and_an_infection_risk() -> None:
    res = procedure("spl", cc(SCT, "234319005", "Splenectomy"), performedDateTime="2010-05-04")
    record = build_record([PATIENT, res])
    [entry] = record.conditions
    assert (entry.ref, entry.concept, entry.onset, entry.active) == (
        "Procedure/spl",
        "asplenia",
        date(2010, 5, 4),
        True,
    )
    assert not [i for i in issues_for(record, "Procedure/spl") if i.severity != "information"]
    fact = derive(record, TODAY).facts["immunosuppressed"]
    assert fact.value is True
    assert fact.evidence == ("Procedure/spl",)


def test_a_splenectomy_named_only_in_text_is_read_and_the_missing_code_reported() -> None:
    res = procedure("spl", {"text": "Laparoscopic splenectomy"}, performedPeriod={"start": "2019-02-01"})
    record = build_record([PATIENT, res])
    assert [(c.concept, c.onset) for c in record.conditions] == [("asplenia", date(2019, 2, 1))]
    assert any(
        i.element == "Procedure.code" and "matched by text" in i.message for i in issues_for(record, "Procedure/spl")
    )


def test_a_procedure_not_done_or_without_a_risk_factor_is_reported_and_not_used() -> None:
    planned = procedure("p1", cc(SCT, "234319005"), status="not-done")
    other = procedure("p2", {"text": "Knee arthroscopy"}, performedDateTime="2020-01-01")
    record = build_record([PATIENT, planned, other])
    assert record.conditions == ()
    assert [i.element for i in issues_for(record, "Procedure/p1")] == ["Procedure.status"]
    assert [i.element for i in issues_for(record, "Procedure/p2")] == ["Procedure.code"]


def test_a_splenectomy_without_a_date_is_kept_with_an_unknown_onset() -> None:
    record = build_record([PATIENT, procedure("spl", cc(SCT, "234319005"))])
    assert [(c.concept, c.onset) for c in record.conditions] == [("asplenia", None)]
    assert any(i.element == "Procedure.performed[x]" for i in issues_for(record, "Procedure/spl"))


def test_a_procedure_whose_status_is_an_object_is_reported_and_still_read() -> None:
    """A malformed status (an object) once crashed the reader (an unhashable set look-up): now
    validation names ``Procedure.status`` and the splenectomy is still read."""
    res = procedure("spl", cc(SCT, "234319005", "Splenectomy"), performedDateTime="2010-05-04")
    res["status"] = {"code": "completed"}
    record = build_record([PATIENT, res])
    assert [c.concept for c in record.conditions] == ["asplenia"]
    assert any(i.element == "Procedure.status" and i.severity == "warning" for i in issues_for(record, "Procedure/spl"))
