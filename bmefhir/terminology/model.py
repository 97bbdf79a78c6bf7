"""Typed rows of the terminology tables (the YAML files next to this module)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from bmefhir.record import Side

Group = Literal["lab", "observation", "finding", "condition", "medication", "structure"]
GROUPS: tuple[Group, ...] = ("lab", "observation", "finding", "condition", "medication", "structure")
MatchKind = Literal["exact", "prefix", "text"]


class TerminologyError(ValueError):
    """A terminology table is malformed or names a concept bmefhir does not know."""


@dataclass(frozen=True, slots=True)
class SiteHint:
    """A site implied by the code itself (e.g. "DXA Hip-L T-score" → hip, left)."""

    structure: str
    side: Side | None = None


@dataclass(frozen=True, slots=True)
class Mapping:
    """One input code (or prefix, or keyword) mapped to a bmefhir concept."""

    group: Group
    concept: str
    system: str  # canonical URI ("" for keyword matches)
    code: str  # the code, the prefix, or the keyword pattern
    verified: bool
    match: MatchKind = "exact"
    display: str | None = None
    drug: str | None = None  # medications: ingredient name, lower case
    answers: str | None = None  # observations: name of the answer table the value is read through
    site: SiteHint | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A coded answer and the observation facts it states (smoking, pregnancy)."""

    system: str
    code: str
    facts: tuple[tuple[str, bool], ...]
    verified: bool
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Interpretation:
    """Observation.interpretation / qualifier value: high flag and/or qualitative result."""

    high: bool | None = None
    result: Literal["positive", "negative"] | None = None
    low: bool | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    """canonical = (value + offset) * multiply / divide."""

    multiply: float = 1.0
    divide: float = 1.0
    offset: float = 0.0

    def apply(self, value: float) -> float:
        return (value + self.offset) * self.multiply / self.divide


@dataclass(frozen=True, slots=True)
class UnitSpec:
    canonical: str
    conversions: dict[str, Conversion] = field(default_factory=dict)
    dimensionless: bool = False


@dataclass(frozen=True, slots=True)
class UnitError:
    """Why a value could not be put into its canonical unit (never contains the value)."""

    concept: str
    unit: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Keyword:
    pattern: re.Pattern[str]
    value: str
    drug: str | None = None
