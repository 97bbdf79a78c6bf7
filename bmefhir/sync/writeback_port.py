"""The one call sync makes to write a patient's result: ``bmefhir.writeback.write_back``.

``write_back(client, raw, result) -> WriteOutcome`` (created / updated /
unchanged, content-hash skip, If-Match, a per-patient lock) is owned by
``bmefhir.writeback``. This port reduces its outcome to what sync records.
Until that module is installed, the renderer's conditional-update transaction is
posted as it is (idempotent, but without the unchanged-skip).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.raw import RawPatient
from bmefhir.pipeline import PatientResult
from bmefhir.render.bundle import transaction_bundle

__all__ = ["Written", "write_result"]


@dataclass(frozen=True, slots=True)
class Written:
    changed: bool
    content_hash: str | None


def write_result(client: FhirClient, raw: RawPatient, result: PatientResult) -> Written:
    try:
        module = importlib.import_module("bmefhir.writeback")
    except ModuleNotFoundError:
        client.transaction(transaction_bundle(result.outputs))
        return Written(changed=True, content_hash=None)
    outcome = module.write_back(client, raw, result)
    status = getattr(outcome, "status", None)
    changed = getattr(outcome, "changed", None)
    if not isinstance(changed, bool):
        changed = str(getattr(status, "value", status)) != "unchanged"
    digest = getattr(outcome, "content_hash", None)
    return Written(changed=changed, content_hash=digest if isinstance(digest, str) else None)
