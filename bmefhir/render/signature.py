"""A clinician's signature on an assessment (SMART app): makes the outputs final."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Signature:
    practitioner_ref: str  # from the SMART fhirUser claim, e.g. "Practitioner/123"
    display: str | None = None
    comment: str | None = None
