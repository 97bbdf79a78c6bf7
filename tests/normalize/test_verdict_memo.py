"""Validation verdicts memoised by content: a resource seen again gets exactly the issues validating
it again would give, under its own reference; what its JSON cannot key exactly is validated each time."""

from __future__ import annotations

import json
from typing import Any

from bmefhir.fhir.files import read_bundle
from bmefhir.normalize import build_record
from bmefhir.normalize.parse import MEMO, ValidationMemo, _validate, validate
from bmefhir.synth import synth_patient
from bmefhir.testing.examples import list_examples, list_text_examples

BAD_DATE = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "1988-5"}]},
    "effectiveDateTime": "2024-13-45",
}


def test_a_resource_seen_again_gets_the_same_issues_from_the_memo() -> None:
    before = MEMO.info()
    first = validate(BAD_DATE, "Observation/o1")
    again = validate(json.loads(json.dumps(BAD_DATE)), "Observation/o1")  # an equal copy, as a new request sends
    after = MEMO.info()
    assert first == again == _validate(BAD_DATE, "Observation", "Observation/o1", None)
    assert [(i.resource, i.element) for i in again] == [("Observation/o1", "Observation.effectiveDateTime")]
    assert after.hits >= before.hits + 1


def test_the_same_content_under_another_reference_names_that_reference() -> None:
    validate(BAD_DATE, "Observation/o1")
    other = validate(BAD_DATE, "Bundle.entry[3]")
    assert [i.resource for i in other] == ["Bundle.entry[3]"]


def test_a_changed_element_is_validated_anew() -> None:
    validate(BAD_DATE, "Observation/o1")
    fixed = validate(BAD_DATE | {"effectiveDateTime": "2024-01-05"}, "Observation/o1")
    assert fixed == []
    as_number = validate(BAD_DATE | {"effectiveDateTime": "2024-01-05", "status": 5}, "Observation/o1")
    assert [i.element for i in as_number] == ["Observation.status"]


def test_nan_and_null_are_not_taken_for_each_other() -> None:
    """orjson writes NaN as null: such resources are validated every time, never keyed."""
    quantity = BAD_DATE | {"effectiveDateTime": "2024-01-05"}
    with_nan = json.loads('{"valueQuantity": {"value": NaN, "unit": "mg/L"}}') | quantity
    with_null: dict[str, Any] = {"valueQuantity": {"value": None, "unit": "mg/L"}} | quantity
    uncached = MEMO.info().uncached
    nan_issues = validate(with_nan, "Observation/o1")
    null_issues = validate(with_null, "Observation/o1")
    assert MEMO.info().uncached == uncached + 2
    assert nan_issues == _validate(with_nan, "Observation", "Observation/o1", None)
    assert null_issues == _validate(with_null, "Observation", "Observation/o1", None)


def test_the_memo_is_bounded_least_recently_used_first() -> None:
    memo = ValidationMemo(limit=2)
    keys = [memo.digest(BAD_DATE | {"id": f"o{i}"}, f"Observation/o{i}") for i in range(3)]
    assert all(k is not None for k in keys)
    assert len(set(keys)) == 3
    for key in keys:
        assert key is not None
        memo.put(key, ())
    assert memo.info().size == 2
    assert keys[0] is not None
    assert memo.get(keys[0]) is None
    assert keys[2] is not None
    assert memo.get(keys[2]) == ()


def test_records_are_the_same_with_and_without_memoised_verdicts() -> None:
    inputs = [list(next(iter(read_bundle(c.path))).resources) for c in list_examples() + list_text_examples()]
    inputs += [synth_patient(i, resources=100, realistic=True) for i in range(3)]
    MEMO.clear()
    fresh = [build_record(resources) for resources in inputs]
    assert MEMO.info().hits == 0
    memoised = [build_record(resources) for resources in inputs]
    assert MEMO.info().hits > 0
    assert memoised == fresh
    assert any(record.issues for record in fresh)
