"""Change discovery that does not re-analyse what did not change (issue 13, item 4), against real HAPI.

A cohort is loaded and synced; 10 patients get a new Observation; the next run's overlap window
finds the whole cohort again, but only the 10 are analysed and the rest are recognised as unchanged
from the versions stored with the sync state. A knowledge-base/software version change re-analyses
everyone; a patient whose outputs were deleted on the server is re-analysed even with the same inputs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from hapi_helpers import fresh_seed, load, now_on_server, reports_per_patient
from sqlalchemy import update

from bmefhir.fhir import FhirClient
from bmefhir.render import ids
from bmefhir.sync import LocalExecutor
from bmefhir.sync.discovery import parse_instant
from bmefhir.sync.executors import process_one
from bmefhir.sync.fingerprint import analysis_version
from bmefhir.sync.models import PatientState
from bmefhir.sync.runner import SyncOptions, server_key, sync_once
from bmefhir.sync.spec import SyncJobSpec
from bmefhir.sync.store import SyncStore

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]  # upper bounds for a loaded machine

CLI = [sys.executable, "-c", "from bmefhir.cli import main; main()"]


def overlap_back_to(store: SyncStore, base: str, since: str) -> timedelta:
    """An overlap window that reaches back exactly to ``since`` (the cohort load lies inside it)."""
    cursor = store.cursor(server_key(base))
    assert cursor is not None
    return parse_instant(cursor) - parse_instant(since)


def add_observation(client: FhirClient, patient_id: str) -> None:
    """A new Observation for the patient: a copy of one of its own with a new id and a new value time."""
    obs = next(client.search("Observation", {"patient": patient_id, "_count": 1}))
    new = {k: v for k, v in obs.items() if k not in ("id", "meta")}
    new["id"] = f"{obs['id']}-new"
    new["effectiveDateTime"] = "2024-06-01"
    client.update(new)


def test_overlap_after_a_cohort_load_analyses_only_the_changed_patients(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 40, fresh_seed(), resources=8)
    store = SyncStore(f"sqlite:///{tmp_path / 'sync.db'}")
    first = sync_once(store, fhir_base, options=SyncOptions(since=since, discovery="search"), executor=LocalExecutor(2))
    assert first.complete
    assert first.failed == 0
    assert set(ids) <= set(store.run_outcomes(first.run_id))
    assert all(store.patient_state(server_key(fhir_base), pid) is not None for pid in ids)

    changed = ids[5:15]
    with FhirClient(fhir_base) as client:
        for pid in changed:
            add_observation(client, pid)
    options = SyncOptions(discovery="search", overlap=overlap_back_to(store, fhir_base, since))
    second = sync_once(store, fhir_base, options=options, executor=LocalExecutor(2))
    assert second.complete
    assert second.failed == 0
    outcomes = store.run_outcomes(second.run_id)
    assert set(ids) <= set(outcomes)  # the overlap did find the whole cohort again
    # The changed patients were analysed again; their outputs are rewritten only where the new Observation
    # changed what the conclusions cite (the content hash covers the cited inputs: docs/output-resources.md).
    assert {pid for pid in ids if outcomes[pid] in ("written", "unchanged")} == set(changed)
    assert {pid for pid in ids if outcomes[pid] == "same-inputs"} == set(ids) - set(changed)
    assert second.analysed == 10
    assert second.written + second.unchanged == 10
    assert second.inputs_unchanged == len(outcomes) - 10
    # the 30 unchanged cost no request: recognised from the versions discovery saw
    assert second.requests < first.requests / 2
    assert reports_per_patient(fhir_base, since).most_common(1)[0][1] == 1

    # The stored inputs now hold the new Observation: a third run over the same window analyses no one.
    third = sync_once(store, fhir_base, options=options, executor=LocalExecutor(2))
    assert third.analysed == 0
    assert third.inputs_unchanged == third.discovered
    store.close()


def test_a_knowledge_or_software_version_change_reanalyses_everyone(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    ids = load(fhir_base, 6, fresh_seed())
    state = f"sqlite:///{tmp_path / 'sync.db'}"
    store = SyncStore(state)
    first = sync_once(store, fhir_base, options=SyncOptions(since=since, discovery="search"), executor=LocalExecutor(2))
    assert first.complete
    assert first.analysed >= 6
    # As if the outputs had been computed by an earlier knowledge base: the stored analysis version differs.
    with store.engine.begin() as conn:
        conn.execute(update(PatientState).values(analysis="knowledge 0.0.1; bmefhir 0.0.0"))
    store.close()
    args = [*CLI, "sync", "--fhir-base", fhir_base, "--state", state, "--discovery", "search", "--since", since]
    run = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=240, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["inputs_unchanged"] == 0
    assert summary["analysed"] == summary["discovered"] >= 6
    store = SyncStore(state)
    assert {store.patient_state(server_key(fhir_base), pid).analysis for pid in ids} == {analysis_version()}  # type: ignore[union-attr]
    store.close()
    # ... and the next run recognises them again; the text summary says so.
    run = subprocess.run(args, capture_output=True, text=True, timeout=240, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    counted = re.search(r"inputs unchanged (\d+) \(not analysed\), analysed 0,", run.stderr)
    assert counted is not None, run.stderr[-2000:]
    assert int(counted.group(1)) == summary["discovered"]


def test_same_inputs_after_the_fetch_unless_the_outputs_were_removed(fhir_base: str, tmp_path: Path) -> None:
    since = now_on_server(fhir_base)
    (pid,) = load(fhir_base, 1, fresh_seed())
    store = SyncStore(f"sqlite:///{tmp_path / 'sync.db'}")
    first = sync_once(store, fhir_base, options=SyncOptions(since=since, discovery="search"), executor=LocalExecutor(1))
    assert store.run_outcomes(first.run_id)[pid] == "written"
    known = store.patient_state(server_key(fhir_base), pid)
    assert known is not None
    store.close()
    job = SyncJobSpec(fhir_base=fhir_base, now="2026-01-01T00:00:00+00:00")

    # The fetch shows the same inputs and the outputs on the server: one request, no analysis, no write.
    same = process_one(job, pid, known)
    assert (same.status, same.requests, same.content_hash) == ("same-inputs", 1, known.content_hash)
    assert same.state is None  # nothing new to store

    # Someone deleted the Provenance: same inputs, but the outputs are not all there any more.
    provenance = ids.output_uuid(f"Patient/{pid}", "provenance")
    response = httpx.delete(f"{fhir_base}/Provenance/{provenance}", timeout=60)
    assert response.status_code in (200, 204)
    redone = process_one(job, pid, known)
    assert redone.status == "written"
    assert redone.state is not None
    assert redone.state.fingerprint == known.fingerprint  # the inputs were the same all along
