"""``bmefhir synth``: write a seeded synthetic population as FHIR transaction Bundles (for load tests, demos)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from bmefhir.synth import SCENARIOS, synth_cohort

err = Console(stderr=True, soft_wrap=True)


def transaction_of(patients: Iterable[list[dict[str, Any]]]) -> dict[str, Any]:
    """One transaction that PUTs every resource to its client id: loading it twice changes nothing."""
    entries = [
        {
            "fullUrl": f"{r['resourceType']}/{r['id']}",
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        }
        for resources in patients
        for r in resources
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def synth(
    patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="how many patients")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (created)")],
    seed: Annotated[int, typer.Option("--seed", help="same seed, same population")] = 0,
    resources_per_patient: Annotated[
        int, typer.Option("--resources-per-patient", "-k", min=1, help="pad each record to about K resources")
    ] = 100,
    per_bundle: Annotated[
        int, typer.Option("--per-bundle", min=1, help="patients per transaction file (batch for bulk loads)")
    ] = 25,
    realistic: Annotated[
        bool,
        typer.Option(
            "--realistic",
            help="US Core shapes (MedicationRequest, ICD-10-CM problem-list and encounter-diagnosis Conditions) "
            "with the BME data buried among visits, vital signs, routine labs, immunizations and notes",
        ),
    ] = False,
    scenario: Annotated[
        str | None,
        typer.Option("--scenario", help=f"every patient of one scenario: {', '.join(SCENARIOS)}"),
    ] = None,
) -> None:
    """Write seeded synthetic patients (every candidate diagnosis, with labs, medications and MRI) as
    transaction Bundles, ``per-bundle`` patients per file; ``bmefhir sandbox load OUT`` loads them."""
    if scenario is not None and scenario not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario; one of {', '.join(SCENARIOS)}", param_hint="--scenario")
    out.mkdir(parents=True, exist_ok=True)
    batch: list[list[dict[str, Any]]] = []
    files = 0
    first = 0
    for index, (_pid, resources) in enumerate(
        synth_cohort(patients, seed=seed, resources=resources_per_patient, scenario=scenario, realistic=realistic)
    ):
        if not batch:
            first = index
        batch.append(resources)
        if len(batch) == per_bundle or index == patients - 1:
            path = out / f"synth-{seed}-{first:06d}.json"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(orjson.dumps(transaction_of(batch)))
            os.replace(tmp, path)
            files += 1
            batch = []
    kind = "realistic synthetic" if realistic else "synthetic"
    err.print(f"wrote {patients} {kind} patients (seed {seed}) in {files} transaction bundles to {out}")
