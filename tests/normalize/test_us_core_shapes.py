"""US Core shapes the differential needs: MedicationRequest orders, Condition categories and statuses,
Observation categories and statuses — each read path, and bad input named by resource and element."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bmefhir.normalize import build_record

from .resources import CAT, LOINC, PATIENT, UCUM, cc

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


def issue(record: Any, ref: str, element: str) -> Any:
    found = [i for i in record.issues if i.resource == ref and i.element == element]
    assert found, f"no issue on {ref} {element}: {[(i.resource, i.element, i.message) for i in record.issues]}"
    return found[0]


def order(**extra: Any) -> dict[str, Any]:
    """A US Core MedicationRequest for prednisone 10 mg once daily, with no dates unless given."""
    return {
        "resourceType": "MedicationRequest",
        "id": "rx1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "requester": {"display": "Dr A"},
        "medicationCodeableConcept": cc(RXNORM, "8640", "prednisone"),
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg", "system": UCUM, "code": "mg"}}],
            }
        ],
    } | extra


def bounds(start: str, end: str | None = None) -> list[dict[str, Any]]:
    period = {"start": start} | ({"end": end} if end else {})
    return [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "boundsPeriod": period}}}]


# --- MedicationRequest: which orders count ------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "completed", "stopped", "on-hold"])
def test_orders_that_were_given_count(status: str) -> None:
    r = build_record([PATIENT, order(status=status, authoredOn="2024-01-05")])
    (m,) = r.medications
    assert (m.concept, m.drug, m.status, m.start, m.daily_dose_mg) == (
        "glucocorticoid",
        "prednisone",
        status,
        date(2024, 1, 5),
        10.0,
    )


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "draft"])
def test_withdrawn_orders_are_not_exposures(status: str) -> None:
    r = build_record([PATIENT, order(status=status, authoredOn="2024-01-05")])
    assert r.medications == ()
    assert issue(r, "MedicationRequest/rx1", "MedicationRequest.status").severity == "information"


def test_a_status_outside_the_value_set_is_a_warning_and_read_as_unknown() -> None:
    r = build_record([PATIENT, order(status="paused-ish", authoredOn="2024-01-05")])
    (m,) = r.medications
    assert m.status == "unknown"  # not None: derive would read a dateless course with no status as ongoing
    i = issue(r, "MedicationRequest/rx1", "MedicationRequest.status")
    assert (i.severity, i.code) == ("warning", "code-invalid")
    assert "paused-ish" not in i.message  # input values are never echoed


@pytest.mark.parametrize("intent", ["order", "original-order", "filler-order", "instance-order", "plan"])
def test_orders_and_plans_count(intent: str) -> None:
    assert len(build_record([PATIENT, order(intent=intent, authoredOn="2024-01-05")]).medications) == 1


@pytest.mark.parametrize("intent", ["proposal", "option"])
def test_proposals_and_options_are_not_exposures(intent: str) -> None:
    r = build_record([PATIENT, order(intent=intent, authoredOn="2024-01-05")])
    assert r.medications == ()
    assert "suggestion" in issue(r, "MedicationRequest/rx1", "MedicationRequest.intent").message


def test_unknown_intent_is_a_warning_and_read_as_an_order() -> None:
    r = build_record([PATIENT, order(intent="wish", authoredOn="2024-01-05")])
    assert len(r.medications) == 1
    assert issue(r, "MedicationRequest/rx1", "MedicationRequest.intent").severity == "warning"


def test_do_not_perform_is_not_an_exposure() -> None:
    r = build_record([PATIENT, order(doNotPerform=True, authoredOn="2024-01-05")])
    assert r.medications == ()
    assert issue(r, "MedicationRequest/rx1", "MedicationRequest.doNotPerform").severity == "information"


# --- MedicationRequest: the exposure period -----------------------------------------------------


def test_dosage_bounds_give_the_period() -> None:
    req = order(
        authoredOn="2023-12-20",
        dosageInstruction=bounds("2024-01-01", "2024-03-31"),
        dispenseRequest={"validityPeriod": {"start": "2023-12-20", "end": "2024-12-20"}},
    )
    (m,) = build_record([PATIENT, req]).medications
    assert (m.start, m.end) == (date(2024, 1, 1), date(2024, 3, 31))


def test_days_supply_times_fills_gives_the_end_when_there_are_no_bounds() -> None:
    req = order(
        authoredOn="2023-12-20",
        dispenseRequest={
            "validityPeriod": {"start": "2024-01-01", "end": "2024-12-31"},
            "numberOfRepeatsAllowed": 2,
            "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"},
        },
    )
    (m,) = build_record([PATIENT, req]).medications
    # 3 fills of 30 days from the start of validity: the last covered day is day 90 (inclusive end).
    assert (m.start, m.end) == (date(2024, 1, 1), date(2024, 3, 30))


def test_bounds_duration_from_the_bounds_start_or_order_date() -> None:
    dosage = [{"timing": {"repeat": {"boundsDuration": {"value": 2, "unit": "wk", "system": UCUM, "code": "wk"}}}}]
    (m,) = build_record([PATIENT, order(authoredOn="2024-02-01", dosageInstruction=dosage)]).medications
    assert (m.start, m.end) == (date(2024, 2, 1), date(2024, 2, 14))


def test_validity_period_end_is_the_last_resort_end_and_says_so() -> None:
    req = order(dispenseRequest={"validityPeriod": {"start": "2024-01-01", "end": "2024-06-30"}})
    r = build_record([PATIENT, req])
    (m,) = r.medications
    assert (m.start, m.end) == (date(2024, 1, 1), date(2024, 6, 30))
    assert issue(r, "MedicationRequest/rx1", "MedicationRequest.dispenseRequest").severity == "information"


def test_order_date_only_is_the_start_with_an_unknown_end() -> None:
    r = build_record([PATIENT, order(authoredOn="2024-01-05")])
    (m,) = r.medications
    assert (m.start, m.end) == (date(2024, 1, 5), None)
    assert "order date" in issue(r, "MedicationRequest/rx1", "MedicationRequest.dosageInstruction").message


def test_no_period_at_all_is_a_warning_naming_the_element_and_the_rest_continues() -> None:
    other = order(id="rx2", authoredOn="2024-01-05")
    r = build_record([PATIENT, order(), other])
    assert {m.ref: (m.start, m.end) for m in r.medications} == {
        "MedicationRequest/rx1": (None, None),
        "MedicationRequest/rx2": (date(2024, 1, 5), None),
    }
    i = issue(r, "MedicationRequest/rx1", "MedicationRequest.authoredOn")
    assert (i.severity, i.code) == ("warning", "incomplete")


def test_bad_dates_and_a_supply_in_an_unknown_unit_are_named() -> None:
    req = order(
        authoredOn="2024-01-05",
        dosageInstruction=bounds("not-a-date"),
        dispenseRequest={"expectedSupplyDuration": {"value": 30, "unit": "fortnights"}},
    )
    r = build_record([PATIENT, req])
    (m,) = r.medications
    assert (m.start, m.end) == (date(2024, 1, 5), None)
    element = "MedicationRequest.dosageInstruction[0].timing.repeat.boundsPeriod.start"
    assert issue(r, "MedicationRequest/rx1", element).code == "value"
    assert issue(r, "MedicationRequest/rx1", "MedicationRequest.dispenseRequest.expectedSupplyDuration")


# --- Condition: categories, verification and clinical status ------------------------------------


def condition(rid: str = "c1", code: str = "M06.9", **extra: Any) -> dict[str, Any]:
    """A US Core problem-list Condition (rheumatoid arthritis), confirmed and active."""
    return {
        "resourceType": "Condition",
        "id": rid,
        "category": [cc(CATEGORY, "problem-list-item")],
        "clinicalStatus": cc(CLINICAL, "active"),
        "verificationStatus": cc(VERIFICATION, "confirmed"),
        "code": cc(ICD10CM, code),
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2020-05-01",
    } | extra


def test_confirmed_problem_list_item_is_certain() -> None:
    (c,) = build_record([PATIENT, condition()]).conditions
    assert (c.concept, c.active, c.onset, c.uncertain) == ("rheumatoid_arthritis", True, date(2020, 5, 1), False)


@pytest.mark.parametrize("status", ["unconfirmed", "provisional", "differential"])
def test_unconfirmed_diagnoses_are_used_as_uncertain(status: str) -> None:
    r = build_record([PATIENT, condition(verificationStatus=cc(VERIFICATION, status))])
    (c,) = r.conditions
    assert c.uncertain
    assert "uncertain" in issue(r, "Condition/c1", "Condition.verificationStatus").message


@pytest.mark.parametrize("status", ["refuted", "entered-in-error"])
def test_refuted_and_erroneous_diagnoses_are_not_used(status: str) -> None:
    r = build_record([PATIENT, condition(verificationStatus=cc(VERIFICATION, status))])
    assert r.conditions == ()
    assert issue(r, "Condition/c1", "Condition.verificationStatus").severity == "information"


def test_unknown_verification_code_is_a_warning_and_uncertain() -> None:
    r = build_record([PATIENT, condition(verificationStatus=cc(VERIFICATION, "probably"))])
    assert r.conditions[0].uncertain
    assert issue(r, "Condition/c1", "Condition.verificationStatus").severity == "warning"


def test_health_concern_without_verification_is_uncertain_and_with_it_certain() -> None:
    concern = condition(category=[cc("http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern")])
    del concern["verificationStatus"]
    r = build_record([PATIENT, concern])
    assert r.conditions[0].uncertain
    assert issue(r, "Condition/c1", "Condition.category").severity == "information"
    confirmed = concern | {"verificationStatus": cc(VERIFICATION, "confirmed")}
    assert not build_record([PATIENT, confirmed]).conditions[0].uncertain


def test_encounter_diagnosis_without_onset_takes_recorded_date_then_encounter_start() -> None:
    recorded = condition(category=[cc(CATEGORY, "encounter-diagnosis")], recordedDate="2023-04-02")
    del recorded["onsetDateTime"]
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2023-06-07T09:00:00Z"},
    }
    at_visit = condition("c2", encounter={"reference": "Encounter/e1"}, category=[cc(CATEGORY, "encounter-diagnosis")])
    del at_visit["onsetDateTime"]
    r = build_record([PATIENT, recorded, at_visit, encounter])
    assert {c.ref: c.onset for c in r.conditions} == {
        "Condition/c1": date(2023, 4, 2),
        "Condition/c2": date(2023, 6, 7),
    }
    assert "recorded date" in issue(r, "Condition/c1", "Condition.onset[x]").message
    assert "encounter" in issue(r, "Condition/c2", "Condition.onset[x]").message


def test_resolved_is_history_with_its_dates_and_without_an_end_says_so() -> None:
    resolved = condition(clinicalStatus=cc(CLINICAL, "resolved"), abatementDateTime="2021-02-01")
    undated = condition("c2", clinicalStatus=cc(CLINICAL, "inactive"))
    r = build_record([PATIENT, resolved, undated])
    by_ref = {c.ref: (c.active, c.onset, c.abatement) for c in r.conditions}
    assert by_ref == {
        "Condition/c1": (False, date(2020, 5, 1), date(2021, 2, 1)),
        "Condition/c2": (False, date(2020, 5, 1), None),
    }
    assert not [i for i in r.issues if i.resource == "Condition/c1"]
    assert "ended is unknown" in issue(r, "Condition/c2", "Condition.abatement[x]").message


def test_unknown_clinical_status_code_is_a_warning_and_read_from_abatement() -> None:
    r = build_record([PATIENT, condition(clinicalStatus=cc(CLINICAL, "smouldering"), abatementDateTime="2022-01-01")])
    assert r.conditions[0].active is False
    i = issue(r, "Condition/c1", "Condition.clinicalStatus")
    assert (i.severity, i.code) == ("warning", "code-invalid")
    assert "smouldering" not in i.message


# --- Observation: categories and status ---------------------------------------------------------


def observation(rid: str, category: str, code: str, value: float, unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [cc(CAT, category)],
        "code": cc(LOINC, code),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-01T09:30:00Z",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    } | extra


def test_vital_signs_body_temperature_is_read_and_other_vitals_are_reported_not_used() -> None:
    temp = observation("t1", "vital-signs", "8310-5", 38.6, "Cel")
    heart = observation("h1", "vital-signs", "8867-4", 72, "/min")
    r = build_record([PATIENT, temp, heart])
    (o,) = r.observations
    assert (o.concept, o.value, o.unit, o.date) == ("body_temperature", 38.6, "Cel", date(2024, 3, 1))
    i = issue(r, "Observation/h1", "Observation.code")
    assert (i.severity, i.code, i.message) == ("information", "informational", "vital sign not used by bmefhir")


def test_laboratory_category_reads_the_lab_and_an_unknown_lab_is_reported() -> None:
    crp = observation("l1", "laboratory", "1988-5", 12, "mg/L")
    glucose = observation("l2", "laboratory", "2345-7", 88, "mg/dL")
    r = build_record([PATIENT, crp, glucose])
    assert [(lab.concept, lab.value) for lab in r.labs] == [("crp", 12.0)]
    assert issue(r, "Observation/l2", "Observation.code").code == "code-invalid"


def test_observation_status_outside_the_value_set_is_named_and_the_value_still_read() -> None:
    r = build_record([PATIENT, observation("l1", "laboratory", "1988-5", 12, "mg/L", status="done")])
    assert [lab.value for lab in r.labs] == [12.0]
    i = issue(r, "Observation/l1", "Observation.status")
    assert (i.severity, i.code) == ("warning", "code-invalid")


def test_implausibly_long_supply_or_refills_are_named_and_do_not_overflow() -> None:
    huge_supply = order(
        dispenseRequest={
            "validityPeriod": {"start": "2024-01-01", "end": "2024-12-31"},
            "expectedSupplyDuration": {"value": 1e300, "unit": "d", "system": UCUM, "code": "d"},
        }
    )
    huge_refills = order(
        id="rx2",
        dispenseRequest={
            "validityPeriod": {"start": "2024-01-01"},
            "numberOfRepeatsAllowed": 10**12,
            "expectedSupplyDuration": {"value": 30, "unit": "d", "system": UCUM, "code": "d"},
        },
    )
    late = order(id="rx3", dosageInstruction=[{"timing": {"repeat": {"boundsDuration": {"value": 99, "code": "a"}}}}])
    late["authoredOn"] = "2199-06-01"
    r = build_record([PATIENT, huge_supply, huge_refills, late])
    assert {m.ref: (m.start, m.end) for m in r.medications} == {
        "MedicationRequest/rx1": (date(2024, 1, 1), date(2024, 12, 31)),  # the validity end instead
        "MedicationRequest/rx2": (date(2024, 1, 1), None),
        "MedicationRequest/rx3": (date(2199, 6, 1), None),  # past the last plausible date: unknown
    }
    element = "MedicationRequest.dispenseRequest.expectedSupplyDuration"
    assert issue(r, "MedicationRequest/rx1", element).severity == "warning"
    assert issue(r, "MedicationRequest/rx2", "MedicationRequest.dispenseRequest.numberOfRepeatsAllowed")
