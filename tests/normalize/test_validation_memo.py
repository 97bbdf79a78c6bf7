"""Validation in parts reports what whole-resource validation reports, at the same paths.

``parse.validate(res, ref, memo)`` validates a resource in parts, each with fhir.resources' own model
or type: each distinct complex element of a record once (in parts itself), each primitive with its
type, and the rest (the shell: values replaced by valid stand-ins) once per shape; ``validate(res,
ref)`` validates the resource whole (the baseline, as before). Over the HL7 R4 examples of the read
types, realistic synthetic records and malformed copies of both, the issues must be the same; a memo
hit must give the second resource its own issues under its own reference.
"""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmefhir.normalize import build_record
from bmefhir.normalize.parse import READ_TYPES, SHELLS, validate
from bmefhir.synth import synth_patient
from bmefhir.testing.damage import paths, put
from bmefhir.testing.fuzz import r4_package_dir
from bmefhir.testing.prerequisites import unavailable

from .resources import CAT, LOINC, PATIENT, cc, lab

Json = dict[str, Any]


def found(issues: list[Any]) -> list[tuple[str, str, str, str, str]]:
    return sorted((i.severity, i.code, i.resource, i.element, i.message) for i in issues)


def r4_resources() -> list[Json]:
    directory = r4_package_dir()
    if not directory.is_dir():
        unavailable(f"R4 example package not found at {directory}; run scripts/fetch-r4-examples.sh")
    out = []
    for path in sorted(directory.glob("*.json")):
        if path.name.split("-")[0] in READ_TYPES - {"Binary"}:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("resourceType") in READ_TYPES:
                out.append(data)
    return out


MALFORMED_KINDS = 12


def malformed(res: Json, kind: int) -> Json:
    """One bad value: inside a complex element, a primitive at the top or nested, or the shape."""
    bad = deepcopy(res)
    if kind == 0:
        bad["meta"] = {"lastUpdated": "yesterday"}
    elif kind == 1:
        bad["subject"] = {"reference": 5}
    elif kind == 2:
        bad["text"] = {"status": "generated", "div": "not xhtml", "unknown": 1}
    elif kind == 3:
        bad["identifier"] = [{"system": "urn:x", "value": "1"}, {"period": {"start": "2024-13-45"}}]
    elif kind == 4:
        bad["extension"] = [{"valueString": "no url"}]
    elif kind == 5:
        bad["unknownElement"] = {"a": 1}
    elif kind == 6:
        bad["id"] = "not an id!"  # a primitive at the top: its type's pattern
    elif kind == 7:
        bad["implicitRules"] = 7  # a uri that is a number
    elif kind == 8:
        bad["language"] = "en  US"  # a code with two spaces
    elif kind == 9:
        bad["meta"] = {"versionId": "a b", "lastUpdated": "2024-01-01T00:00:00Z"}  # a nested primitive
    elif kind == 10:
        bad["extension"] = [{"url": "http://example.org/x", "valueInteger": "one"}]  # a nested choice value
    else:
        # two value[x] in one extension: the "only one of" check of the shell
        bad["modifierExtension"] = [{"url": "http://example.org/m", "valueBoolean": True, "valueString": "x"}]
    return bad


def same_with_and_without_memo(resources: list[Json]) -> int:
    """Asserts equal issues for every resource (one memo over all, so hits happen); the issue count."""
    memo: dict[str, Any] = {}
    total = 0
    for n, res in enumerate(resources):
        ref = f"{res.get('resourceType')}/{n}"
        whole = found(validate(res, ref))
        assert found(validate(res, ref, memo)) == whole, (ref, res.get("id"))
        total += len(whole)
    return total


def test_r4_examples_and_their_malformed_copies_report_the_same_issues():
    examples = r4_resources()
    assert len(examples) > 150
    assert same_with_and_without_memo(examples) == 0  # the examples are valid R4 (as the baseline says)
    copies = [malformed(res, k % MALFORMED_KINDS) for k, res in enumerate(examples)]
    assert same_with_and_without_memo(copies) >= len(copies)  # every copy has at least one issue


def test_realistic_records_and_their_malformed_copies_report_the_same_issues():
    resources = [r for i in range(3) for r in synth_patient(i, seed=9, resources=300, realistic=True)]
    resources = [r for r in resources if r["resourceType"] in READ_TYPES]
    assert same_with_and_without_memo(resources) == 0
    copies = [malformed(res, k % MALFORMED_KINDS) for k, res in enumerate(resources)]
    assert same_with_and_without_memo(copies) >= len(copies)


def test_a_memo_hit_names_each_resource_and_element():
    bad_code = {"coding": [{"system": "http://loinc.org", "code": 1988}]}  # a code that is not a string
    first, second = lab("a", "1988-5", 3, "mg/L") | {"code": bad_code}, lab("b", "1988-5", 4, "mg/L")
    second["code"] = deepcopy(bad_code)
    memo: dict[str, Any] = {}
    one, two = validate(first, "Observation/a", memo), validate(second, "Observation/b", memo)
    assert len(memo) >= 1  # the code's coding, validated once for both
    assert [(i.resource, i.element) for i in one] == [("Observation/a", "Observation.code.coding[0].code")]
    assert [(i.resource, i.element) for i in two] == [("Observation/b", "Observation.code.coding[0].code")]
    assert found(one) == found(validate(first, "Observation/a"))


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("code", "1988-5"),  # not an object: validated in place, as the whole resource would
        ("category", {"coding": [{"system": CAT, "code": "laboratory"}]}),  # a repeating element sent once
        ("category", [None]),  # a null in a list of complex values
        ("valueQuantity", {"value": "twelve"}),  # a choice element: an empty stand-in left for "only one of"
        ("valueString", "report"),  # a second value[x], a primitive: its stand-in left for "only one of"
        ("status", {"code": "final"}),  # a primitive sent as an object: in place
        ("status", None),  # a required primitive that is null: in place
        ("effectiveDateTime", "2024-02-30"),  # a primitive's own check (no such day)
        ("subject", {"reference": b"Patient/p1", "type": {"x"}}),  # not JSON data (no memo key): in place
    ],
)
def test_wrongly_shaped_elements_are_reported_as_whole_validation_reports_them(element: str, value: object):
    bad = lab("crp", "1988-5", 12, "mg/L") | {element: value}
    assert found(validate(bad, "Observation/crp", {})) == found(validate(bad, "Observation/crp"))
    assert validate(bad, "Observation/crp", {})


def test_records_built_with_the_memo_carry_the_baseline_validation_issues():
    """build_record's relevant resources get the issues whole validation gives (skip_irrelevant=False)."""
    bad_lab = lab("crp", "1988-5", 12, "mg/L", when="2024-02-30", subject={"reference": 5})
    twin = lab("crp2", "1988-5", 14, "mg/L", subject={"reference": 5})
    temperature = {
        "resourceType": "Observation",
        "id": "t",
        "status": "final",
        "category": [cc(CAT, "vital-signs")],
        "code": cc(LOINC, "8310-5", "Body temperature"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-01",
        "valueQuantity": {"value": 39.1, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel", "x": 1},
    }
    inputs = [PATIENT, bad_lab, twin, temperature]
    fast, full = build_record(inputs), build_record(inputs, skip_irrelevant=False)
    for ref in ("Observation/crp", "Observation/crp2", "Observation/t"):
        assert found([i for i in fast.issues if i.resource == ref]) == found(
            [i for i in full.issues if i.resource == ref]
        )
    elements = {(i.resource, i.element) for i in fast.issues if "not valid FHIR" in i.message}
    assert {
        ("Observation/crp", "Observation.effectiveDateTime"),
        ("Observation/crp", "Observation.subject.reference"),
        ("Observation/crp2", "Observation.subject.reference"),
        ("Observation/t", "Observation.valueQuantity.x"),
    } <= elements


def test_a_new_record_of_a_known_shape_reuses_the_shell_verdicts_and_names_its_own_resources():
    """The model-level checks of a shell (structure, values replaced) are kept across records, by digest:
    a second patient's lab results are not checked again for what only their structure decides."""
    first = [r for r in synth_patient(1, seed=4, resources=120, realistic=True) if r["resourceType"] in READ_TYPES]
    second = [r for r in synth_patient(2, seed=4, resources=120, realistic=True) if r["resourceType"] in READ_TYPES]
    second = [malformed(r, 5) if r["resourceType"] == "Observation" else r for r in second]  # an unknown element
    SHELLS.clear()  # the memo is process-wide: an earlier test may have met the malformed shape already
    same_with_and_without_memo(first)
    before = SHELLS.info()
    for n, res in enumerate(second):
        ref = f"{res['resourceType']}/second-{n}"
        parts = found(validate(res, ref, {}))
        assert parts == found(validate(res, ref))
        if res["resourceType"] == "Observation":
            assert ("Observation.unknownElement", ref) in {(i[3], i[2]) for i in parts}
    after = SHELLS.info()
    assert after.hits > before.hits  # shapes of the first record met again
    assert after.misses > before.misses  # the Observations' new shape (with the unknown element) checked once


_RESOURCES = [r for r in synth_patient(3, seed=6, resources=150, realistic=True) if r["resourceType"] in READ_TYPES]
_BAD_VALUES = [5, "a  b", "2024-13-01", "not an id!", True, 1.5, "", {"a": 1}, [1], None, [None], "x" * 70, -1]


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_validation_in_parts_never_reports_fewer_issues_and_none_for_a_valid_resource(data: st.DataObject) -> None:
    """Random damage anywhere in realistic resources (a wrong type, a bad date, code or id, null, an
    unknown element): every issue whole validation reports, validation in parts reports too, at the
    same element with the same message; and where whole validation finds nothing, neither does it."""
    res = deepcopy(data.draw(st.sampled_from(_RESOURCES)))
    for _ in range(data.draw(st.integers(min_value=0, max_value=2))):
        places = [p for p in paths(res) if p != ("resourceType",)]
        path = data.draw(st.sampled_from(places))
        put(res, path, deepcopy(data.draw(st.sampled_from(_BAD_VALUES))))
    if data.draw(st.booleans()):
        res[data.draw(st.sampled_from(["unknownElement", "valueString", "status", "_status", "extension"]))] = deepcopy(
            data.draw(st.sampled_from(_BAD_VALUES))
        )
    whole, parts = found(validate(res, "Observation/x")), found(validate(res, "Observation/x", {}))
    assert set(whole) <= set(parts)
    if not whole:
        assert not parts
