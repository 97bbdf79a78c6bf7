"""What derive produces: named facts with their evidence, and the lesion timeline.

Facts are the only thing the knowledge base can look at. Each fact is
tri-state: a value (True/False or a number), or absent from ``Facts`` when the
record says nothing about it. ``False`` means the data positively says no (a
finding looked for and not seen, a negative test), which criteria may treat
differently from "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from bmefhir.record import DataQualityIssue, Side

FactValue = bool | float


@dataclass(frozen=True, slots=True)
class Fact:
    value: FactValue
    evidence: tuple[str, ...] = ()  # resource references behind the value
    note: str = ""  # a short human explanation, e.g. "prednisone oral 2023-01-02 → 2023-07-01"
    # True only from hedged report text ("cannot exclude") or unconfirmed diagnoses: counts with less weight
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class Episode:
    """BME at one structure and side, from first to last positive imaging."""

    structure: str
    side: Side | None
    joint: str | None
    first_seen: date
    last_seen: date
    resolved_on: date | None  # first imaging after last_seen showing BME absent at this site
    evidence: tuple[str, ...]

    @property
    def lane(self) -> tuple[str, str | None]:
        return (self.structure, self.side)


MigrationKind = Literal["same_joint", "adjacent_joint", "contralateral", "distant"]


@dataclass(frozen=True, slots=True)
class Migration:
    from_episode: int  # index into LesionTimeline.episodes
    to_episode: int
    interval_days: int  # between first_seen dates
    kind: MigrationKind
    proximal_to_distal: bool | None
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Caveat:
    code: str  # e.g. "mri_within_48h", "radiograph_before_3_weeks"
    message: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LesionTimeline:
    episodes: tuple[Episode, ...] = ()
    migrations: tuple[Migration, ...] = ()
    recurrences: tuple[tuple[int, int], ...] = ()  # (earlier, later) episode pairs at the same site
    caveats: tuple[Caveat, ...] = ()


@dataclass(frozen=True, slots=True)
class SymptomEvent:
    concept: str
    date: date | None
    site_label: str | None
    ref: str


@dataclass(frozen=True, slots=True)
class Exposure:
    """A medication exposure band for the timeline picture and the risk-factor list."""

    concept: str
    drug: str
    route: str | None
    start: date | None
    end: date | None
    ref: str


@dataclass(frozen=True, slots=True)
class Derived:
    facts: dict[str, Fact]
    timeline: LesionTimeline
    symptoms: tuple[SymptomEvent, ...] = ()
    exposures: tuple[Exposure, ...] = ()
    risk_factors: tuple[str, ...] = field(default=())  # names of true risk-factor facts, for display
    # Implausible or contradictory facts found while deriving (pregnant and male, a birth date after
    # the study): the pipeline adds them to the record's data-quality issues.
    issues: tuple[DataQualityIssue, ...] = ()
