"""Loading synthetic cohorts into the HAPI sandbox and counting bmefhir's reports there."""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter

from bmefhir.cli.synth import transaction_of
from bmefhir.fhir import FhirClient
from bmefhir.render.ids import ASSESSMENT_SYSTEM
from bmefhir.sync.discovery import server_time
from bmefhir.synth import synth_cohort

_counter = itertools.count()


def fresh_seed() -> int:
    """A seed no earlier session used on a long-running sandbox (its database outlives test runs)."""
    return (int(time.time() * 10) % 10_000_000) * 100 + os.getpid() % 50 + next(_counter) * 50 % 100


def load(base: str, n: int, seed: int, resources: int = 12, per_bundle: int = 50) -> list[str]:
    ids: list[str] = []
    batch: list[list[dict[str, object]]] = []
    with FhirClient(base, timeout=300) as client:
        for pid, resources_ in synth_cohort(n, seed=seed, resources=resources):
            ids.append(pid)
            batch.append(resources_)  # type: ignore[arg-type]
            if len(batch) == per_bundle:
                client.transaction(transaction_of(batch))  # type: ignore[arg-type]
                batch = []
        if batch:
            client.transaction(transaction_of(batch))  # type: ignore[arg-type]
    return ids


def now_on_server(base: str) -> str:
    with FhirClient(base) as client:
        bundle = next(client.search_bundles("Patient", {"_count": 1, "_elements": "id"}))
    found = server_time(bundle)
    assert found is not None
    return found


def reports_per_patient(base: str, since: str, kind: str = "DiagnosticReport") -> Counter[str]:
    """How many bmefhir ``kind`` resources each patient has (by business identifier), written since ``since``."""
    counts: Counter[str] = Counter()
    with FhirClient(base) as client:
        params = {"_lastUpdated": f"ge{since}", "_elements": "identifier", "_count": 500}
        for resource in client.search(kind, params):
            for ident in resource.get("identifier") or []:
                if ident.get("system") == ASSESSMENT_SYSTEM:
                    counts[str(ident["value"]).split("/", 1)[0]] += 1
    return counts
