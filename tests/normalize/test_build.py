"""build_record: each mapping path, and each kind of bad input (issue named, the rest continues)."""

from __future__ import annotations

from datetime import date

import pytest

from bmefhir.normalize import build_record
from bmefhir.record import Site

from .resources import CAT, FINDING, LATERALITY_EXT, LOINC, PATIENT, SCT, STRUCTURE, cc, finding, lab, study

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def issues_for(record, ref):
    return [i for i in record.issues if i.resource == ref]


def test_public_surface():
    import bmefhir.normalize as n

    assert n.__all__ == ["build_record"]


# --- patient and sources ---------------------------------------------------------------------


def test_patient_and_sources():
    p = PATIENT | {"meta": {"versionId": "3"}, "name": [{"given": ["Ann"], "family": "Lee"}]}
    r = build_record([lab("crp1", "1988-5", 12, "mg/L"), p])
    assert r.patient.ref == "Patient/p1"
    assert (r.patient.birth_date, r.patient.sex, r.patient.display_name) == (date(1970, 4, 2), "male", "Ann Lee")
    assert [(s.ref, s.version) for s in r.sources] == [("Observation/crp1", None), ("Patient/p1", "3")]


def test_missing_patient_is_reported_and_taken_from_subject():
    r = build_record([lab("crp1", "1988-5", 12, "mg/L")])
    assert r.patient.ref == "Patient/p1"
    assert r.patient.birth_date is None
    assert any(i.element == "Patient" and i.severity == "warning" for i in issues_for(r, "Patient/p1"))


def test_other_patients_resources_are_left_out():
    other = lab("crp2", "1988-5", 99, "mg/L", subject={"reference": "Patient/p2"})
    r = build_record([PATIENT, lab("crp1", "1988-5", 12, "mg/L"), other], patient_id="p1")
    assert [x.ref for x in r.labs] == ["Observation/crp1"]
    assert "Observation/crp2" not in {s.ref for s in r.sources}
    assert issues_for(r, "Observation/crp2")[0].element == "Observation.subject"


# --- labs ------------------------------------------------------------------------------------


def test_lab_converted_to_canonical_unit():
    r = build_record([PATIENT, lab("vd", "62292-8", 50, "nmol/L")])
    (v,) = r.labs
    assert (v.concept, v.code, v.unit, v.date) == ("vitamin_d_25oh", "62292-8", "ng/mL", date(2024, 3, 1))
    assert v.value == pytest.approx(50 / 2.496)


def test_lab_high_flag_from_interpretation_and_reference_range():
    interp = {"interpretation": [cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H")]}
    rr = {
        "referenceRange": [
            {"high": {"value": 0.5, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}}
        ]
    }
    r = build_record([PATIENT, lab("a", "1988-5", 3, "mg/L", **interp), lab("b", "1988-5", 1.2, "mg/dL", **rr)])
    flags = {x.ref: (x.value, x.high_flag) for x in r.labs}
    assert flags["Observation/a"] == (3.0, True)
    assert flags["Observation/b"] == (pytest.approx(12.0), True)  # 12 mg/L > 5 mg/L


def test_lab_low_flag_from_interpretation_without_a_value():
    v3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    low = lab("vd-l", "62292-8", None, None, interpretation=[cc(v3, "L")])
    normal = lab("vd-n", "62292-8", None, None, interpretation=[cc(v3, "N")])
    r = build_record([PATIENT, low, normal])
    assert {x.ref: (x.value, x.low_flag, x.high_flag) for x in r.labs} == {
        "Observation/vd-l": (None, True, False),
        "Observation/vd-n": (None, False, False),
    }


def test_qualitative_lab():
    pos = lab("hla", "26028-1", None, None, valueCodeableConcept=cc(SCT, "10828004", "Positive"))
    neg = lab(
        "rf",
        "11572-5",
        None,
        None,
        interpretation=[cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "NEG")],
    )
    txt = lab("ccp", "53028-7", None, None, valueString="Not detected")
    r = build_record([PATIENT, pos, neg, txt])
    assert {x.concept: x.coded_value for x in r.labs} == {
        "hla_b27": "positive",
        "rheumatoid_factor": "negative",
        "anti_ccp": "negative",
    }


def test_value_without_unit_is_dropped_and_reported():
    r = build_record([PATIENT, lab("crp", "1988-5", 12, None)])
    assert r.labs == ()
    (issue,) = issues_for(r, "Observation/crp")
    assert (issue.severity, issue.element) == ("error", "Observation.valueQuantity.unit")
    assert "12" not in issue.message


def test_unconvertible_unit_keeps_flag_and_reports():
    interp = {"interpretation": [cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H")]}
    r = build_record([PATIENT, lab("crp", "1988-5", 12, "mmol/L", **interp)])
    (x,) = r.labs
    assert (x.value, x.unit, x.high_flag) == (None, None, True)
    (issue,) = issues_for(r, "Observation/crp")
    assert (issue.severity, issue.element) == ("warning", "Observation.valueQuantity.code")


def test_unknown_code_is_reported_not_dropped_silently():
    r = build_record([PATIENT, lab("glu", "2345-7", 5.5, "mmol/L")])
    assert r.labs == ()
    (issue,) = issues_for(r, "Observation/glu")
    assert (issue.code, issue.element, issue.severity) == ("code-invalid", "Observation.code", "information")


def test_bad_date_reported_and_rest_of_resource_used():
    r = build_record([PATIENT, lab("crp", "1988-5", 12, "mg/L", when="2024-13-45")])
    (x,) = r.labs
    assert (x.concept, x.value, x.date) == ("crp", 12.0, None)
    dated = [i for i in issues_for(r, "Observation/crp") if i.element == "Observation.effectiveDateTime"]
    assert len(dated) == 1  # validation and reader do not both report it
    assert "2024-13-45" not in dated[0].message


def test_unparseable_resource_falls_back_to_usable_elements():
    bad = lab("crp", "1988-5", 12, "mg/L", issued="yesterday", bodySite=[{"text": "arm"}], unknownElement=1)
    r = build_record([PATIENT, bad])
    assert [x.value for x in r.labs] == [12.0]
    elements = {i.element for i in issues_for(r, "Observation/crp")}
    assert {"Observation.issued", "Observation.bodySite", "Observation.unknownElement"} <= elements


def test_resource_without_id_is_named_by_position():
    no_id = lab("x", "1988-5", 12, None)
    del no_id["id"]
    r = build_record([PATIENT, no_id])
    assert issues_for(r, "Bundle.entry[1]")


def test_not_a_resource_and_unused_type():
    r = build_record([PATIENT, {"foo": 1}, {"resourceType": "Encounter", "id": "e1"}])
    assert issues_for(r, "Bundle.entry[1]")[0].severity == "error"
    enc = issues_for(r, "Encounter/e1")[0]
    assert (enc.severity, enc.code) == ("information", "not-supported")


def test_entered_in_error_skipped_with_information():
    r = build_record([PATIENT, lab("crp", "1988-5", 12, "mg/L", status="entered-in-error")])
    assert r.labs == ()
    assert issues_for(r, "Observation/crp")[0].severity == "information"


# --- clinical observations -------------------------------------------------------------------


def test_smoking_answers():
    former = {
        "resourceType": "Observation",
        "id": "smk",
        "status": "final",
        "category": [cc(CAT, "social-history")],
        "code": cc(LOINC, "72166-2"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2023-01-01",
        "valueCodeableConcept": cc(SCT, "8517006"),
    }
    r = build_record([PATIENT, former])
    assert {(o.concept, o.value) for o in r.observations} == {("smoking_current", False), ("smoking_ever", True)}


def test_unknown_answer_reported():
    obs = {
        "resourceType": "Observation",
        "id": "smk",
        "status": "final",
        "code": cc(LOINC, "72166-2"),
        "effectiveDateTime": "2023-01-01",
        "valueCodeableConcept": cc(SCT, "999999"),
    }
    r = build_record([PATIENT, obs])
    assert r.observations == ()
    assert issues_for(r, "Observation/smk")[0].element == "Observation.valueCodeableConcept"


def test_dxa_temperature_and_exam_finding():
    dxa = lab("dxa", "80946-7", -2.7, "{T-score}")
    temp = lab("t", "8310-5", 100.4, "[degF]")
    pain = {
        "resourceType": "Observation",
        "id": "wbp",
        "status": "final",
        "category": [cc(CAT, "exam")],
        "code": cc("http://bmefhir.org/fhir/CodeSystem/clinical-observation", "weight_bearing_pain"),
        "effectiveDateTime": "2024-02-20",
        "valueBoolean": True,
        "bodySite": {"text": "Right hip"},
    }
    r = build_record([PATIENT, dxa, temp, pain])
    got = {o.concept: o for o in r.observations}
    assert got["dxa_t_score"].value == -2.7
    assert got["dxa_t_score"].site == Site("hip", "left")
    assert got["body_temperature"].value == pytest.approx(38.0)
    assert got["body_temperature"].unit == "Cel"
    assert got["weight_bearing_pain"].value is True
    assert got["weight_bearing_pain"].site == Site("hip", "right")


# --- imaging ---------------------------------------------------------------------------------


def test_imaging_finding_with_laterality_extension_and_study_modality():
    f = finding(
        "bme1",
        "bone_marrow_edema",
        bodySite=cc(STRUCTURE, "femoral_head"),
        extension=[{"url": LATERALITY_EXT, "valueCodeableConcept": cc(SCT, "24028007")}],
        partOf=[{"reference": "ImagingStudy/mr1"}],
    )
    r = build_record([PATIENT, f, study()])
    (x,) = r.findings
    assert (x.concept, x.present, x.site, x.modality, x.study_ref) == (
        "bone_marrow_edema",
        True,
        Site("femoral_head", "right"),
        "MR",
        "ImagingStudy/mr1",
    )
    (s,) = r.studies
    assert (s.modalities, s.date, s.sites) == (("MR",), date(2024, 3, 2), (Site("femoral_head", "left"),))


def test_finding_side_from_study_series_and_absent_value():
    f = finding(
        "bme2",
        "bone_marrow_edema",
        present=False,
        bodySite=cc(STRUCTURE, "femoral_head"),
        derivedFrom=[{"reference": "ImagingStudy/mr1"}],
    )
    r = build_record([PATIENT, f, study()])
    (x,) = r.findings
    assert (x.present, x.site) == (False, Site("femoral_head", "left"))


def test_unknown_laterality_reported():
    f = finding(
        "bme3",
        "bone_marrow_edema",
        bodySite=cc(STRUCTURE, "talus"),
        extension=[{"url": LATERALITY_EXT, "valueCodeableConcept": cc(SCT, "123")}],
    )
    r = build_record([PATIENT, f])
    (x,) = r.findings
    assert x.site == Site("talus", None)
    (issue,) = issues_for(r, "Observation/bme3")
    assert issue.severity == "warning"
    assert "extension" in issue.element


def test_component_findings_share_parent_site_and_date():
    parent = finding("mri", "bone_marrow_edema", bodySite={"text": "left medial femoral condyle"})
    parent["component"] = [
        {"code": cc(FINDING, "subchondral_low_signal_band"), "valueBoolean": False},
        {"code": cc(FINDING, "double_line_sign"), "valueCodeableConcept": cc(SCT, "52101004")},
    ]
    r = build_record([PATIENT, parent])
    got = {(x.concept, x.present, x.site, x.date) for x in r.findings}
    site, when = Site("medial_femoral_condyle", "left"), date(2024, 3, 2)
    assert got == {
        ("bone_marrow_edema", True, site, when),
        ("subchondral_low_signal_band", False, site, when),
        ("double_line_sign", True, site, when),
    }


def test_radiology_report_conclusion_codes_become_findings():
    report = {
        "resourceType": "DiagnosticReport",
        "id": "rep1",
        "status": "final",
        "category": [cc(LOINC, "LP29684-5")],
        "code": cc(LOINC, "18748-4"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-02",
        "imagingStudy": [{"reference": "ImagingStudy/mr1"}],
        "conclusionCode": [cc(FINDING, "bone_marrow_edema"), cc(SCT, "999999", "Unrelated")],
    }
    r = build_record([PATIENT, report, study()])
    (x,) = r.findings
    assert (x.concept, x.present, x.site, x.modality, x.ref) == (
        "bone_marrow_edema",
        True,
        Site("femoral_head", "left"),
        "MR",
        "DiagnosticReport/rep1",
    )
    assert r.reports[0].study_refs == ("ImagingStudy/mr1",)
    assert issues_for(r, "DiagnosticReport/rep1")[0].element == "DiagnosticReport.conclusionCode[1]"


# --- medications and conditions --------------------------------------------------------------


def prednisone_statement(**extra):
    return {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "completed",
        "medicationCodeableConcept": cc(RXNORM, "8640", "Prednisone"),
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": "2023-01-10", "end": "2023-04-10"},
        "dosage": [
            {
                "route": cc(SCT, "26643006"),
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {"doseQuantity": {"value": 10, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}
                ],
            }
        ],
    } | extra


def test_medication_statement_with_prednisone_equivalent_dose():
    r = build_record([PATIENT, prednisone_statement()])
    (m,) = r.medications
    assert (m.concept, m.drug, m.route, m.start, m.end, m.status, m.daily_dose_mg) == (
        "glucocorticoid",
        "prednisone",
        "oral",
        date(2023, 1, 10),
        date(2023, 4, 10),
        "completed",
        20.0,
    )


def test_contained_medication_reference_and_dexamethasone_factor():
    ms = prednisone_statement(
        medicationReference={"reference": "#med"},
        contained=[{"resourceType": "Medication", "id": "med", "code": cc("http://www.whocc.no/atc", "H02AB02")}],
    )
    del ms["medicationCodeableConcept"]
    ms["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 4
    r = build_record([PATIENT, ms])
    (m,) = r.medications
    assert (m.drug, m.daily_dose_mg) == ("dexamethasone", pytest.approx(8 * 6.67))


def test_bundled_medication_reference_and_request_superseded():
    med = {"resourceType": "Medication", "id": "m1", "code": {"text": "Methylprednisolone 4 mg tablet"}}
    req = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": "Medication/m1"},
        "authoredOn": "2024-01-05",
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2024-01-06", "end": "2024-02-06"}}}}],
    }
    r = build_record([PATIENT, med, req])
    (m,) = r.medications
    assert (m.concept, m.drug, m.start, m.end, m.ref) == (
        "glucocorticoid",
        "methylprednisolone",
        date(2024, 1, 6),
        date(2024, 2, 6),
        "MedicationRequest/mr1",
    )
    both = build_record(
        [PATIENT, med, req, prednisone_statement(medicationCodeableConcept={"text": "methylprednisolone"})]
    )
    assert [m.ref for m in both.medications] == ["MedicationStatement/ms1"]
    assert issues_for(both, "MedicationRequest/mr1")


def test_missing_medication_reference_is_an_error():
    ms = prednisone_statement(medicationReference={"reference": "Medication/nowhere"})
    del ms["medicationCodeableConcept"]
    r = build_record([PATIENT, ms])
    assert r.medications == ()
    assert issues_for(r, "MedicationStatement/ms1")[0].severity == "error"


def condition(rid, system, code, **extra):
    return {
        "resourceType": "Condition",
        "id": rid,
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "code": cc(system, code),
        "onsetDateTime": "2020-05",
    } | extra


def test_conditions_icd_prefix_status_and_refuted():
    ra = condition("c1", ICD10CM, "M06.9")
    old = condition(
        "c2",
        ICD10CM,
        "M87.051",
        clinicalStatus=cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved"),
    )
    refuted = condition(
        "c3",
        SCT,
        "69896004",
        verificationStatus=cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", "refuted"),
    )
    r = build_record([PATIENT, ra, old, refuted])
    assert {(c.concept, c.active, c.onset) for c in r.conditions} == {
        ("rheumatoid_arthritis", True, date(2020, 5, 1)),
        ("osteonecrosis", False, date(2020, 5, 1)),
    }
    assert issues_for(r, "Condition/c3")[0].severity == "information"
    assert any("precision" in i.message for i in issues_for(r, "Condition/c1"))


def test_negated_text_is_not_read_as_the_condition_it_names():
    negated = {
        "resourceType": "Condition",
        "id": "c9",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "No evidence of avascular necrosis"},
    }
    r = build_record([PATIENT, negated])
    assert r.conditions == ()
    (issue,) = issues_for(r, "Condition/c9")
    assert issue.element == "Condition.code"
    assert issue.message == "text names osteonecrosis only negated ('No evidence of'); not used"


def test_negated_imaging_text_is_not_a_finding_and_the_rest_is_read():
    negated = finding("f9", "bone_marrow_edema") | {"code": {"text": "No bone marrow oedema"}}
    affirmed = finding("f10", "bone_marrow_edema")
    r = build_record([PATIENT, negated, affirmed])
    assert [f.ref for f in r.findings] == ["Observation/f10"]
    (issue,) = issues_for(r, "Observation/f9")
    assert issue.severity == "warning"
    assert "bone_marrow_edema only negated ('No')" in issue.message


def test_placeholder_dates_are_unknown_and_the_rest_is_read():
    placeholder = finding("f1", "bone_marrow_edema", when="0001-01-01") | {"bodySite": cc(STRUCTURE, "femoral_head")}
    open_end = finding("f2", "bone_marrow_edema", when="9999-12-31") | {"bodySite": cc(STRUCTURE, "femoral_head")}
    real = finding("f3", "bone_marrow_edema") | {"bodySite": cc(STRUCTURE, "femoral_head")}
    r = build_record([PATIENT, placeholder, open_end, real])
    assert {f.ref: f.date for f in r.findings} == {
        "Observation/f1": None,
        "Observation/f2": None,
        "Observation/f3": date(2024, 3, 2),
    }
    for ref in ("Observation/f1", "Observation/f2"):
        (issue,) = issues_for(r, ref)
        assert issue.element == "Observation.effectiveDateTime"
        assert issue.message == "date outside 1800-2199 (a placeholder?); date unknown"


def test_a_year_one_finding_no_longer_breaks_the_analysis():
    from datetime import UTC, datetime

    from bmefhir.pipeline import process_patient

    placeholder = finding("f1", "bone_marrow_edema", when="0001-01-02") | {"bodySite": cc(STRUCTURE, "femoral_head")}
    real = finding("f2", "bone_marrow_edema") | {"bodySite": cc(STRUCTURE, "femoral_head")}
    result = process_patient([PATIENT, placeholder, real], datetime(2024, 6, 1, tzinfo=UTC))
    assert not result.analysis.differential.insufficient_data
    assert any(i.resource == "Observation/f1" for i in result.analysis.record.issues)


# --- bundles, determinism, speed -------------------------------------------------------------


def test_bundle_is_unpacked_and_urn_references_resolved():
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:aaa", "resource": PATIENT},
            {
                "fullUrl": "urn:uuid:bbb",
                "resource": lab("crp", "1988-5", 12, "mg/L", subject={"reference": "urn:uuid:aaa"}),
            },
        ],
    }
    r = build_record([bundle])
    assert [x.ref for x in r.labs] == ["Observation/crp"]
    assert r.patient.ref == "Patient/p1"


def test_output_sorted_and_deterministic():
    resources = [
        PATIENT,
        lab("b", "1988-5", 5, "mg/L", when="2024-05-01"),
        lab("a", "1988-5", 6, "mg/L", when="2024-01-01"),
        lab("c", "1988-5", 7, "mg/L", when=None),
    ]
    r1 = build_record(resources)
    r2 = build_record(list(reversed(resources)))
    assert r1 == r2
    assert [x.ref for x in r1.labs] == ["Observation/a", "Observation/b", "Observation/c"]


def test_source_issues_carried():
    from bmefhir.record import DataQualityIssue

    src = DataQualityIssue("warning", "incomplete", "Observation/zzz", "Observation", "page 3 could not be fetched")
    r = build_record([PATIENT], source_issues=[src])
    assert src in r.issues


def test_observations_alike_in_status_category_and_code_are_read_alike_each_under_its_own_reference():
    """What status, category and code say is read once per record: every resource still gets its own
    notes, and one that differs in any of them (a preliminary status, another code) is read anew."""
    crp = [lab(f"crp{k}", "1988-5", 3 + k, "mg/L") for k in range(3)]
    preliminary = lab("crp-p", "1988-5", 9, "mg/L") | {"status": "preliminary"}
    audit = [lab(f"a{k}", "68519-8", 2, None) for k in range(2)]  # an AUDIT-C item: a known code not used
    by_text = [  # a local code whose text the keyword fallback reads
        lab(f"t{k}", "x", 38.9, "Cel") | {"category": [cc(CAT, "vital-signs")], "code": {"text": "Body temperature"}}
        for k in range(2)
    ]
    r = build_record([PATIENT, *crp, preliminary, *audit, *by_text])
    assert sorted(x.ref for x in r.labs if x.concept == "crp") == [
        "Observation/crp-p",
        "Observation/crp0",
        "Observation/crp1",
        "Observation/crp2",
    ]
    notes = {(i.resource, i.element): i.message for i in r.issues}
    assert "may change" in notes[("Observation/crp-p", "Observation.status")]
    assert not any(
        ref.startswith("Observation/crp") and ref != "Observation/crp-p"
        for ref, el in notes
        if el == "Observation.status"
    )
    for k in range(2):
        assert notes[(f"Observation/a{k}", "Observation.code")].startswith("known code not used: AUDIT-C item")
        assert "matched by text" in notes[(f"Observation/t{k}", "Observation.code")]
    assert {x.ref for x in r.observations if x.concept == "body_temperature"} == {"Observation/t0", "Observation/t1"}


def test_a_built_record_leaves_no_cyclic_garbage():
    """Building a record frees what it made as soon as it is done: nothing in a reference cycle that
    only the garbage collector would find (a self-calling closure kept every record's entries and
    context alive until a collector pass, ~9,000 objects per 1,000 resources)."""
    import gc

    from bmefhir.synth import synth_patient

    resources = synth_patient(0, resources=300, realistic=True)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources[:50]]}
    build_record([*resources[50:], bundle])  # first build: lazily loaded tables and memos
    gc.collect()
    gc.disable()
    try:
        record = build_record([*resources[50:], bundle])
        found = gc.collect()
    finally:
        gc.enable()
    assert record.labs
    assert record.sources
    assert found == 0


def test_elements_key_tells_apart_what_exact_key_does() -> None:
    """``fhirjson.elements_key`` (the relevance and Observation-code memos' key): present or absent,
    null, and values JSON tells apart (``1``, ``true``, ``1.0``, NaN) give different keys."""
    from bmefhir.normalize.fhirjson import elements_key

    names = ("status", "code")
    variants: list[dict[str, object]] = [
        {},
        {"status": None},
        {"code": None},
        {"status": 0},
        {"code": 0},
        {"status": 1},
        {"status": True},
        {"status": 1.0},
        {"status": float("nan")},
        {"status": "final"},
        {"status": "final", "code": {"text": "x"}},
        {"code": {"text": "x"}},
        {"status": "final", "code": {"text": "x"}, "other": 1},  # not among the names: the same key as the one before
    ]
    keys = [elements_key(v, names) for v in variants]
    assert len(set(keys[:-1])) == len(keys) - 1
    assert keys[-1] == keys[-3]
    assert elements_key({"status": {1, 2}}, names) is None  # not JSON data
