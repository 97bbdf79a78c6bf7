"""The patient read through Patient ``$everything`` (one operation for all eight types) against the real
server: the same resources and issues as the eight per-type searches, for the examples and a realistic
record, whether or not every page fits; what the compartment only references (another patient's result,
Encounters) is not read as the patient's. The fallbacks are fault-injected in
``tests/fhir/test_fhir_everything.py``."""

from __future__ import annotations

from typing import Any

from bmefhir.cli.synth import transaction_of
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES, fetch_patient, patient_requests, supports_everything
from bmefhir.fhir.raw import RawPatient
from bmefhir.synth import SCENARIOS, synth_patient
from bmefhir.testing.examples import list_examples

from .target import Recording, Target, rewrite_ids, versions


def _same_read(client: FhirClient, pid: str, count: int) -> RawPatient:
    everything = fetch_patient(client, pid, count=count, strategy="everything")
    searches = fetch_patient(client, pid, count=count, strategy="searches")
    assert versions(everything) == versions(searches)
    assert everything.issues == searches.issues
    assert everything.existing == searches.existing
    return everything


def test_on_the_sandbox_auto_reads_through_everything_one_request_of_two_operations(loaded: Target) -> None:
    recording = Recording()
    with loaded.client(transport=recording) as client:
        assert supports_everything(client)  # HAPI's CapabilityStatement lists Patient $everything
        recording.sent.clear()
        pid = loaded.prefix + list_examples()[0].expectation.patient
        raw = fetch_patient(client, pid, strategy="auto")
        default = fetch_patient(client, pid)
    assert raw.requests == default.requests == 1
    everything, searches = recording.sent
    outputs = f"Patient?_id={pid}&_revinclude=Provenance:entity&_include:iterate=Provenance:target"
    assert everything == [outputs, f"Patient/{pid}/$everything?_type={','.join(PATIENT_SEARCHES)}&_count=1000"]
    # The default is not $everything: on HAPI it costs more server CPU than the folded read
    # (docs/performance.md).
    assert searches == [r.url for r in patient_requests(pid, 1000)]


def test_every_example_reads_the_same_through_everything_as_by_type_searches(
    loaded: Target, client: FhirClient
) -> None:
    for case in list_examples():
        raw = _same_read(client, loaded.prefix + case.expectation.patient, count=1000)
        assert len(raw.resources) > 1


def test_a_realistic_record_reads_the_same_in_small_pages_and_whole(target: Target, client: FhirClient) -> None:
    index = SCENARIOS.index("osteonecrosis")
    bundle = rewrite_ids(
        transaction_of([synth_patient(index, seed=41, resources=250, realistic=True)]), f"ev{target.run}-"
    )
    target.load(client, bundle)
    pid = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    whole = _same_read(client, pid, count=1000)
    paged = _same_read(client, pid, count=7)  # every type over several pages
    assert versions(whole) == versions(paged)
    assert paged.requests > 10  # the pages were followed
    kinds = {r["resourceType"] for r in whole.resources}
    assert "Encounter" not in kinds  # referenced by the compartment, not one of the types read
    assert {"Observation", "Condition", "MedicationRequest", "DocumentReference"} <= kinds


def test_another_patients_result_referenced_by_this_patients_report_is_not_read(
    target: Target, client: FhirClient
) -> None:
    a, b = f"{target.prefix}eva{target.run}", f"{target.prefix}evb{target.run}"

    def patient(pid: str) -> dict[str, Any]:
        return {"resourceType": "Patient", "id": pid}

    theirs = {
        "resourceType": "Observation",
        "id": f"{b}-obs",
        "status": "final",
        "code": {"text": "C-reactive protein"},
        "subject": {"reference": f"Patient/{b}"},
    }
    report = {
        "resourceType": "DiagnosticReport",
        "id": f"{a}-dr",
        "status": "final",
        "code": {"text": "MRI hip"},
        "subject": {"reference": f"Patient/{a}"},
        "result": [{"reference": f"Observation/{b}-obs"}],  # a wrong link in the source system
    }
    entries = [patient(a), patient(b), theirs, report]
    target.load(
        client,
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in entries
            ],
        },
    )
    raw = _same_read(client, a, count=1000)
    assert [f"{r['resourceType']}/{r['id']}" for r in raw.resources] == [f"Patient/{a}", f"DiagnosticReport/{a}-dr"]
