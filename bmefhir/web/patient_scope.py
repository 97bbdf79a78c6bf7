"""Keeping every read the app makes on a user's behalf inside the launch patient's record.

An EHR should enforce ``patient/*`` scopes itself, but the app does not rely on it: a resource is
shown or analysed only when it *is* the launch Patient or its ``subject``/``patient`` reference
names that Patient (relative, or absolute on the launch FHIR base). Anything else is dropped, counted
and reported as a data-quality issue, never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bmefhir.fhir.raw import RawPatient
from bmefhir.record import DataQualityIssue

__all__ = ["belongs_to", "within_patient"]

_SUBJECT_FIELDS = ("subject", "patient")


def belongs_to(resource: Mapping[str, Any], patient_id: str, base: str) -> bool:
    """True when ``resource`` is the Patient ``patient_id`` or is about it (``subject``/``patient``)."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id") == patient_id
    wanted = {f"Patient/{patient_id}", f"{base.rstrip('/')}/Patient/{patient_id}"}
    for name in _SUBJECT_FIELDS:
        ref = resource.get(name)
        if isinstance(ref, Mapping):
            return ref.get("reference") in wanted
    return False


def within_patient(raw: RawPatient, base: str) -> tuple[RawPatient, int]:
    """``raw`` without resources of any other patient, and how many were dropped (with an issue)."""
    kept = tuple(r for r in raw.resources if belongs_to(r, raw.patient_id, base))
    dropped = len(raw.resources) - len(kept)
    if not dropped:
        return raw, 0
    issue = DataQualityIssue(
        "warning",
        "security",
        "Bundle",
        "Bundle.entry",
        f"the EHR returned {dropped} resource(s) that are not about the launch patient; they were ignored",
    )
    return replace(raw, resources=kept, issues=(*raw.issues, issue)), dropped
