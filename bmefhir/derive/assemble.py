"""``derive``: one PatientRecord and the analysis date in, every derivable fact out."""

from __future__ import annotations

from datetime import date

from bmefhir.derive.demographics import derive_demographics
from bmefhir.derive.factset import FactSet
from bmefhir.derive.history import derive_history, derive_reconversion_driver
from bmefhir.derive.imaging import derive_imaging
from bmefhir.derive.labs import derive_labs
from bmefhir.derive.lesions import build_lesions
from bmefhir.derive.medications import derive_glucocorticoids, derive_medication_flags, exposure_bands
from bmefhir.derive.model import Derived
from bmefhir.derive.pregnancy import derive_pregnancy
from bmefhir.derive.recordindex import index_record
from bmefhir.derive.risk import risk_factors
from bmefhir.derive.symptoms import derive_symptoms, onset_dates, symptom_events
from bmefhir.record import DataQualityIssue, PatientRecord


def derive(record: PatientRecord, today: date) -> Derived:
    """Derive facts, the lesion timeline, symptoms and exposures as of ``today``.

    Pure and deterministic: ``today`` is the analysis date (nothing reads the
    clock), items dated after it are ignored, and evidence is sorted.
    """
    index = index_record(record, today)
    events = symptom_events(index)
    lesions = build_lesions(index, onset_dates(index, events))
    bme_start = lesions.first_seen
    affected = frozenset((e.joint or e.structure, e.side) for e in lesions.timeline.episodes)

    facts = FactSet()
    issues: list[DataQualityIssue] = []
    derive_demographics(record, today, facts, issues)
    derive_pregnancy(index, bme_start, facts, issues)
    derive_glucocorticoids(index, bme_start, facts)
    derive_medication_flags(index, facts)
    derive_labs(index, bme_start, facts)
    derive_history(index, bme_start, affected, facts)
    derive_symptoms(index, bme_start, facts)
    derive_imaging(index, lesions, facts)
    derive_reconversion_driver(facts)
    facts.mark_uncertain(frozenset(c.ref for c in record.conditions if c.uncertain))
    return Derived(
        facts=facts.ordered(),
        timeline=lesions.timeline,
        symptoms=events,
        exposures=exposure_bands(index),
        risk_factors=risk_factors(facts),
        issues=tuple(issues),
    )
