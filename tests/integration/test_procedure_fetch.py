"""A splenectomy recorded only as a Procedure on the server reaches the analysis through every server
entry point: the REST fetch (``bmefhir run``), write-back's Provenance, and sync change discovery."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.patient_fetch import fetch_patient
from bmefhir.pipeline import process_patient
from bmefhir.render import ids
from bmefhir.sync.discovery import Discovery, discover_changed, server_time, since_with_overlap
from bmefhir.testing.examples import list_examples

from .target import Target

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BMEFHIR = [sys.executable, "-c", "from bmefhir.cli import main; main()"]
# Transient osteoporosis of the hip: nothing in it is an infection risk factor.
CASE = next(c for c in list_examples() if c.name.startswith("seed-000"))


def _splenectomy(pid: str) -> dict[str, Any]:
    """A transaction holding only the Procedure (SNOMED CT 234319005 Splenectomy, conditions.yaml)."""
    procedure = {
        "resourceType": "Procedure",
        "id": f"{pid}-splenectomy",
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "234319005", "display": "Splenectomy"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "performedDateTime": "2015-03-02",
    }
    request = {"method": "PUT", "url": f"Procedure/{procedure['id']}"}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": procedure, "request": request}]}


def test_a_splenectomy_only_on_the_server_is_fetched_analysed_cited_and_discovered(
    target: Target, client: FhirClient
) -> None:
    extra = f"proc{target.run}-"
    target.load(client, target.example_bundle(CASE, extra=extra))
    pid = target.prefix + extra + CASE.expectation.patient
    before = process_patient(fetch_patient(client, pid).resources, NOW, patient_id=pid).analysis
    assert "immunosuppressed" not in before.derived.risk_factors  # nothing else in the record is a risk of infection

    cursor = server_time(next(client.search_bundles("Patient", {"_count": 1, "_elements": "id"})))
    assert cursor is not None  # the server's clock, as a sync run's cursor: before the Procedure was stored
    # Not given the test tag: sync discovery takes any bmefhir-tagged resource for its own output and
    # skips it. The id carries the patient's prefix; target.load lists it for an external server's cleanup.
    bundle = _splenectomy(pid)
    target.load(client, bundle)
    proc_ref = f"Procedure/{bundle['entry'][0]['resource']['id']}"
    stored = client.read("Procedure", proc_ref.split("/")[1])

    raw = fetch_patient(client, pid)
    assert [f"Procedure/{r['id']}" for r in raw.resources if r["resourceType"] == "Procedure"] == [proc_ref]
    assert raw.requests == 1  # still one batch: the Patient with our outputs and the eight data searches

    ran = subprocess.run(
        [*BMEFHIR, "run", "--fhir-base", target.base, "--patient", pid, "--write", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    (line,) = [json.loads(x) for x in ran.stdout.splitlines() if x.startswith("{")]
    assert "immunosuppressed" in line["risk_factors"]
    infection = next(c for c in line["ranking"] if c["code"] == "infection")
    cited = {x["criterion"] for x in infection["explanation"] if proc_ref in x["evidence"]}
    assert "INF-IMMUNOSUPPRESSED" in cited

    provenance = client.read("Provenance", ids.output_uuid(f"Patient/{pid}", "provenance"))
    entities = {e["what"]["reference"] for e in provenance["entity"]}
    assert f"{proc_ref}/_history/{stored['meta']['versionId']}" in entities

    # Sync: a patient whose only change since the cursor is the Procedure is found by that Procedure.
    found = Discovery()
    since = since_with_overlap(cursor, timedelta(0))  # as the sync runner forms it
    assert pid in set(discover_changed(client, since, found))
    assert "Procedure" in found.types
    assert proc_ref in found.versions[pid]
