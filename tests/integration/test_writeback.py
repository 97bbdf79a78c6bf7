"""Write-back against a real server: no duplicates, no lost updates, no needless versions."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirConflict, FhirHttpError
from bmefhir.fhir.patient_fetch import fetch_patient
from bmefhir.pipeline import process_patient
from bmefhir.render import ids
from bmefhir.render.signature import Signature
from bmefhir.testing.examples import list_examples
from bmefhir.writeback import Action, fetch_analyse_write, write_back

from .target import TEST_TAG, Target

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CASE = next(c for c in list_examples() if c.name.startswith("seed-001"))
KINDS = (
    ("DiagnosticReport", "diagnostic-report"),
    ("ClinicalImpression", "clinical-impression"),
    ("RiskAssessment", "risk-assessment"),
)
TAGS = (TEST_TAG,)


def _fresh_patient(target: Target, client: FhirClient, copy_name: str) -> str:
    """An independent copy of seed-001 under its own ids, so tests do not see each other's writes."""
    extra = f"{copy_name}{target.run}-"  # unique even when the sandbox was reused from an earlier session
    target.load(client, target.example_bundle(CASE, extra=extra))
    return target.prefix + extra + CASE.expectation.patient


def _outputs_on_server(client: FhirClient, pid: str) -> dict[str, list[dict[str, Any]]]:
    """Every copy of each output: by identifier search, and Provenance by id."""
    ref = f"Patient/{pid}"
    found = {
        kind: list(client.search(kind, {"identifier": f"{ids.ASSESSMENT_SYSTEM}|{ids.identifier_value(ref, name)}"}))
        for kind, name in KINDS
    }
    found["Provenance"] = list(client.search("Provenance", {"_id": ids.output_uuid(ref, "provenance")}))
    return found


def _assert_one_of_each(client: FhirClient, pid: str) -> dict[str, dict[str, Any]]:
    found = _outputs_on_server(client, pid)
    assert {kind: len(copies) for kind, copies in found.items()} == {
        "DiagnosticReport": 1,
        "ClinicalImpression": 1,
        "RiskAssessment": 1,
        "Provenance": 1,
    }
    return {kind: copies[0] for kind, copies in found.items()}


def test_three_writes_leave_one_of_each_and_the_repeats_are_unchanged(target: Target, client: FhirClient) -> None:
    pid = _fresh_patient(target, client, "wb3")
    outcomes = [fetch_analyse_write(client, pid, NOW, extra_tags=TAGS)[1] for _ in range(3)]
    first, second, third = outcomes
    assert first.status is Action.CREATED
    assert {r.resource_type for r in first.resources} == {
        "DiagnosticReport",
        "ClinicalImpression",
        "RiskAssessment",
        "Provenance",
    }
    assert second.status is third.status is Action.UNCHANGED
    assert second.skipped == third.skipped == "same-content"
    assert second.requests == third.requests == 0
    on_server = _assert_one_of_each(client, pid)
    assert on_server["DiagnosticReport"]["id"] == first.resource("DiagnosticReport").id
    assert on_server["DiagnosticReport"]["meta"]["versionId"] == "1"
    # Our own outputs never come back as input: the DiagnosticReport search finds it, the record does not use it.
    raw = fetch_patient(client, pid)
    assert f"DiagnosticReport/{first.resource('DiagnosticReport').id}" not in {
        f"{r['resourceType']}/{r['id']}" for r in raw.resources
    }


def test_changed_input_updates_the_outputs_instead_of_duplicating(target: Target, client: FhirClient) -> None:
    pid = _fresh_patient(target, client, "wbchg")
    first = fetch_analyse_write(client, pid, NOW, extra_tags=TAGS)[1]
    raw = fetch_patient(client, pid)
    observation = next(r for r in raw.resources if r["resourceType"] == "Observation")
    changed = copy.deepcopy(observation)
    changed.setdefault("note", []).append({"text": "re-read by a second radiologist"})
    client.update(changed)
    second = fetch_analyse_write(client, pid, NOW, extra_tags=TAGS)[1]
    assert second.status is Action.UPDATED
    report = second.resource("DiagnosticReport")
    assert report.id == first.resource("DiagnosticReport").id
    assert report.version_id == "2"
    on_server = _assert_one_of_each(client, pid)
    assert on_server["DiagnosticReport"]["meta"]["versionId"] == "2"
    hashes = [t["code"] for t in on_server["DiagnosticReport"]["meta"]["tag"] if t["system"].endswith("/content-hash")]
    assert hashes == [second.content_hash] != [first.content_hash]  # the old hash tag does not linger


def test_concurrent_edit_between_read_and_write_is_a_conflict_not_an_overwrite(
    target: Target, client: FhirClient
) -> None:
    pid = _fresh_patient(target, client, "wbcon")
    fetch_analyse_write(client, pid, NOW, extra_tags=TAGS)
    # An input changed, so the next analysis differs and must be written ...
    obs = next(r for r in fetch_patient(client, pid).resources if r["resourceType"] == "Observation")
    client.update({**obs, "note": [{"text": "amended"}]})
    raw = fetch_patient(client, pid)
    result = process_patient(raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues)
    # ... but a clinician edits the report between our read and our write.
    report = next(iter(_outputs_on_server(client, pid)["DiagnosticReport"]))
    edited = client.update({**report, "conclusion": "Edited by Dr Who: agree, transient osteoporosis."})
    with pytest.raises(FhirConflict) as info:
        write_back(client, raw, result, extra_tags=TAGS)
    message = str(info.value)
    assert "DiagnosticReport" in message
    assert "changed on the server" in message
    assert info.value.status in (409, 412)
    now_on_server = _assert_one_of_each(client, pid)["DiagnosticReport"]
    assert now_on_server["conclusion"] == "Edited by Dr Who: agree, transient osteoporosis."
    assert now_on_server["meta"]["versionId"] == edited["meta"]["versionId"]


def test_signed_report_is_not_overwritten_by_an_unsigned_rerun(target: Target, client: FhirClient) -> None:
    pid = _fresh_patient(target, client, "wbsig")
    doctor = f"{target.prefix}wbsig-dr1"
    client.update({"resourceType": "Practitioner", "id": doctor, "meta": {"tag": [TEST_TAG]}})
    target.created.append(f"Practitioner/{doctor}")
    raw = fetch_patient(client, pid)
    signature = Signature(f"Practitioner/{doctor}", "Dr One")
    signed = process_patient(raw.resources, NOW, patient_id=pid, signature=signature)
    assert write_back(client, raw, signed, extra_tags=TAGS).status is Action.CREATED
    obs = next(r for r in raw.resources if r["resourceType"] == "Observation")
    client.update({**obs, "note": [{"text": "new information"}]})
    outcome = fetch_analyse_write(client, pid, NOW, extra_tags=TAGS)[1]
    assert outcome.skipped == "signed"
    assert not outcome.changed
    assert _assert_one_of_each(client, pid)["DiagnosticReport"]["status"] == "final"


def test_eight_parallel_identical_write_backs_leave_one_of_each(target: Target, client: FhirClient) -> None:
    pid = _fresh_patient(target, client, "wbpar")

    def write_once(_: int) -> Action:
        with target.client() as own:  # one client per thread, as in a worker pool
            return fetch_analyse_write(own, pid, NOW, extra_tags=TAGS)[1].status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(write_once, range(8)))
    assert sorted(statuses) == sorted([Action.CREATED] + [Action.UNCHANGED] * 7)
    _assert_one_of_each(client, pid)


def test_transaction_with_one_invalid_entry_changes_nothing(target: Target, client: FhirClient) -> None:
    pid = _fresh_patient(target, client, "wbatom")
    before = len(list(client.search("Observation", {"patient": pid})))
    good = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "pain score"},
        "subject": {"reference": f"Patient/{pid}"},
        "valueInteger": 3,
        "meta": {"tag": [TEST_TAG]},
    }
    bad = {**good, "status": "not-a-status"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:8f3bd1a0-1c4e-4c55-9a53-7c2a3fb0c001",
                "resource": good,
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "urn:uuid:8f3bd1a0-1c4e-4c55-9a53-7c2a3fb0c002",
                "resource": bad,
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    with pytest.raises(FhirHttpError) as info:
        client.transaction(bundle)
    assert info.value.status in (400, 422)
    assert len(list(client.search("Observation", {"patient": pid}))) == before


def test_server_operation_outcome_reaches_the_user_readably(target: Target, client: FhirClient) -> None:
    invalid = {
        "resourceType": "DiagnosticReport",
        "id": f"{target.prefix}bad-report",
        "status": "finished",
        "code": {"text": "x"},
        "meta": {"tag": [TEST_TAG]},
    }
    with pytest.raises(FhirHttpError) as info:
        client.update(invalid)
    text = str(info.value)
    assert text.startswith(f"PUT DiagnosticReport/{target.prefix}bad-report → 400 Bad Request")
    assert "finished" in text  # HAPI's diagnostics name the bad code
    assert "Fix the request" in text


def test_outputs_are_found_in_one_search_and_provenance_names_exact_versions(
    target: Target, client: FhirClient
) -> None:
    pid = _fresh_patient(target, client, "wbver")
    first = fetch_analyse_write(client, pid, NOW, extra_tags=TAGS)[1]
    assert first.status is Action.CREATED
    raw = fetch_patient(client, pid)
    assert raw.requests == 1  # one batch: the Patient with our outputs, and the eight data searches
    assert raw.existing is not None
    found = {e.resource_type: e for e in raw.existing}
    assert set(found) == {"DiagnosticReport", "ClinicalImpression", "RiskAssessment", "Provenance"}
    for written in first.resources:
        assert (found[written.resource_type].id, found[written.resource_type].version_id) == (
            written.id,
            written.version_id,
        )
    provenance = client.read("Provenance", ids.output_uuid(f"Patient/{pid}", "provenance"))
    entities = [e["what"]["reference"] for e in provenance["entity"]]
    assert f"Patient/{pid}/_history/1" in entities
    assert all("/_history/" in e for e in entities)  # inputs read from the server carry their version
    if not target.prefix:  # the sandbox, configured to keep (and pin) versions on Provenance references
        targets = {t["reference"] for t in provenance["target"]}
        assert targets == {f"{w.resource_type}/{w.id}/_history/{w.version_id}" for w in first.resources[:3]}


def test_outputs_whose_provenance_is_gone_are_left_alone_then_relinked(target: Target, client: FhirClient) -> None:
    pid = _fresh_patient(target, client, "wbgone")
    doctor = f"{target.prefix}wbgone-dr1"
    client.update({"resourceType": "Practitioner", "id": doctor, "meta": {"tag": [TEST_TAG]}})
    target.created.append(f"Practitioner/{doctor}")
    raw = fetch_patient(client, pid)
    signed = process_patient(
        raw.resources, NOW, patient_id=pid, signature=Signature(f"Practitioner/{doctor}", "Dr One")
    )
    write_back(client, raw, signed, extra_tags=TAGS)
    client.transaction(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "request": {
                        "method": "DELETE",
                        "url": f"Provenance/{ids.output_uuid(f'Patient/{pid}', 'provenance')}",
                    }
                }
            ],
        }
    )
    # The lookup now finds nothing; the unsigned re-run must neither overwrite the signed report nor duplicate it.
    rerun = fetch_analyse_write(client, pid, NOW, extra_tags=TAGS)[1]
    assert rerun.resource("DiagnosticReport").action is Action.UNCHANGED
    on_server = _assert_one_of_each(client, pid)
    assert on_server["DiagnosticReport"]["status"] == "final"
    # The Provenance written then links the outputs again: the next run sees the signed report.
    assert fetch_analyse_write(client, pid, NOW, extra_tags=TAGS)[1].skipped == "signed"
