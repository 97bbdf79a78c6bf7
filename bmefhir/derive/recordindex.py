"""One pass over a PatientRecord grouping its items by concept.

Every fact family looks items up by concept; grouping once keeps derive linear
in the size of the record instead of scanning every list per fact.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from bmefhir.record import (
    ClinicalObservation,
    ConditionEntry,
    ImagingFinding,
    LabResult,
    MedicationExposure,
    PatientRecord,
)

# Labs, exam and symptoms count from this many days before the first BME episode
# (or before the analysis date when there is none) to the analysis date: the
# work-up of the episodes plus about 6 months of baseline. A project choice, not
# a clinical cut-off; it keeps an unrelated illness years earlier from counting.
CLINICAL_WINDOW_BEFORE_BME_DAYS = 180


@dataclass(frozen=True, slots=True)
class RecordIndex:
    record: PatientRecord
    today: date
    labs: dict[str, list[LabResult]]
    observations: dict[str, list[ClinicalObservation]]
    findings: dict[str, list[ImagingFinding]]
    medications: dict[str, list[MedicationExposure]]
    conditions: dict[str, list[ConditionEntry]]

    def window_start(self, bme_start: date | None) -> date:
        return (bme_start or self.today) - timedelta(days=CLINICAL_WINDOW_BEFORE_BME_DAYS)

    def in_window(self, when: date | None, start: date) -> bool:
        """Undated items cannot be placed; they are used (normalize reported the gap)."""
        return when is None or start <= when <= self.today

    def has_condition(self, *concepts: str) -> bool:
        return any(c in self.conditions for c in concepts)

    def conditions_of(self, *concepts: str) -> list[ConditionEntry]:
        return [c for concept in concepts for c in self.conditions.get(concept, ())]


def index_record(record: PatientRecord, today: date) -> RecordIndex:
    labs: defaultdict[str, list[LabResult]] = defaultdict(list)
    for lab in record.labs:
        labs[lab.concept].append(lab)
    observations: defaultdict[str, list[ClinicalObservation]] = defaultdict(list)
    for obs in record.observations:
        observations[obs.concept].append(obs)
    findings: defaultdict[str, list[ImagingFinding]] = defaultdict(list)
    for finding in record.findings:
        findings[finding.concept].append(finding)
    medications: defaultdict[str, list[MedicationExposure]] = defaultdict(list)
    for med in record.medications:
        medications[med.concept].append(med)
    conditions: defaultdict[str, list[ConditionEntry]] = defaultdict(list)
    for cond in record.conditions:
        # A diagnosis dated after the analysis date is not yet known at that date.
        if cond.onset is None or cond.onset <= today:
            conditions[cond.concept].append(cond)
    return RecordIndex(
        record, today, dict(labs), dict(observations), dict(findings), dict(medications), dict(conditions)
    )
