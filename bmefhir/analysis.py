"""The analysis model: what the pure core concluded about one patient.

It sits between the core (normalize → derive → differential) and everything that
presents a result (``bmefhir.render``, the pipeline, the web app), so render can
take an ``Analysis`` without importing the pipeline that calls it: imports run one
way only, down the layers (``tests/test_layering.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bmefhir.derive import derive
from bmefhir.derive.model import Derived
from bmefhir.differential.engine import run_differential
from bmefhir.differential.knowledge_base import KnowledgeBase
from bmefhir.differential.model import Differential
from bmefhir.record import PatientRecord

__all__ = ["Analysis", "analyse"]


@dataclass(frozen=True, slots=True)
class Analysis:
    record: PatientRecord
    derived: Derived
    differential: Differential
    now: datetime


def analyse(record: PatientRecord, now: datetime, kb: KnowledgeBase | None = None) -> Analysis:
    """Derive facts and timelines, then run the differential (the pure core)."""
    derived = derive(record, now.date())
    if derived.issues:  # contradictions found while deriving join the input's data-quality issues
        record = replace(record, issues=record.issues + derived.issues)
    return Analysis(record, derived, run_differential(derived, kb), now)
