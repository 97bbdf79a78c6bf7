"""Examples in, analysis out, across a real FHIR server: paging, same conclusions as from files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.patient_fetch import fetch_patient
from bmefhir.fhir.raw import RawPatient
from bmefhir.pipeline import process_patient
from bmefhir.runner import run
from bmefhir.sinks import RestSink
from bmefhir.testing.examples import ExampleCase, list_examples

from .target import Target, file_patient

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CASES = list_examples()


def _refs(raw: RawPatient) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in raw.resources}


def test_every_example_is_loaded(loaded: Target, client: FhirClient) -> None:
    for case in CASES:
        pid = loaded.prefix + case.expectation.patient
        assert client.read("Patient", pid)["id"] == pid


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_server_read_pages_through_and_concludes_as_from_file(
    case: ExampleCase, loaded: Target, client: FhirClient, tmp_path
) -> None:
    bundle = loaded.example_bundle(case)
    from_file = file_patient(bundle, tmp_path)
    from_server = fetch_patient(client, loaded.prefix + case.expectation.patient, count=2)
    # _count=2: every search with more than two matches needed further pages; all of them were followed.
    assert _refs(from_server) == _refs(from_file)
    assert from_server.requests > 1
    assert from_server.existing is not None
    file_result = process_patient(from_file.resources, NOW, patient_id=from_file.patient_id)
    server_result = process_patient(from_server.resources, NOW, patient_id=from_server.patient_id)
    file_top = file_result.analysis.differential.ranking[0].code
    assert server_result.analysis.differential.ranking[0].code == file_top
    assert file_top in case.expectation.top


def test_runner_write_path_pages_and_writes(loaded: Target, client: FhirClient) -> None:
    """What ``bmefhir run --write --count 2`` does: fetch with paging, analyse, write back."""
    # Seed cases: several resources of a type each, so _count=2 needs several pages (the pub-* cases have fewer).
    pids = [loaded.prefix + c.expectation.patient for c in CASES if c.name.startswith("seed-")][:3]
    fetched = [fetch_patient(client, pid, count=2) for pid in pids]
    sink = RestSink(client)
    report = run(iter(fetched), NOW, sink=sink, bundle_kind="transaction")
    assert report.ok, report.failures
    assert report.written == 3
    assert all(raw.requests >= 3 for raw in fetched)  # several pages each
    assert [o.patient_id for o in sink.outcomes] == pids
    assert all(o.resource("DiagnosticReport").id for o in sink.outcomes)
