"""Derive: pure functions from a PatientRecord to named facts and the lesion timeline."""

from bmefhir.derive.assemble import derive
from bmefhir.derive.model import (
    Caveat,
    Derived,
    Episode,
    Exposure,
    Fact,
    LesionTimeline,
    Migration,
    SymptomEvent,
)

__all__ = [
    "Caveat",
    "Derived",
    "Episode",
    "Exposure",
    "Fact",
    "LesionTimeline",
    "Migration",
    "SymptomEvent",
    "derive",
]
