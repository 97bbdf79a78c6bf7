"""Relevance before validation: irrelevant resources are counted and skipped unvalidated, nothing read is lost.

The proof that skipping loses nothing: the same inputs built with ``skip_irrelevant=False`` (every
resource of a read type validated and read, as before) give the same record items — over the
examples, synthetic patients, and the HL7 R4 example resources of the types bmefhir reads.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bmefhir.fhir.files import read_bundle
from bmefhir.normalize import build_record
from bmefhir.normalize.parse import READ_TYPES
from bmefhir.normalize.relevance import LISTED_PER_TYPE
from bmefhir.pipeline import process_patient
from bmefhir.record import PatientRecord
from bmefhir.synth import synth_patient
from bmefhir.testing.examples import list_examples, list_text_examples, load_bundle
from bmefhir.testing.fuzz import r4_package_dir
from bmefhir.testing.prerequisites import unavailable

from .resources import CAT, FINDING, LOINC, PATIENT, SCT, cc, lab

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOCAL = "urn:oid:1.2.3.4.5"
_NOW = datetime(2026, 1, 1, tzinfo=UTC)


def issues_for(record: PatientRecord, ref: str) -> list[Any]:
    return [i for i in record.issues if i.resource == ref]


def items(record: PatientRecord) -> tuple[Any, ...]:
    """Everything the analysis reads from a record (sources and issues aside)."""
    return (
        record.patient,
        record.labs,
        record.observations,
        record.findings,
        record.studies,
        record.medications,
        record.conditions,
        record.reports,
    )


def vital(rid: str, loinc: str = "8867-4", **extra: Any) -> dict[str, Any]:
    """A heart-rate Observation (US Core vital-signs shape): nothing in it matters to the differential."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [cc(CAT, "vital-signs")],
        "code": cc(LOINC, loinc, "Heart rate"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-01",
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    } | extra


def encounter(rid: str) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": rid, "status": "finished", "subject": {"reference": "Patient/p1"}}


# --- nothing lost -------------------------------------------------------------------------------


def test_examples_and_synthetic_patients_read_the_same_with_and_without_skipping():
    inputs = [[load_bundle(c.name)] for c in list_examples()]
    inputs += [[load_bundle(c.name, text=True)] for c in list_text_examples()]
    inputs += [synth_patient(i, seed=3, resources=40) for i in range(11)]
    for resources in inputs:
        assert items(build_record(resources)) == items(build_record(resources, skip_irrelevant=False))


def _r4_read_type_inputs() -> list[tuple[str, dict[str, Any]]]:
    directory = r4_package_dir()
    if not directory.is_dir():
        unavailable(f"R4 example package not found at {directory}; run scripts/fetch-r4-examples.sh")
    out = []
    for path in sorted(directory.glob("*.json")):
        if path.name.split("-")[0] in READ_TYPES | {"Bundle"}:
            data = json.loads(path.read_text(encoding="utf-8"))
            kinds = {e.get("resource", {}).get("resourceType") for e in data.get("entry", []) if isinstance(e, dict)}
            if data.get("resourceType") in READ_TYPES or kinds & READ_TYPES:
                out.append((path.name, data))
    return out


def test_r4_examples_read_the_same_with_and_without_skipping():
    examples = _r4_read_type_inputs()
    assert len(examples) > 150
    skipped = 0
    for name, resource in examples:
        fast, full = build_record([resource]), build_record([resource], skip_irrelevant=False)
        assert items(fast) == items(full), name
        skipped += sum(i.resource == fast.patient.ref and "not read" in i.message for i in fast.issues)
    assert skipped > 50  # the rule does skip: many examples are vital signs, lab panels, other drugs


# --- skipped, counted, not validated ----------------------------------------------------------


def test_irrelevant_malformed_resource_is_counted_and_skipped_without_validation():
    bad = vital("hr", effectiveDateTime="yesterday", unknownElement=1)
    r = build_record([PATIENT, lab("crp", "1988-5", 12, "mg/L"), bad])
    # Only the note that it is not used: its bad date and unknown element are not validated.
    (issue,) = issues_for(r, "Observation/hr")
    assert (issue.severity, issue.code, issue.element) == ("information", "informational", "Observation.code")
    assert "Observation/hr" in {s.ref for s in r.sources}  # an input, as before; just not validated
    (count,) = [i for i in issues_for(r, "Patient/p1") if i.element == "Observation"]
    assert count.message.startswith("1 Observation resource not read")
    assert [x.ref for x in r.labs] == ["Observation/crp"]


def test_malformed_deciding_element_is_validated_and_named():
    # A code that is a list, not a CodeableConcept: relevance cannot be decided, so it is validated.
    bad = vital("hr") | {"code": [cc(LOINC, "1988-5")]}
    r = build_record([PATIENT, bad])
    assert any(i.element.startswith("Observation.code") and "not valid FHIR" in i.message for i in r.issues)


def test_relevant_malformed_resource_still_yields_the_element_named_issue():
    bad = lab("crp", "1988-5", 12, "mg/L", when="2024-02-30", unknownElement=1)
    r = build_record([PATIENT, bad])
    assert [x.value for x in r.labs] == [12.0]
    elements = {i.element for i in issues_for(r, "Observation/crp")}
    assert {"Observation.effectiveDateTime", "Observation.unknownElement"} <= elements


def test_disguised_relevant_resources_are_still_read():
    """Unusual systems, categories and codes that the keyword fallback or the text reader reads."""
    fever = vital("t") | {
        "code": {"coding": [{"system": LOCAL, "code": "T1"}], "text": "Body temperature (oral)"},
        "valueQuantity": {"value": 39.1, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"},
    }
    avn = {
        "resourceType": "Condition",
        "id": "avn",
        "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "code": {"coding": [{"system": LOCAL, "code": "99"}], "text": "Avascular necrosis of the femoral head"},
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2023-05-01",
    }
    report_text = {
        "resourceType": "Observation",
        "id": "mri-text",
        "status": "final",
        "category": [cc(CAT, "vital-signs")],  # a wrong category: the imaging report code still tells
        "code": cc(LOINC, "18748-4", "Diagnostic imaging study"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-02",
        "valueString": "MRI left hip: diffuse bone marrow edema of the femoral head.",
    }
    lab_report = {
        "resourceType": "DiagnosticReport",
        "id": "dr",
        "status": "final",
        "category": [cc("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB")],
        "code": {"coding": [{"system": LOCAL, "code": "R1"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-02",
        "conclusionCode": [{"text": "bone marrow edema"}],
    }
    steroid = {
        "resourceType": "MedicationRequest",
        "id": "mr",
        "status": "active",
        "intent": "order",
        "contained": [
            {"resourceType": "Medication", "id": "m", "ingredient": [{"itemCodeableConcept": {"text": "prednisone"}}]}
        ],
        "medicationReference": {"reference": "#m"},
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2023-01-01",
    }
    r = build_record([PATIENT, fever, avn, report_text, lab_report, steroid])
    assert [(o.concept, o.value) for o in r.observations] == [("body_temperature", 39.1)]
    assert [c.concept for c in r.conditions] == ["osteonecrosis"]
    assert {f.ref for f in r.findings} >= {"Observation/mri-text", "DiagnosticReport/dr"}
    assert [m.concept for m in r.medications] == ["glucocorticoid"]
    assert not [i for i in r.issues if i.resource == "Patient/p1" and i.element in {"Observation", "Condition"}]


def test_negated_text_is_still_explained():
    """A text naming a concept only in negation is read, so the reader says why it is not used."""
    cond = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": ICD10CM, "code": "Z00.00"}], "text": "No avascular necrosis"},
        "subject": {"reference": "Patient/p1"},
    }
    r = build_record([PATIENT, cond])
    (issue,) = issues_for(r, "Condition/c1")
    assert "only negated" in issue.message


def test_skipped_statuses_keep_their_reason():
    r = build_record([PATIENT, lab("crp", "1988-5", 12, "mg/L", status="entered-in-error")])
    (issue,) = issues_for(r, "Observation/crp")
    assert (issue.element, issue.message) == ("Observation.status", "status entered-in-error; ignored")


def test_unused_medication_is_not_validated():
    other = {"resourceType": "Medication", "id": "m1", "code": cc(SCT, "387207008", "Ibuprofen"), "bogus": 1}
    r = build_record([PATIENT, other])
    assert issues_for(r, "Medication/m1")[0].message.startswith("Medication not used")
    assert len(issues_for(r, "Medication/m1")) == 1


def test_decisions_remembered_per_record_follow_every_deciding_element():
    """Resources alike in their deciding elements are decided once; any difference in them is decided anew."""
    finding_component = {"code": cc(FINDING, "bone_marrow_edema"), "valueBoolean": True}
    heart = [vital(f"hr{k}") for k in range(3)]
    # The same code as the skipped heart rates, but a deciding element differs: each is read or validated.
    with_finding = vital("hr-c") | {"component": [finding_component]}
    bad_status = vital("hr-s") | {"status": {"code": "final"}}
    imaging = vital("hr-i") | {"category": [cc(CAT, "imaging")]}
    prednisone = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2023-01-01",
    }
    by_code = prednisone | {"id": "mr1", "medicationCodeableConcept": {"text": "prednisone 20 mg"}}
    same_code = prednisone | {"id": "mr2", "medicationCodeableConcept": {"text": "prednisone 20 mg"}}
    other_drug = prednisone | {"id": "mr3", "medicationCodeableConcept": {"text": "amlodipine 5 mg"}}
    # By reference: decided each time, as the referenced Medication differs.
    contained = [{"resourceType": "Medication", "id": "m", "code": {"text": "amlodipine"}}]
    by_ref = prednisone | {"id": "mr4", "contained": contained, "medicationReference": {"reference": "#m"}}
    steroid = [{"resourceType": "Medication", "id": "m", "code": {"text": "prednisolone"}}]
    by_ref2 = prednisone | {"id": "mr5", "contained": steroid, "medicationReference": {"reference": "#m"}}
    inputs = [PATIENT, *heart, with_finding, bad_status, imaging, by_code, same_code, other_drug, by_ref, by_ref2]
    r = build_record(inputs)
    (count,) = [i for i in issues_for(r, "Patient/p1") if i.element == "Observation"]
    assert count.message.startswith("3 Observation resources not read")
    assert {i.resource for i in r.issues if i.message == "vital sign not used by bmefhir"} >= {
        f"Observation/hr{k}" for k in range(3)
    }
    skipped = {i.resource for i in r.issues if i.message.endswith(("not used by bmefhir", "observation not used"))}
    assert "Observation/hr-c" not in skipped  # a component coded as a finding: read
    assert any(  # a malformed status: validated, and the element named
        i.resource == "Observation/hr-s" and i.element.startswith("Observation.status") and "not valid" in i.message
        for i in r.issues
    )
    assert any(i.resource == "Observation/hr-i" for i in r.issues)  # an imaging observation: warned about
    assert {m.ref for m in r.medications} >= {"MedicationRequest/mr1", "MedicationRequest/mr2", "MedicationRequest/mr5"}
    not_read = {i.resource for i in r.issues if "drug class bmefhir reads; not used" in i.message}
    assert not_read == {"MedicationRequest/mr3", "MedicationRequest/mr4"}
    assert items(r) == items(build_record(inputs, skip_irrelevant=False))


def test_blood_pressures_are_decided_by_their_component_codes_not_values():
    """Of a component only its code decides: blood pressures that differ in their values are skipped
    alike; a component coded as a finding, or a malformed one, is still read or validated."""

    def bp(rid: str, systolic: float, code: object = None) -> dict[str, Any]:
        def part(loinc: str, value: float) -> dict[str, Any]:
            return {"code": cc(LOINC, loinc), "valueQuantity": {"value": value, "unit": "mm[Hg]"}}

        components: list[Any] = [part("8480-6", systolic), part("8462-4", 80)]
        if code is not None:
            components.append({"code": code, "valueBoolean": True})
        return vital(rid, "85354-9") | {"code": cc(LOINC, "85354-9", "Blood pressure"), "component": components}

    pressures = [bp(f"bp{k}", 110 + k) for k in range(4)]
    with_finding = bp("bp-f", 120, cc(FINDING, "bone_marrow_edema"))
    malformed_code = bp("bp-m", 125, "bone marrow edema")  # a component code that is not an object
    single = vital("bp-s", "85354-9") | {"component": {"code": cc(LOINC, "8480-6")}}  # one object, not a list
    inputs = [PATIENT, *pressures, with_finding, malformed_code, single]
    r = build_record(inputs)
    (count,) = [i for i in issues_for(r, "Patient/p1") if i.element == "Observation"]
    assert count.message.startswith("4 Observation resources not read")  # the four plain blood pressures
    assert {i.resource for i in r.issues if i.message == "vital sign not used by bmefhir"} >= {
        f"Observation/bp{k}" for k in range(4)
    }
    assert any(f.ref == "Observation/bp-f" for f in r.findings)
    assert any(i.resource == "Observation/bp-m" and "component[2].code" in i.element for i in r.issues)
    assert any(i.resource == "Observation/bp-s" and i.element.startswith("Observation.component") for i in r.issues)
    assert items(r) == items(build_record(inputs, skip_irrelevant=False))


def test_documents_are_decided_by_kind_once_and_by_their_related_study_each_time():
    """DocumentReferences alike in status, type and category are decided by kind once per record; a
    related ImagingStudy still makes one of them an imaging report, and a malformed type is validated
    and named."""
    mri = {
        "resourceType": "ImagingStudy",
        "id": "mri",
        "status": "available",
        "subject": {"reference": "Patient/p1"},
        "started": "2024-03-01",
    }
    text = "MRI right hip: diffuse bone marrow edema of the right femoral head."

    def note(rid: str, **extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "DocumentReference",
            "id": rid,
            "status": "current",
            "type": cc(LOINC, "11506-3", "Progress note"),
            "subject": {"reference": "Patient/p1"},
            "date": "2024-03-02T10:00:00Z",
            "content": [{"attachment": {"contentType": "text/plain", "data": base64(text)}}],
        } | extra

    notes = [note(f"n{k}") for k in range(3)]
    linked = note("n-linked", context={"related": [{"reference": "ImagingStudy/mri"}]})
    malformed = note("n-bad", type={"coding": {"code": 7}})  # a coding that is not a list of codings
    inputs = [PATIENT, mri, *notes, linked, malformed]
    r = build_record(inputs)
    (count,) = [i for i in issues_for(r, "Patient/p1") if i.element == "DocumentReference"]
    assert count.message.startswith("3 DocumentReference resources not read")
    not_imaging = {i.resource for i in r.issues if i.message.startswith("not an imaging report")}
    # The three notes skipped, and the malformed one read (validated: below) and found no imaging report.
    assert not_imaging == {f"DocumentReference/n{k}" for k in range(3)} | {"DocumentReference/n-bad"}
    assert any(f.ref == "DocumentReference/n-linked" for f in r.findings)  # read as report text
    assert any(
        i.resource == "DocumentReference/n-bad"
        and i.element.startswith("DocumentReference.type")
        and "not valid" in i.message
        for i in r.issues
    )
    assert items(r) == items(build_record(inputs, skip_irrelevant=False))


def base64(text: str) -> str:
    import base64 as b64

    return b64.b64encode(text.encode()).decode()


# --- bounded listing ----------------------------------------------------------------------------


def test_listing_is_bounded_per_type_and_independent_of_input_order():
    resources = [PATIENT] + [encounter(f"e{k:04d}") for k in range(LISTED_PER_TYPE + 150)]
    r = build_record(resources)
    listed = [i for i in r.issues if i.resource.startswith("Encounter/")]
    assert len(listed) == LISTED_PER_TYPE
    assert max(i.resource for i in listed) == f"Encounter/e{LISTED_PER_TYPE - 1:04d}"  # the first by reference
    (count,) = [i for i in issues_for(r, "Patient/p1") if i.element == "Encounter"]
    assert count.message.startswith(f"{LISTED_PER_TYPE + 150:,} Encounter resources not read")
    assert "the other 150 only counted" in count.message
    shuffled = resources[:]
    random.Random(7).shuffle(shuffled)
    assert build_record(shuffled).issues == r.issues


def test_patient_with_50000_resources_through_the_file_source(tmp_path: Path):
    """Bad input: a huge chart. Skipped cheaply, issues bounded, the patient analysed, nothing relevant lost."""
    total = 50_000
    relevant = [PATIENT, lab("crp", "1988-5", 42, "mg/L"), lab("esr", "30341-2", 60, "mm/h")]
    bulk = []
    for k in range(total - len(relevant)):
        kind = k % 4
        bulk.append(encounter(f"e{k}") if kind == 0 else vital(f"v{k}", ("8867-4", "8480-6", "29463-7")[kind - 1]))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": x} for x in relevant + bulk]}
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")

    (raw,) = list(read_bundle(path))
    assert len(raw.resources) == total
    result = process_patient(raw.resources, _NOW, patient_id=raw.patient_id, source_issues=raw.issues)
    record = result.analysis.record
    assert record.patient.ref == "Patient/p1"
    assert {x.ref for x in record.labs} == {"Observation/crp", "Observation/esr"}
    encounters = len([x for x in bulk if x["resourceType"] == "Encounter"])
    vitals = len(bulk) - encounters
    assert len(record.sources) == 3 + vitals  # every Observation is an input, as before (not validated)
    assert len(record.issues) <= 2 * LISTED_PER_TYPE + 5  # bounded, not one per resource
    counts = {
        i.element: i.message for i in issues_for(record, "Patient/p1") if i.element in {"Observation", "Encounter"}
    }
    assert counts["Encounter"].startswith(f"{encounters:,} Encounter resources not read")
    assert counts["Observation"].startswith(f"{vitals:,} Observation resources not read")
    assert result.outputs  # the patient is written, not lost
