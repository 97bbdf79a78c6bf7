"""The audit trail: one structured log event per launch, read, refresh, sign, refusal and CDS call,
and, for sign & write-back, a FHIR AuditEvent written to the EHR (docs/audit.md).

    record("sign", "success", user="Practitioner/7", patient="123", status="updated")

Events go to the ``bmefhir.audit`` logger as ``audit {json}`` with the same fields in
``record.audit``: ``event``, ``outcome`` (success | refused | failed), ``user`` (the fhirUser or CDS
client), ``patient`` (a pseudonym, ``bmefhir.privacy``), and counts or reason codes. Never a token,
code, patient id or clinical value: callers pass the patient id and it is pseudonymised here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal

import orjson

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirError
from bmefhir.privacy import pseudonym
from bmefhir.render.audit import AuditOutcome, write_audit_event
from bmefhir.smart.launch import TokenSet

__all__ = ["AUDIT_LOGGER", "Outcome", "record", "record_write"]

AUDIT_LOGGER: Final = "bmefhir.audit"
Outcome = AuditOutcome
log = logging.getLogger(AUDIT_LOGGER)


def record(
    event: str, outcome: Outcome, *, user: str | None = None, patient: str | None = None, **detail: str | int
) -> None:
    """Log one audit event (``patient`` is the id; only its pseudonym is logged)."""
    fields: dict[str, str | int] = {"event": event, "outcome": outcome}
    if user:
        fields["user"] = user
    if patient:
        fields["patient"] = pseudonym(patient)
    fields.update(detail)
    log.info("audit %s", orjson.dumps(fields).decode(), extra={"audit": fields})


def record_write(
    client: FhirClient,
    tokens: TokenSet,
    *,
    app_url: str,
    written: Sequence[str],
    action: Literal["C", "U"],
    outcome: Outcome,
    now: datetime,
    reason: str | None = None,
) -> str | None:
    """Write the sign & write-back AuditEvent to the EHR (one-entry transaction, like the outputs).

    Returns the AuditEvent's reference, or None when the EHR did not take it (not granted, or
    refused): that is itself logged, and never undoes or fails the sign."""
    patient = tokens.patient or ""
    if not tokens.grant.can_create("AuditEvent"):
        record("audit-event", "refused", user=tokens.fhir_user, patient=patient, reason="scope-not-granted")
        return None
    event = write_audit_event(
        patient_ref=f"Patient/{patient}",
        user_ref=tokens.fhir_user,
        app_url=app_url,
        fhir_base=tokens.iss,
        written=written,
        action=action,
        outcome=outcome,
        recorded=now,
        outcome_text=reason,
    )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [_post(event)]}
    try:
        answer = client.transaction(bundle)
    except FhirError as exc:
        record("audit-event", "failed", user=tokens.fhir_user, patient=patient, reason=type(exc).__name__)
        return None
    location = ((answer.get("entry") or [{}])[0].get("response") or {}).get("location", "")
    ref = "/".join(str(location).split("/_history")[0].split("/")[-2:]) if location else None
    record("audit-event", "success", user=tokens.fhir_user, patient=patient)
    return ref


def _post(resource: dict[str, object]) -> dict[str, object]:
    return {"resource": resource, "request": {"method": "POST", "url": "AuditEvent"}}
