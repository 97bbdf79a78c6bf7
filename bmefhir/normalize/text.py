"""Why an uncoded CodeableConcept's text was not used: it names a concept only in negation."""

from __future__ import annotations

from collections.abc import Iterable

from bmefhir import terminology
from bmefhir.normalize.fhirjson import JSON, texts
from bmefhir.terminology import Group


def negated_text_reason(cc: JSON | None, groups: Iterable[Group]) -> str | None:
    """E.g. "text names osteonecrosis only negated ('no evidence of'); not used", or None."""
    for group in groups:
        for text in texts(cc):
            if (hit := terminology.negated_concept_for_text(text, group)) is not None:
                mapping, cue = hit
                return f"text names {mapping.concept} only negated ('{cue}'); not used"
    return None
