"""The default read against the real server: the Patient search that also brings bmefhir's outputs and
the folded types (``_revinclude=T:patient``), then one search per other type. It must read exactly what
the eight per-type searches read (resources, versions, issues, existing outputs), in one request of six
operations, and fall back to a folded type's own search where the server may have cut it short: HAPI
silently includes at most 1,000 resources per ``_revinclude`` (``maximumIncludesToLoadPerPage``).
Refusals and servers that ignore the parameter are fault-injected in ``tests/fhir/test_fhir_folded.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bmefhir.cli.synth import transaction_of
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.patient_fetch import (
    FOLD_LIMIT,
    FOLDED_TYPES,
    PATIENT_SEARCHES,
    fetch_patient,
    forget_capabilities,
    patient_requests,
)
from bmefhir.fhir.raw import RawPatient
from bmefhir.synth import SCENARIOS, synth_patient
from bmefhir.testing.examples import list_examples
from bmefhir.writeback import fetch_analyse_write

from .target import TEST_TAG, Recording, Target, rewrite_ids, versions

pytestmark = pytest.mark.slow  # large records through HAPI: about 30 s

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _same_read(client: FhirClient, pid: str, count: int = 1000) -> RawPatient:
    """The default read, checked against the eight per-type searches."""
    forget_capabilities()  # a fresh process: the server is trusted to fold until it shows otherwise
    folded = fetch_patient(client, pid, count=count)
    searches = fetch_patient(client, pid, count=count, strategy="searches")
    assert versions(folded) == versions(searches)
    assert folded.issues == searches.issues
    assert folded.existing == searches.existing
    return folded


def _procedures(pid: str, n: int) -> dict[str, Any]:
    """A Patient with ``n`` routine Procedures (venipuncture: not a risk factor) and a hip MRI."""
    resources: list[dict[str, Any]] = [{"resourceType": "Patient", "id": pid}]
    resources += [
        {
            "resourceType": "Procedure",
            "id": f"{pid}-p{i}",
            "status": "completed",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "82078001", "display": "Venipuncture"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "performedDateTime": f"20{10 + i % 15:02d}-0{1 + i % 9}-1{i % 10}",
        }
        for i in range(n)
    ]
    resources.append(
        {
            "resourceType": "ImagingStudy",
            "id": f"{pid}-mri",
            "status": "available",
            "subject": {"reference": f"Patient/{pid}"},
            "started": "2026-10-01",
        }
    )
    for r in resources:
        r["meta"] = {"tag": [dict(TEST_TAG)]}
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_the_default_read_is_one_request_of_six_operations_and_reads_what_the_searches_read(loaded: Target) -> None:
    recording = Recording()
    case = next(c for c in list_examples() if c.name.startswith("seed-001"))  # has ImagingStudies
    pid = loaded.prefix + case.expectation.patient
    with loaded.client(transport=recording) as client:
        raw = _same_read(client, pid)
    assert raw.requests == 1
    folded, searches = recording.sent
    assert folded == [r.url for r in patient_requests(pid, 1000)]
    assert len(folded) == 1 + len(PATIENT_SEARCHES) - len(FOLDED_TYPES)
    assert folded[0].endswith(
        "&_revinclude=ImagingStudy:patient&_revinclude=MedicationStatement:patient&_revinclude=Procedure:patient"
    )
    assert len(searches) == 1 + len(PATIENT_SEARCHES)
    assert any(r["resourceType"] == "ImagingStudy" for r in raw.resources)  # read through the Patient search


def test_every_example_reads_the_same_folded_as_by_type_searches(loaded: Target, client: FhirClient) -> None:
    for case in list_examples():
        raw = _same_read(client, loaded.prefix + case.expectation.patient)
        assert len(raw.resources) > 1


def test_a_realistic_record_reads_the_same_folded_in_small_pages_and_whole(target: Target, client: FhirClient) -> None:
    index = SCENARIOS.index("osteonecrosis")
    bundle = rewrite_ids(
        transaction_of([synth_patient(index, seed=43, resources=250, realistic=True)]), f"fo{target.run}-"
    )
    target.load(client, bundle)
    pid = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    whole = _same_read(client, pid)
    paged = _same_read(client, pid, count=7)
    assert versions(whole) == versions(paged)
    assert whole.requests == 1
    assert paged.requests > 10  # the other types' pages were followed


def test_outputs_written_after_a_folded_read_are_found_by_the_next_one(target: Target, client: FhirClient) -> None:
    case = next(c for c in list_examples() if c.name.startswith("seed-001"))
    extra = f"fw{target.run}-"
    target.load(client, target.example_bundle(case, extra=extra))
    pid = target.prefix + extra + case.expectation.patient
    forget_capabilities()
    _, first = fetch_analyse_write(client, pid, NOW, extra_tags=(TEST_TAG,))
    raw = _same_read(client, pid)
    assert raw.existing is not None
    assert {e.resource_type for e in raw.existing} == {
        "DiagnosticReport",
        "ClinicalImpression",
        "RiskAssessment",
        "Provenance",
    }
    assert {(e.resource_type, e.id) for e in raw.existing} == {(w.resource_type, w.id) for w in first.resources}
    _, again = fetch_analyse_write(client, pid, NOW, extra_tags=(TEST_TAG,))
    assert again.skipped == "same-content"  # the content hash read through the folded search
    assert again.requests == 0


def test_a_folded_type_at_the_limit_is_read_again_by_its_own_search(target: Target, client: FhirClient) -> None:
    below, at = f"{target.prefix}fl{target.run}-a", f"{target.prefix}fl{target.run}-b"
    target.load(client, _procedures(below, FOLD_LIMIT - 1))
    target.load(client, _procedures(at, FOLD_LIMIT))
    raw_below = _same_read(client, below)
    raw_at = _same_read(client, at)
    assert raw_below.requests == 1  # served whole by the Patient search
    assert raw_at.requests == 2  # and one more batch: the Procedure search
    assert sum(r["resourceType"] == "Procedure" for r in raw_at.resources) == FOLD_LIMIT


def test_what_hapi_cuts_from_a_revinclude_is_read_by_search_and_the_outputs_are_still_found(
    target: Target, client: FhirClient
) -> None:
    pid = f"{target.prefix}ft{target.run}"
    target.load(client, _procedures(pid, 1_050))
    forget_capabilities()
    fetch_analyse_write(client, pid, NOW, extra_tags=(TEST_TAG,))
    recording = Recording()
    with target.client(transport=recording) as own:
        head = own.batch(patient_requests(pid, 1000)[:1])[0]
        assert head.resource is not None
        included = [e for e in head.resource["entry"] if e["resource"]["resourceType"] == "Procedure"]
        assert len(included) == 1_000  # HAPI's maximumIncludesToLoadPerPage: cut short, with no next link
        assert not any(link["relation"] == "next" for link in head.resource.get("link", []))
        raw = _same_read(own, pid)
    assert sum(r["resourceType"] == "Procedure" for r in raw.resources) == 1_050
    assert raw.existing is not None
    assert len(raw.existing) == 4  # the Provenance's targets too, after 1,000 included Procedures
    folded_batch, procedures = recording.sent[1:3]
    assert folded_batch == [r.url for r in patient_requests(pid, 1000)]
    assert procedures == [f"Procedure?patient={pid}&_count=1000"]
