"""CDS Hooks 2.0 feedback: what clinicians did with the cards (``accepted`` or ``overridden``, and why).

    POST /cds-services/bmefhir-bme-differential/feedback   {"feedback": [{card, outcome, ...}]}

Authenticated like the hook call (the CDS client's JWT; its ``aud`` the service URL or this
feedback URL). Each entry is kept in the state store (``SyncStore.add_feedback``): the card's
uuid, the service, the outcome, the override reason's code, the accepted suggestion ids, the
outcome time and the client. Never a patient id (feedback carries none) and never the
``userComment`` free text, which may hold anything a clinician typed. ``bmefhir cds feedback``
lists what was recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from bmefhir.sync.store import FeedbackRecord
from bmefhir.web import audit
from bmefhir.web.cds_routes import SERVICE_ID, authenticate, service_url
from bmefhir.web.deps import ClockDep, FeedbackStoreDep, HttpDep, SettingsDep
from bmefhir.web.errors import AppError

__all__ = ["FeedbackIn", "FeedbackOut", "feedback_client", "router"]

router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])

_TOKEN = r"^[A-Za-z0-9\-\.\_:/#]+$"  # codes and ids: no spaces, no markup


class _Coding(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field(min_length=1, max_length=64, pattern=_TOKEN)
    system: str = Field(min_length=1, max_length=500, pattern=_TOKEN)
    display: str | None = Field(default=None, max_length=500)


class _OverrideReason(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: _Coding | None = None
    userComment: str | None = Field(default=None, max_length=4000)  # read, never stored


class _Suggestion(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=100, pattern=_TOKEN)


class _Feedback(BaseModel):
    """One CDS Hooks 2.0 Feedback entry (field names are the spec's own)."""

    model_config = ConfigDict(extra="ignore")
    card: UUID
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[_Suggestion] = Field(default_factory=list, max_length=50)
    overrideReason: _OverrideReason | None = None
    outcomeTimestamp: AwareDatetime

    @model_validator(mode="after")
    def _outcome_fits(self) -> Self:
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions are only for outcome 'accepted'")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("overrideReason is only for outcome 'overridden'")
        return self


class FeedbackIn(BaseModel):
    """The feedback request body: ``{"feedback": [Feedback, ...]}``."""

    model_config = ConfigDict(extra="ignore")
    feedback: list[_Feedback] = Field(min_length=1, max_length=100)


class FeedbackOut(BaseModel):
    received: int  # entries in the request
    recorded: int  # of them new (a resent entry is kept once)


def feedback_client(
    service_id: str,
    request: Request,
    settings: SettingsDep,
    http: HttpDep,
    authorization: Annotated[str | None, Header()] = None,
) -> str:
    """The calling CDS client (``dev`` in development), checked before the body is read: an
    unauthenticated caller gets 401, whatever it sent."""
    if service_id != SERVICE_ID:
        raise AppError(404, "No such CDS service", f"this server's CDS service is {SERVICE_ID}")
    own = service_url(settings)
    return authenticate(request, settings, http, authorization, own, own + "/feedback") or "dev"


@router.post("/{service_id}/feedback", response_model=FeedbackOut)
def feedback(
    client: Annotated[str, Depends(feedback_client)],
    body: FeedbackIn,
    store: FeedbackStoreDep,
    now: ClockDep,
) -> FeedbackOut:
    records = [_record(entry, client, now) for entry in body.feedback]
    new = store.add_feedback(records)
    audit.record(
        "cds-feedback",
        "success",
        user=client,
        client=client,
        entries=len(records),
        accepted=sum(r.outcome == "accepted" for r in records),
        overridden=sum(r.outcome == "overridden" for r in records),
        new=new,
    )
    return FeedbackOut(received=len(records), recorded=new)


def _record(entry: _Feedback, client: str, now: datetime) -> FeedbackRecord:
    reason = entry.overrideReason.reason if entry.overrideReason else None
    return FeedbackRecord(
        service=SERVICE_ID,
        card=str(entry.card),
        outcome=entry.outcome,
        outcome_at=entry.outcomeTimestamp,
        client=client,
        received_at=now,
        reason_system=reason.system if reason else None,
        reason_code=reason.code if reason else None,
        accepted_suggestions=tuple(s.id for s in entry.acceptedSuggestions),
    )
