"""Code tables (YAML data in this package) and the pure lookups over them.

The tables are loaded and validated once (``tables()``); every concept key must
exist in ``bmefhir.concepts`` / ``bmefhir.anatomy`` or loading fails naming the
file and row.
"""

from __future__ import annotations

from bmefhir.terminology.load import tables
from bmefhir.terminology.lookup import (
    answer,
    canonical_system,
    canonical_unit,
    concept_for,
    concept_for_text,
    convert,
    ignored_reason,
    interpretation,
    is_modality,
    is_verified,
    laterality,
    laterality_for_text,
    negated_concept_for_text,
    normalise_unit,
    prednisone_equivalent,
    presence,
    qualitative_result,
    route,
)
from bmefhir.terminology.model import (
    Answer,
    Group,
    Interpretation,
    Mapping,
    SiteHint,
    TerminologyError,
    UnitError,
)

__all__ = [
    "Answer",
    "Group",
    "Interpretation",
    "Mapping",
    "SiteHint",
    "TerminologyError",
    "UnitError",
    "answer",
    "canonical_system",
    "canonical_unit",
    "concept_for",
    "concept_for_text",
    "convert",
    "ignored_reason",
    "interpretation",
    "is_modality",
    "is_verified",
    "laterality",
    "laterality_for_text",
    "negated_concept_for_text",
    "normalise_unit",
    "prednisone_equivalent",
    "presence",
    "qualitative_result",
    "route",
    "tables",
]
