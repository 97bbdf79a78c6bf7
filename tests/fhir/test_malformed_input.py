"""Regressions of issue 13: malformed inputs that crashed, hung or silently lost patients in ``analyze``.

Each case is a folder with one bad file beside a good patient: the good patient is always
analysed, and the bad one is either analysed with an error issue naming the file and element,
or listed as failed with its real reason (never "internal error").
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmefhir.fhir import jsonlimits, open_source
from bmefhir.fhir.jsonlimits import MAX_DEPTH, MAX_STRING
from bmefhir.runner import Failure, run

NOW = datetime(2024, 6, 1, tzinfo=UTC)

GOOD = {"resourceType": "Patient", "id": "good", "birthDate": "1970-01-01", "gender": "female"}


def nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"extension": [{"url": "u", "valueString": "v"}], "x": value}
    return value


def analyse_folder(tmp_path: Path, bad: bytes) -> tuple[dict[str, Any], list[Failure], list[str]]:
    (tmp_path / "good.json").write_bytes(orjson.dumps(GOOD))
    (tmp_path / "bad.json").write_bytes(bad)
    source = open_source(tmp_path)
    results: dict[str, Any] = {}

    def keep(pid: str, outcome: object) -> None:
        if not isinstance(outcome, Failure):
            results[pid] = outcome

    report = run(source, NOW, on_patient=keep)
    problems = [f"{p.issue.resource} {p.issue.element}: {p.issue.message}" for p in source.problems]
    assert "good" in results, "the other patient of the folder must always be analysed"
    assert not any("internal error" in f.reason for f in report.failures), report.failures
    return results, report.failures, problems


def issues_of(result: Any) -> list[str]:
    return [f"{i.resource} {i.element} {i.code}: {i.message}" for i in result.analysis.record.issues]


def test_a_value_nested_600_levels_deep_is_skipped_with_an_issue(tmp_path: Path) -> None:
    bad = {"resourceType": "Patient", "id": "deep", "extension": [nested(600)]}
    results, failures, _ = analyse_folder(tmp_path, json.dumps(bad).encode())
    assert not failures
    found = issues_of(results["deep"])
    assert any("bad.json" in i and f"nested more than {MAX_DEPTH} levels" in i and "too-costly" in i for i in found)
    assert not any("no such Patient" in i for i in found)


def test_nesting_beyond_the_parsers_limit_is_a_per_file_error(tmp_path: Path) -> None:
    bad = b'{"resourceType":"Patient","id":"deeper","x":' + b'{"a":' * 1100 + b"1" + b"}" * 1101
    results, _, problems = analyse_folder(tmp_path, bad)
    # the file cannot be parsed at all: its error is the run's (once), not a copy on the folder's other patients
    assert [p for p in problems if "bad.json" in p and "1024" in p]
    assert not any("bad.json" in i for i in issues_of(results["good"]))


def test_an_identifier_that_is_a_number_is_an_issue_not_a_crash(tmp_path: Path) -> None:
    results, failures, _ = analyse_folder(tmp_path, b'{"resourceType":"Patient","id":"p2","identifier":1.5}')
    assert not failures
    assert any("Patient.identifier" in i for i in issues_of(results["p2"]))


def test_a_primitive_extension_that_is_a_string_is_an_issue_not_an_internal_error(tmp_path: Path) -> None:
    results, failures, _ = analyse_folder(tmp_path, b'{"resourceType":"Patient","id":"p1","_birthDate":"2020"}')
    assert not failures
    assert any("Patient._birthDate" in i for i in issues_of(results["p1"]))


@pytest.mark.parametrize("rid", ["bad id!!", "x" * 65, "../etc", 7])
def test_an_invalid_patient_id_fails_the_patient_with_its_real_reason(tmp_path: Path, rid: object) -> None:
    bad = orjson.dumps({"resourceType": "Patient", "id": rid})
    _, failures, _ = analyse_folder(tmp_path, bad)
    assert len(failures) == 1
    assert "bad.json" in failures[0].reason
    assert "not a valid FHIR id" in failures[0].reason
    assert len(failures[0].patient_id) <= 64


def test_a_100000_character_resource_type_is_reported_briefly_and_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    _, _, problems = analyse_folder(tmp_path, orjson.dumps({"resourceType": "X" * 100_000, "id": "p3"}))
    assert time.perf_counter() - started < 10
    [problem] = [p for p in problems if "resourceType" in p]
    assert "is not a FHIR resource type name" in problem
    assert len(problem) < 400


def test_the_cli_prints_a_huge_resource_type_without_hanging(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bmefhir.cli import app

    (tmp_path / "bad.json").write_bytes(orjson.dumps({"resourceType": "[red]" + "X" * 100_000, "id": "p3"}))
    (tmp_path / "good.json").write_bytes(orjson.dumps(GOOD))
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), "--format", "json", "--now", "2024-06-01"])
    assert time.perf_counter() - started < 20
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert max(len(line) for line in result.output.splitlines()) < 5_000


def test_a_bundle_with_a_damaged_resource_type_keeps_its_patients(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundlx",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "inbundle", "birthDate": "1960-02-02"}}],
    }
    results, failures, _ = analyse_folder(tmp_path, orjson.dumps(bundle))
    assert not failures
    assert any("Bundle.resourceType" in i and "read as a Bundle" in i for i in issues_of(results["inbundle"]))


@pytest.mark.parametrize("damage", [["Bundle"], {"value": "Bundle"}], ids=["list", "object"])
def test_a_bundle_whose_resource_type_is_not_a_string_keeps_its_patients(tmp_path: Path, damage: Any) -> None:
    # Found by the fuzz run (class "types"): the value was tested against a set of names, unhashable.
    bundle = {
        "resourceType": damage,
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "inb"}}],
    }
    results, failures, _ = analyse_folder(tmp_path, orjson.dumps(bundle))
    assert not failures
    assert set(results) == {"good", "inb"}
    assert any("Bundle.resourceType" in i and "read as a Bundle" in i for i in issues_of(results["inb"]))


def test_an_identifier_system_that_is_not_a_string_is_reported_and_the_patient_analysed(tmp_path: Path) -> None:
    # Found by the fuzz run (class "types"): checking whether the resource is one of bmefhir's own outputs
    # tested a list against a set and ended the whole run.
    finding = {
        "resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/good"},
        "identifier": [{"system": ["urn:x"], "value": "1"}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "62292-8"}]},
        "valueQuantity": {"value": 14.9, "unit": "ng/mL", "system": "http://unitsofmeasure.org", "code": "ng/mL"},
    }  # fmt: skip
    results, failures, _ = analyse_folder(tmp_path, orjson.dumps(finding))
    assert not failures
    assert any("Observation/o1" in i and "identifier" in i for i in issues_of(results["good"]))


def test_a_lone_surrogate_skips_only_that_resource(tmp_path: Path) -> None:
    bad = (
        b'{"resourceType":"Bundle","type":"collection","entry":['
        b'{"resource":{"resourceType":"Patient","id":"sur","birthDate":"1950-01-01"}},'
        b'{"resource":{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/sur"},'
        b'"note":[{"text":"\\ud800"}]}}]}'
    )
    results, failures, _ = analyse_folder(tmp_path, bad)
    assert not failures
    found = issues_of(results["sur"])
    assert any("Condition.note[0].text" in i and "lone surrogate" in i for i in found)


def test_a_string_over_the_limit_skips_the_resource(tmp_path: Path) -> None:
    bad = {"resourceType": "Patient", "id": "long", "name": [{"text": "a" * (MAX_STRING + 1)}]}
    results, _, _ = analyse_folder(tmp_path, orjson.dumps(bad))
    assert any("Patient.name[0].text" in i and "too-costly" in i for i in issues_of(results["long"]))


def test_a_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    results, failures, _ = analyse_folder(
        tmp_path, b"\xef\xbb\xbf" + orjson.dumps({"resourceType": "Patient", "id": "bom"})
    )
    assert "bom" in results
    assert not failures


def test_ndjson_with_a_deep_line_and_a_bad_id_keeps_the_other_patients(tmp_path: Path) -> None:
    lines = [
        orjson.dumps(GOOD),
        json.dumps({"resourceType": "Patient", "id": "deep", "extension": [nested(600)]}).encode(),
        orjson.dumps({"resourceType": "Patient", "id": "no good"}),
        orjson.dumps({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/" + "9" * 10_000}}),
    ]
    (tmp_path / "Patient.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    source = open_source(tmp_path)
    outcomes: dict[str, object] = {}
    report = run(source, NOW, on_patient=lambda pid, outcome: outcomes.__setitem__(pid, outcome))
    assert not isinstance(outcomes["good"], Failure)
    assert not isinstance(outcomes["deep"], Failure)
    assert [f.patient_id for f in report.failures] == ["no good"]
    assert "Patient.ndjson:3" in report.failures[0].reason
    assert any("Patient.ndjson:4" in p.issue.resource for p in source.problems)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["\ud800", "a\udfffb", "ü\udc00"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=0xDFFF), max_size=8), children, max_size=4)
    ),
    max_leaves=40,
)


@given(JSON_VALUES, st.integers(min_value=0, max_value=MAX_DEPTH + 2))
@settings(max_examples=300, deadline=None)
def test_the_fast_screen_never_passes_what_the_naming_walk_refuses(value: Any, extra_depth: int) -> None:
    """``screen`` walks a resource twice only when the first, path-free walk finds something: that
    walk must never let through a resource the element-naming walk would refuse (surrogates, depth)."""
    resource: dict[str, Any] = {"resourceType": "Basic", "id": "x", "extension": [value]}
    for _ in range(extra_depth):
        resource = {"resourceType": "Basic", "id": "x", "contained": [resource]}
    if jsonlimits._within_limits(resource):
        assert jsonlimits._first_violation(resource, "Basic") is None
    assert (jsonlimits.screen(resource) is None) == (jsonlimits._first_violation(resource, "Basic") is None)


@given(JSON_VALUES, st.integers(min_value=0, max_value=MAX_DEPTH + 2))
@settings(max_examples=300, deadline=None)
def test_what_orjson_clears_the_naming_walk_passes(value: Any, extra_depth: int) -> None:
    """The C fast path (orjson's indented output) may only clear resources the walk would pass."""
    resource: dict[str, Any] = {"resourceType": "Basic", "id": "x", "extension": [value]}
    for _ in range(extra_depth):
        resource = {"resourceType": "Basic", "id": "x", "contained": [resource]}
    if jsonlimits._cleared(resource, "Basic"):
        assert jsonlimits._first_violation(resource, "Basic") is None


def chain(levels: int, bottom: Any) -> dict[str, Any]:
    """A resource ``levels`` containers deep (the resource itself is level 1), ``bottom`` the deepest."""
    value = bottom
    for _ in range(levels - 2):
        value = {"x": value}
    return {"resourceType": "Basic", "id": "x", "x": value}


@pytest.mark.parametrize("bottom", [{}, [], {"x": "y"}, ["y"]])
def test_the_depth_limit_is_the_same_cleared_by_orjson_or_walked(bottom: Any) -> None:
    # Members of the deepest allowed container are left to the walk (the check is by indentation)
    assert jsonlimits._cleared(chain(MAX_DEPTH, bottom), "Basic") == (not bottom)
    assert jsonlimits._cleared(chain(MAX_DEPTH - 1, bottom), "Basic")
    assert jsonlimits.screen(chain(MAX_DEPTH, bottom)) is None
    assert not jsonlimits._cleared(chain(MAX_DEPTH + 1, bottom), "Basic")
    violation = jsonlimits.screen(chain(MAX_DEPTH + 1, bottom))
    assert violation is not None
    assert violation.message == f"nested more than {MAX_DEPTH} levels deep"
    assert violation.element.startswith("Basic.x.x.x")


def test_what_orjson_cannot_clear_is_walked_and_named() -> None:
    surrogate_name = {"resourceType": "Basic", "id": "x", "extension": [{"url\ud800": "u"}]}
    assert not jsonlimits._cleared(surrogate_name, "Basic")
    found = jsonlimits.screen(surrogate_name)
    assert found is not None
    assert "lone surrogate" in found.message
    assert found.element == "Basic.extension[0]"
    long_text = {"resourceType": "Basic", "id": "x", "code": {"text": "a" * (MAX_STRING + 1)}}
    assert not jsonlimits._cleared(long_text, "Basic")
    found = jsonlimits.screen(long_text)
    assert found is not None
    assert found.element == "Basic.code.text"
    assert found.code == "too-costly"
    at_the_limit = {"resourceType": "Basic", "id": "x", "code": {"text": "a" * MAX_STRING}}
    assert not jsonlimits._cleared(at_the_limit, "Basic")  # more bytes than MAX_STRING: walked, and passes
    assert jsonlimits.screen(at_the_limit) is None
    big_number = {"resourceType": "Basic", "id": "x", "valueInteger": 1 << 70}  # beyond orjson's 64 bits
    assert not jsonlimits._cleared(big_number, "Basic")
    assert jsonlimits.screen(big_number) is None
    attachment = {"resourceType": "Binary", "id": "x", "data": "QUJD"}  # never copied just to be cleared
    assert not jsonlimits._cleared(attachment, "Binary")
    assert jsonlimits.screen(attachment) is None
    large = "QUJD" * (1 << 15)  # 128 Ki characters of base64
    inline = {"resourceType": "DocumentReference", "id": "d", "content": [{"attachment": {"data": large}}]}
    assert not jsonlimits._cleared(inline, "DocumentReference")  # large data inline: walked, not copied
    assert jsonlimits.screen(inline) is None
    note = {"resourceType": "DocumentReference", "id": "d", "content": [{"attachment": {"data": "QUJD"}}]}
    assert jsonlimits._cleared(note, "DocumentReference")  # a small note inline: cleared in C
    linked = {"resourceType": "DocumentReference", "id": "d", "content": [{"attachment": {"url": "Binary/b"}}]}
    assert jsonlimits._cleared(linked, "DocumentReference")  # no data: cleared in C
    bad_url = {"resourceType": "DiagnosticReport", "id": "r", "presentedForm": [{"url": "Binary/\ud800"}]}
    assert not jsonlimits._cleared(bad_url, "DiagnosticReport")
    found = jsonlimits.screen(bad_url)
    assert found is not None
    assert found.element == "DiagnosticReport.presentedForm[0].url"


# Resources each breaking one limit (or none), to mix into a page for ``screen_all``.
_PAGE_RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Observation", "id": "ok", "code": {"text": "heart rate"}},
    {"resourceType": "Observation", "id": "bad id!"},
    {"resourceType": "Observation", "id": 7},
    {"resourceType": "no type"},
    {"resourceType": ["Observation"], "id": "x"},
    {"id": "no-type"},
    {"resourceType": "Basic", "id": "s", "code": {"text": "a\ud800b"}},
    {"resourceType": "Basic", "id": "n", "valueInteger": 1 << 70},
    {"resourceType": "Basic", "id": "l", "code": {"text": "a" * (MAX_STRING + 1)}},
    chain(MAX_DEPTH, {}),
    chain(MAX_DEPTH, {"x": "y"}),
    chain(MAX_DEPTH + 1, {}),
    {"resourceType": "Binary", "id": "b", "data": "QUJD"},
    {"resourceType": "DocumentReference", "id": "d", "content": [{"attachment": {"data": "QUJD" * (1 << 15)}}]},
    {"resourceType": "DocumentReference", "id": "e", "content": [{"attachment": {"data": "QUJD"}}]},
    {"resourceType": "DocumentReference", "id": "f", "content": "not a list"},
]


@given(st.lists(st.sampled_from(range(len(_PAGE_RESOURCES))), max_size=250), JSON_VALUES)
@settings(max_examples=200, deadline=None)
def test_a_page_screened_at_once_gives_each_resource_its_own_verdict(picks: list[int], value: Any) -> None:
    """``screen_all`` (a search page cleared a chunk at a time) answers exactly what ``screen`` does
    for each resource, whatever the others in its chunk break."""
    page = [_PAGE_RESOURCES[i] for i in picks] + [{"resourceType": "Basic", "id": "v", "extension": [value]}]
    assert jsonlimits.screen_all(page) == [jsonlimits.screen(r) for r in page]


@pytest.mark.parametrize("bad", range(1, len(_PAGE_RESOURCES)))
def test_one_bad_resource_in_a_page_of_good_ones_is_the_only_one_refused(bad: int) -> None:
    good = [{**_PAGE_RESOURCES[0], "id": f"ok-{i}"} for i in range(250)]
    page = [*good[:150], _PAGE_RESOURCES[bad], *good[150:]]
    expected = jsonlimits.screen(_PAGE_RESOURCES[bad])
    assert jsonlimits.screen_all(page) == [None] * 150 + [expected] + [None] * 100
    assert jsonlimits.screen_all(good) == [None] * 250
