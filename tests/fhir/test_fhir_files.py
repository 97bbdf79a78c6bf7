from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from bmefhir.fhir import RawPatient, open_source, read_bulk_ndjson, read_bundle, read_folder


def write_json(path: Path, data: Any) -> Path:
    path.write_bytes(orjson.dumps(data))
    return path


def write_ndjson(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def refs(raw: RawPatient) -> list[str]:
    return [f"{r['resourceType']}/{r.get('id')}" for r in raw.resources]


def obs(rid: str, patient: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "subject": {"reference": f"Patient/{patient}"}}


def test_transaction_bundle_with_urn_uuid_references(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0d2b1c9e-0000-4000-8000-000000000002",
                "resource": {
                    "resourceType": "Observation",
                    "subject": {"reference": "urn:uuid:0d2b1c9e-0000-4000-8000-000000000001"},
                    "derivedFrom": [{"reference": "urn:uuid:0d2b1c9e-0000-4000-8000-000000000003"}],
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "urn:uuid:0d2b1c9e-0000-4000-8000-000000000001",
                "resource": {"resourceType": "Patient", "id": "pat-1"},
                "request": {"method": "PUT", "url": "Patient/pat-1"},
            },
            {
                "fullUrl": "urn:uuid:0d2b1c9e-0000-4000-8000-000000000003",
                "resource": {"resourceType": "ImagingStudy", "patient": {"reference": "Patient/pat-1"}},
            },
        ],
    }
    source = read_bundle(write_json(tmp_path / "case.json", bundle))
    (raw,) = list(source)
    assert raw.patient_id == "pat-1"
    assert refs(raw) == [
        "Patient/pat-1",
        "Observation/0d2b1c9e-0000-4000-8000-000000000002",
        "ImagingStudy/0d2b1c9e-0000-4000-8000-000000000003",
    ]
    observation = raw.resources[1]
    assert observation["subject"] == {"reference": "Patient/pat-1"}
    assert observation["derivedFrom"] == [{"reference": "ImagingStudy/0d2b1c9e-0000-4000-8000-000000000003"}]
    assert raw.issues == ()
    assert source.problems == []


def test_bad_entries_become_issues_and_the_rest_is_read(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "b"}},
            {"resource": {"resourceType": "Patient", "id": "a"}},
            {"resource": {"id": "x", "subject": {"reference": "Patient/a"}}},  # no resourceType
            {"resource": obs("o1", "b")},
            {"resource": {"resourceType": "Observation", "subject": {"reference": "urn:uuid:nowhere"}}},
            {"request": {"method": "DELETE", "url": "Observation/z"}},  # no resource
            {"resource": {"resourceType": "Medication", "id": "m1"}},
            {
                "resource": {
                    "resourceType": "MedicationStatement",
                    "id": "ms",
                    "subject": {"reference": "Patient/b"},
                    "medicationReference": {"reference": "Medication/m1"},
                }
            },
        ],
    }
    source = read_bundle(write_json(tmp_path / "mixed.json", bundle))
    patients = list(source)
    assert [p.patient_id for p in patients] == ["a", "b"]
    a, b = patients
    assert refs(a) == ["Patient/a"]
    (issue,) = a.issues
    assert (issue.resource, issue.element) == ("mixed.json#Bundle.entry[2]", "resourceType")
    assert refs(b) == ["Patient/b", "Observation/o1", "MedicationStatement/ms", "Medication/m1"]
    assert [(p.issue.resource, p.issue.element) for p in source.problems] == [
        ("mixed.json#Bundle.entry[4]", "Observation.subject"),
        ("mixed.json#Bundle.entry[5]", "resource"),
    ]
    assert "urn:uuid that no Bundle entry's fullUrl matches" in source.problems[0].issue.message


def test_resources_of_a_patient_missing_from_the_source_are_kept_with_a_warning(tmp_path: Path) -> None:
    source = read_bundle(write_json(tmp_path / "one.json", obs("o1", "ghost")))
    (raw,) = list(source)
    assert raw.patient_id == "ghost"
    assert refs(raw) == ["Observation/o1"]
    assert raw.issues[0].severity == "warning"
    assert "holds no such Patient" in raw.issues[0].message


def test_invalid_json_file_with_no_patient_is_a_source_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"resourceType": "Bundle", "entry": [')
    source = read_bundle(path)
    assert list(source) == []
    (problem,) = source.problems
    assert problem.source == "broken.json"
    assert problem.issue.resource == "broken.json"
    assert "not valid JSON" in problem.issue.message


def test_folder_groups_across_files_and_reports_a_broken_file_once(tmp_path: Path) -> None:
    write_json(
        tmp_path / "a.json",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": {"resourceType": "Patient", "id": "a"}}],
        },
    )
    sub = tmp_path / "more"
    sub.mkdir()
    write_json(sub / "b-obs.json", obs("o1", "a"))
    write_json(sub / "b.json", {"resourceType": "Patient", "id": "b"})
    (tmp_path / "zz.json").write_text("not json")
    (tmp_path / "notes.txt").write_text("ignored: not *.json")
    source = read_folder(tmp_path)
    a, b = list(source)
    assert refs(a) == ["Patient/a", "Observation/o1"]
    assert refs(b) == ["Patient/b"]
    # The file's patients are unknown: its issue is the run's, once, not a copy in every patient's summary.
    assert (a.issues, b.issues) == ((), ())
    (problem,) = source.problems
    assert (problem.source, problem.issue.resource, problem.issue.severity) == (tmp_path.name, "zz.json", "error")
    assert "zz.json is not valid JSON" in problem.issue.message


def test_a_file_level_issue_goes_to_the_patients_the_file_held_and_to_the_run(tmp_path: Path) -> None:
    damaged = {
        "resourceType": "Bundlx",  # a Bundle whose resourceType is damaged: still read as a Bundle
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "c"}}, {"resource": obs("o2", "a")}],
    }
    write_json(tmp_path / "damaged.json", damaged)
    write_json(tmp_path / "a.json", {"resourceType": "Patient", "id": "a"})
    write_json(tmp_path / "b.json", {"resourceType": "Patient", "id": "b"})
    (tmp_path / "empty.json").write_text("")
    source = read_folder(tmp_path)
    a, b, c = list(source)
    assert refs(a) == ["Patient/a", "Observation/o2"]
    held = [(i.resource, i.element) for i in c.issues]
    assert held == [("damaged.json", "Bundle.resourceType")]
    assert [(i.resource, i.element) for i in a.issues] == held  # o2 came from that file
    assert b.issues == ()
    assert [(p.issue.resource, p.issue.element) for p in source.problems] == [
        ("damaged.json", "Bundle.resourceType"),
        ("empty.json", "file"),
    ]


def test_a_single_unreadable_file_among_many_patients_is_one_problem(tmp_path: Path) -> None:
    for i in range(5):
        write_json(tmp_path / f"p{i}.json", {"resourceType": "Patient", "id": f"p{i}"})
    (tmp_path / "cut.json").write_text('{"resourceType": "Bundle", "entry": [')
    source = read_folder(tmp_path)
    patients = list(source)
    assert [p.patient_id for p in patients] == [f"p{i}" for i in range(5)]
    assert all(p.issues == () for p in patients)
    assert [p.issue.resource for p in source.problems] == ["cut.json"]


def test_duplicate_resource_across_files_is_used_once(tmp_path: Path) -> None:
    write_json(tmp_path / "1.json", {"resourceType": "Patient", "id": "a"})
    write_json(tmp_path / "2.json", obs("o1", "a"))
    write_json(tmp_path / "3.json", obs("o1", "a"))
    (raw,) = list(read_folder(tmp_path))
    assert refs(raw) == ["Patient/a", "Observation/o1"]
    assert raw.issues[0].code == "duplicate"
    assert raw.issues[0].resource == "Observation/o1"


def test_an_ndjson_file_that_cannot_be_read_is_one_problem_not_an_issue_per_patient(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "Patient.ndjson", [{"resourceType": "Patient", "id": pid} for pid in ("a", "b")])
    (tmp_path / "Observation.ndjson").mkdir()  # named like an export file, but opening it fails (a folder)
    source = read_bulk_ndjson(tmp_path)
    a, b = list(source)
    assert (a.issues, b.issues) == ((), ())
    (problem,) = source.problems
    assert (problem.issue.resource, problem.issue.element) == ("Observation.ndjson", "file")
    assert "Observation.ndjson could not be read" in problem.issue.message


def test_ndjson_export_with_malformed_line(tmp_path: Path) -> None:
    write_ndjson(
        tmp_path / "Patient.ndjson", [{"resourceType": "Patient", "id": "b"}, {"resourceType": "Patient", "id": "a"}]
    )
    write_ndjson(tmp_path / "Observation.ndjson", [obs("o1", "a"), '{"resourceType": "Observ', "", obs("o2", "b")])
    source = read_bulk_ndjson(tmp_path)
    a, b = list(source)
    assert refs(a) == ["Patient/a", "Observation/o1"]
    assert refs(b) == ["Patient/b", "Observation/o2"]
    (problem,) = source.problems
    assert problem.issue.resource == "Observation.ndjson:2"
    assert "line 2 is not valid JSON" in problem.issue.message


def test_multi_part_ndjson_keeps_export_order(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "Patient.ndjson", [{"resourceType": "Patient", "id": "a"}])
    write_ndjson(tmp_path / "Observation.10.ndjson", [obs("o10", "a")])
    write_ndjson(tmp_path / "Observation.2.ndjson", [obs("o2", "a")])
    write_ndjson(tmp_path / "Observation.1.ndjson", [obs("o1", "a")])
    write_ndjson(
        tmp_path / "MedicationStatement.ndjson",
        [
            {
                "resourceType": "MedicationStatement",
                "id": "s",
                "subject": {"reference": "Patient/a"},
                "medicationReference": {"reference": "Medication/m"},
            }
        ],
    )
    write_ndjson(
        tmp_path / "MedicationRequest.ndjson",
        [{"resourceType": "MedicationRequest", "id": "r", "subject": {"reference": "Patient/a"}}],
    )
    write_ndjson(
        tmp_path / "Medication.ndjson",
        [{"resourceType": "Medication", "id": "m"}, {"resourceType": "Medication", "id": "unused"}],
    )
    source = open_source(tmp_path)
    (raw,) = list(source)
    assert refs(raw) == [
        "Patient/a",
        "MedicationStatement/s",
        "Observation/o1",
        "Observation/o2",
        "Observation/o10",
        "Medication/m",
    ]
    assert [i.severity for i in raw.issues] == ["information"]  # MedicationRequest dropped
    assert [p.issue.resource for p in source.problems] == ["Medication.ndjson:2"]


def test_open_source_picks_the_reader(tmp_path: Path) -> None:
    write_json(tmp_path / "p.json", {"resourceType": "Patient", "id": "a"})
    assert [p.patient_id for p in open_source(tmp_path / "p.json")] == ["a"]
    assert [p.patient_id for p in open_source(tmp_path)] == ["a"]
    single = write_ndjson(tmp_path / "x.ndjson", [{"resourceType": "Patient", "id": "n"}])
    assert [p.patient_id for p in open_source(single)] == ["n"]
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path / "missing")
