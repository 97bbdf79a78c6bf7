"""Normalisation: raw FHIR R4 JSON of one patient → the typed ``PatientRecord``."""

from __future__ import annotations

from bmefhir.normalize.build import build_record

__all__ = ["build_record"]
