"""A FHIR R4 AuditEvent for a clinician's sign & write-back, in the IHE Basic Audit Log Patterns style.

    event = write_audit_event(patient_ref="Patient/1", user_ref="Practitioner/7", app_url=...,
                              fhir_base=..., written=("DiagnosticReport/9",), action="U",
                              outcome="success", recorded=now)

Follows BALP's RESTful Create/Update pattern (``IHE.BasicAudit.PatientCreate`` /
``PatientUpdate``): type DICOM ``rest``, subtype the FHIR interaction, the app as the source
(client) and the FHIR server as the destination, the signing clinician as the requesting user, the
patient and each written resource as entities. The profile URL is not claimed (servers rarely hold
BALP); the shape is. Pure: data in, a resource dict out. References only, never patient data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from bmefhir.render import ids

__all__ = ["AuditOutcome", "write_audit_event"]

AuditOutcome = Literal["success", "refused", "failed"]

_EVENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_INTERACTION: Final = "http://hl7.org/fhir/restful-interaction"
_DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
_ROLE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
_SOURCE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/security-source-type"
_ENTITY_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_ENTITY_ROLE: Final = "http://terminology.hl7.org/CodeSystem/object-role"
_NETWORK_URI: Final = "5"
# FHIR R4 AuditEvent.outcome: 0 success, 4 minor failure (refused), 8 serious failure.
_OUTCOME: Final = {"success": "0", "refused": "4", "failed": "8"}


def write_audit_event(
    *,
    patient_ref: str,
    user_ref: str | None,
    app_url: str,
    fhir_base: str,
    written: Sequence[str],
    action: Literal["C", "U"],
    outcome: AuditOutcome,
    recorded: datetime,
    outcome_text: str | None = None,
) -> dict[str, Any]:
    """The AuditEvent for one sign & write-back attempt (``written``: references of the outputs)."""
    app = {
        "identifier": {"system": ids.DEVICE_SYSTEM, "value": ids.device_identifier_value()},
        "display": "bmefhir",
    }
    agents: list[dict[str, Any]] = [
        {
            "type": _concept(_DCM, "110153", "Source Role ID"),
            "who": app,
            "requestor": False,
            "network": {"address": app_url, "type": _NETWORK_URI},
        },
        {
            "type": _concept(_DCM, "110152", "Destination Role ID"),
            "who": {"display": fhir_base},
            "requestor": False,
            "network": {"address": fhir_base, "type": _NETWORK_URI},
        },
    ]
    if user_ref:
        agents.append(
            {"type": _concept(_ROLE_TYPE, "humanuser", "human user"), "who": {"reference": user_ref}, "requestor": True}
        )
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": patient_ref},
            "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": _ENTITY_ROLE, "code": "1", "display": "Patient"},
        }
    ]
    entities += [
        {
            "what": {"reference": ref},
            "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": _ENTITY_ROLE, "code": "4", "display": "Domain Resource"},
        }
        for ref in written
    ]
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": _EVENT_TYPE, "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": _INTERACTION, "code": "create" if action == "C" else "update"}],
        "action": action,
        "recorded": recorded.isoformat(),
        "outcome": _OUTCOME[outcome],
        "agent": agents,
        "source": {
            "site": app_url,
            "observer": app,
            "type": [{"system": _SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": entities,
    }
    if outcome_text:
        event["outcomeDesc"] = outcome_text[:200]
    return event


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}
