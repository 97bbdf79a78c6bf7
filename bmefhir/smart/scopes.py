"""SMART scopes: what bmefhir asks for, and what the EHR actually granted (v1 and v2 syntax).

The app asks for the least it needs: the launch context, the user's identity
(``openid fhirUser``), a refresh token for the session (``online_access``),
read+search of the resource types it analyses and, when write-back is enabled,
create+update of its four outputs and create of the AuditEvent recording the write-back. The EHR
may grant less; every decision (which searches to trust, whether signing is offered) reads the *granted* set.

v1: ``patient/Observation.read``, ``patient/*.write``, ``user/*.*``.
v2: ``patient/Observation.rs``, ``patient/DiagnosticReport.cu``, with an optional
``?query`` restriction (the server enforces it; it still grants the interaction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "AUDIT_TYPES",
    "READ_TYPES",
    "SHARED_WRITE_TYPES",
    "WRITE_TYPES",
    "ScopeGrant",
    "ScopeStyle",
    "parse_scopes",
    "requested_scopes",
]

ScopeStyle = Literal["v1", "v2"]
LaunchKind = Literal["ehr", "standalone"]

# What bmefhir.fhir.fetch_patient reads, and what write-back writes.
READ_TYPES: Final = (
    "Patient",
    "Observation",
    "ImagingStudy",
    "MedicationStatement",
    "MedicationRequest",
    "Condition",
    "DiagnosticReport",
    "DocumentReference",
    "Procedure",  # a splenectomy: asplenia, an infection risk factor
    "Binary",  # report text behind an attachment url
)
WRITE_TYPES: Final = ("DiagnosticReport", "ClinicalImpression", "RiskAssessment", "Provenance")
# The Device that authors the outputs is shared by all patients, so it is a user-level write.
SHARED_WRITE_TYPES: Final = ("Device",)
# Written once per sign (create only): the audit record of the write-back (docs/audit.md).
AUDIT_TYPES: Final = ("AuditEvent",)

_CLINICAL: Final = re.compile(r"^(patient|user)/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$")
_V2_ORDER: Final = "cruds"


@dataclass(frozen=True, slots=True)
class ScopeGrant:
    """The scopes the token response granted, with questions the app asks of them."""

    scopes: frozenset[str]

    def _allows(self, resource_type: str, needed: str) -> bool:
        for scope in self.scopes:
            match = _CLINICAL.match(scope)
            if not match or match.group(2) not in (resource_type, "*"):
                continue
            if _permissions(match.group(3)) >= set(needed):
                return True
        return False

    def can_read(self, resource_type: str) -> bool:
        return self._allows(resource_type, "rs")

    def can_write(self, resource_type: str) -> bool:
        return self._allows(resource_type, "cu")

    def can_create(self, resource_type: str) -> bool:
        return self._allows(resource_type, "c")

    @property
    def unreadable(self) -> tuple[str, ...]:
        """Input types the app was not allowed to read (their data is missing from the analysis)."""
        return tuple(t for t in READ_TYPES if not self.can_read(t))

    @property
    def cannot_write(self) -> tuple[str, ...]:
        """The types write-back needs but may not write (empty: signing can be offered)."""
        return tuple(t for t in (*WRITE_TYPES, *SHARED_WRITE_TYPES) if not self.can_write(t))

    @property
    def can_write_back(self) -> bool:
        return not self.cannot_write

    def __str__(self) -> str:
        return " ".join(sorted(self.scopes))


def _permissions(text: str) -> set[str]:
    """The v2 letters a permission string stands for (v1 words translated; unknown → nothing)."""
    if text == "read":
        return set("rs")
    if text == "write":
        return set("cud")
    if text == "*":
        return set(_V2_ORDER)
    # v2: a subset of "cruds" in that order, e.g. "rs", "cu"; anything else grants nothing.
    positions = [_V2_ORDER.find(c) for c in text]
    if not text or -1 in positions or positions != sorted(set(positions)):
        return set()
    return set(text)


def parse_scopes(scope: str | None) -> ScopeGrant:
    return ScopeGrant(frozenset(scope.split()) if scope else frozenset())


def requested_scopes(kind: LaunchKind, style: ScopeStyle, *, write: bool, write_findings: bool = False) -> str:
    """The scope string for one launch: minimal, in the style the EHR speaks.

    Write-back also reads the outputs it wrote before (to update rather than duplicate them),
    so each output type is asked for read, search, create and update. ``write_findings`` (with
    ``write``) also asks to create and update Observations: the findings read from report text.
    """
    scopes = ["launch" if kind == "ehr" else "launch/patient", "openid", "fhirUser", "online_access"]
    if style == "v1":
        scopes += [f"patient/{t}.read" for t in READ_TYPES]
        if write:
            scopes += [s for t in WRITE_TYPES for s in (f"patient/{t}.read", f"patient/{t}.write")]
            scopes += [f"user/{t}.write" for t in SHARED_WRITE_TYPES]
            scopes += [f"patient/{t}.write" for t in AUDIT_TYPES]
    else:
        reads = [f"patient/{t}.rs" for t in READ_TYPES]
        if write:
            reads = [r for r in reads if r.split("/")[1].split(".")[0] not in WRITE_TYPES]
            scopes += reads + [f"patient/{t}.crus" for t in WRITE_TYPES]
            scopes += [f"user/{t}.cu" for t in SHARED_WRITE_TYPES]
            scopes += [f"patient/{t}.c" for t in AUDIT_TYPES]
        else:
            scopes += reads
    if write and write_findings:
        scopes.append("patient/Observation.write" if style == "v1" else "patient/Observation.cu")
    return " ".join(dict.fromkeys(scopes))
