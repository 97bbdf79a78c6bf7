"""A small realistic cohort (US Core shapes, BME data buried among unrelated history) through a real
FHIR server: HAPI stores every resource, the fetch returns every resource the analysis reads, and the
conclusions equal those from the same resources read from files and from the plain patients."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bmefhir.cli.synth import transaction_of
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.patient_fetch import PATIENT_SEARCHES, fetch_patient
from bmefhir.pipeline import process_patient
from bmefhir.synth import SCENARIOS, synth_patient

from .target import Target, rewrite_ids

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# One of each family: mimic with a refuted diagnosis and an order in error, steroid-driven, red-flag.
INDEXES = (SCENARIOS.index("transient_osteoporosis"), SCENARIOS.index("osteonecrosis"), SCENARIOS.index("infection"))
SEED = 31


def _refs(resources: list[dict[str, Any]]) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in resources}


def test_realistic_cohort_on_the_server_concludes_as_from_file_and_as_the_plain_patients(
    target: Target, client: FhirClient
) -> None:
    patients = [synth_patient(i, seed=SEED, resources=250, realistic=True) for i in INDEXES]
    bundle = rewrite_ids(transaction_of(patients), target.prefix + f"real{target.run}-")
    target.load(client, bundle)
    loaded = [e["resource"] for e in bundle["entry"]]
    kinds = {r["resourceType"] for r in loaded}
    assert {"Encounter", "Immunization", "MedicationRequest", "DocumentReference", "Procedure"} <= kinds
    for i, pid in zip(INDEXES, [r["id"] for r in loaded if r["resourceType"] == "Patient"], strict=True):
        mine = [
            r
            for r in loaded
            if r["id"] == pid or r.get("subject", r.get("patient", {})).get("reference") == f"Patient/{pid}"
        ]
        raw = fetch_patient(client, pid, count=50)  # several pages per search
        read_kinds = {"Patient", *PATIENT_SEARCHES}
        assert _refs(raw.resources) == {ref for ref in _refs(mine) if ref.split("/")[0] in read_kinds}
        assert raw.requests > 1
        server = process_patient(raw.resources, NOW, patient_id=pid).analysis
        from_file = process_patient(mine, NOW, patient_id=pid).analysis
        plain = process_patient(synth_patient(i, seed=SEED, resources=60), NOW).analysis
        top = server.differential.ranking[0].code
        assert top == from_file.differential.ranking[0].code == plain.differential.ranking[0].code == SCENARIOS[i]
        assert [m.ref for m in server.record.medications] == [m.ref for m in from_file.record.medications]
