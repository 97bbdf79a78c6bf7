"""The JSON API's schemas: inputs and outputs are separate models (the OpenAPI schema comes from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bmefhir.normalize.dates import EARLIEST, LATEST, plausible

__all__ = ["AnalysisOut", "AnalyzeIn", "DemoPatientOut", "HealthOut"]

MAX_RESOURCES = 5000


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)


class HealthOut(_Out):
    status: str
    knowledge_version: str


class DemoPatientOut(_Out):
    name: str


class CandidateOut(_Out):
    code: str
    display: str
    probability: float = Field(ge=0, le=1)
    confidence: str = Field(description="plain-language band (bmefhir.differential.confidence)")
    supporting: list[str] = Field(alias="for", description="criterion ids for the candidate")
    opposing: list[str] = Field(alias="against", description="criterion ids against it")


class RedFlagOut(_Out):
    candidate: str
    criterion: str
    message: str
    citation: str
    evidence: list[str]


class NextStepOut(_Out):
    id: str
    text: str
    citation: str
    evidence: list[str]


class WithholdReasonOut(_Out):
    contraindication: str
    reason: str
    citation: str
    evidence: list[str]


class WithheldOut(_Out):
    """A treatment not suggested because the record matched a contraindication."""

    id: str
    text: str
    drugs: list[str]
    reasons: list[WithholdReasonOut]


class IssueOut(_Out):
    severity: str
    code: str
    resource: str
    element: str
    message: str


class EpisodeOut(_Out):
    site: str
    structure: str
    side: str | None
    first_seen: str
    last_seen: str
    resolved_on: str | None


class MigrationOut(_Out):
    from_episode: int = Field(alias="from")
    to_episode: int = Field(alias="to")
    interval_days: int
    kind: str
    proximal_to_distal: bool | None


class TimelineOut(_Out):
    episodes: list[EpisodeOut]
    migrations: list[MigrationOut]


class AnalysisOut(_Out):
    """One patient's analysis (the same fields as ``bmefhir analyze --format json``)."""

    patient: str
    ranking: list[CandidateOut]
    red_flags: list[RedFlagOut]
    next_steps: list[NextStepOut]
    withheld: list[WithheldOut]
    data_quality: list[IssueOut]
    timeline: TimelineOut
    risk_factors: list[str]
    insufficient_data: bool
    knowledge_version: str


class AnalyzeIn(BaseModel):
    """FHIR R4 resources of one patient (Patient first or anywhere), analysed without storing anything."""

    model_config = ConfigDict(extra="forbid")

    resources: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_RESOURCES)
    now: AwareDatetime | None = Field(default=None, description="the analysis date; default: the server's clock")

    @field_validator("now")
    @classmethod
    def _plausible(cls, now: datetime | None) -> datetime | None:
        if now is not None and not plausible(now.date()):
            raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
        return now

    def when(self, default: datetime) -> datetime:
        return self.now or default
