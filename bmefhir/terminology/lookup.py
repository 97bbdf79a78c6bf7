"""Pure lookups over the code tables: codes → concepts, units → canonical units.

Input may match unverified candidate codes; ``is_verified`` tells the render
layer which codes it may emit.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

from bmefhir.record import Side
from bmefhir.terminology.load import PREFIX_NORMALISED, Tables, tables
from bmefhir.terminology.model import Answer, Group, Interpretation, Mapping, UnitError
from bmefhir.terminology.negation import negation_cue


def canonical_system(system: str | None) -> str | None:
    """The canonical URI for a system spelling (short name, URI or OID alias); unknown ones pass through."""
    if system is None:
        return None
    return tables().system_uri.get(system.rstrip("/"), system)


def _key(t: Tables, system: str | None, code: str | None) -> tuple[str, str] | None:
    if not system or not code:
        return None
    uri = t.system_uri.get(system.rstrip("/"), system)
    code = code.strip()
    return uri, (code.replace(".", "").upper() if uri in PREFIX_NORMALISED else code)


# Memoised: the tables are loaded once per process and never change, and a record repeats the same
# few codes (LOINC vital signs, routine labs) hundreds of times. Bounded in entries, and only short
# keys are kept: input strings may be up to a mebibyte each (jsonlimits.MAX_STRING).
_MEMO_ENTRIES = 1 << 15
_MEMO_KEY_CHARS = 256


def _memoisable(system: str | None, code: str | None) -> bool:
    return len(system or "") + len(code or "") <= _MEMO_KEY_CHARS


def concept_for(system: str | None, code: str | None, group: Group | None = None) -> Mapping | None:
    """The concept a coding maps to: exact match first, then the longest prefix (ICD-10, ATC).

    ``group`` restricts the answer (the same SNOMED CT code can be a finding and a condition);
    without it the first exact match in table order wins.
    """
    if _memoisable(system, code):
        return _concept_for_memo(system, code, group)
    return _concept_for(system, code, group)


def _concept_for(system: str | None, code: str | None, group: Group | None) -> Mapping | None:
    t = tables()
    key = _key(t, system, code)
    if key is None:
        return None
    for m in t.exact.get(key, ()):
        if group is None or m.group == group:
            return m
    for m in t.prefixes.get(key[0], ()):
        if key[1].startswith(m.code) and (group is None or m.group == group):
            return m
    return None


_concept_for_memo = lru_cache(maxsize=_MEMO_ENTRIES)(_concept_for)


def concept_for_text(text: str | None, group: Group | None = None) -> Mapping | None:
    """Conservative keyword fallback for a CodeableConcept.text or display; first listed pattern wins.

    A negated mention ("no avascular necrosis") does not count: see :func:`negated_concept_for_text`.
    """
    return _scan_text(text, group)[0]


def negated_concept_for_text(text: str | None, group: Group | None = None) -> tuple[Mapping, str] | None:
    """The concept a text names only in negation, with the negation trigger; None if it names none or affirms one."""
    affirmed, negated = _scan_text(text, group)
    return None if affirmed is not None else negated


def _scan_text(text: str | None, group: Group | None) -> tuple[Mapping | None, tuple[Mapping, str] | None]:
    if not text:
        return None, None
    t = tables()
    negated: tuple[Mapping, str] | None = None
    for g in (group,) if group is not None else tuple(t.keywords):
        for kw, mapping in t.keywords[g]:
            for hit in kw.pattern.finditer(text):
                cue = negation_cue(text, hit.start(), hit.end())
                if cue is None:
                    return mapping, None
                negated = negated or (mapping, cue)
    return None, negated


def ignored_reason(system: str | None, code: str | None) -> str | None:
    """Why a known code is deliberately not used (e.g. an AUDIT-C item), or None."""
    return _ignored_reason_memo(system, code) if _memoisable(system, code) else _ignored_reason(system, code)


def _ignored_reason(system: str | None, code: str | None) -> str | None:
    t = tables()
    key = _key(t, system, code)
    return t.ignored.get(key) if key else None


_ignored_reason_memo = lru_cache(maxsize=_MEMO_ENTRIES)(_ignored_reason)


def is_verified(system: str | None, code: str | None) -> bool:
    """True when the exact code is listed as verified in some table (prefix rows do not count)."""
    t = tables()
    key = _key(t, system, code)
    if key is None:
        return False
    return (
        any(m.verified for m in t.exact.get(key, ()))
        or any(a.verified for table in t.answers.values() if (a := table.get(key)) is not None)
        or t.modalities.get(key, False)
        or (key in t.laterality and t.laterality[key][1])
    )


def laterality(system: str | None, code: str | None) -> Side | None:
    t = tables()
    key = _key(t, system, code)
    hit = t.laterality.get(key) if key else None
    return hit[0] if hit else None


def laterality_for_text(text: str | None) -> Side | None:
    """Side named in free text ("Left hip", "bilateral knees"); bilateral wins over left/right."""
    if not text:
        return None
    for pattern, side in tables().laterality_keywords:
        if pattern.search(text):
            return side
    return None


def answer(table: str, system: str | None, code: str | None) -> Answer | None:
    t = tables()
    key = _key(t, system, code)
    return t.answers.get(table, {}).get(key) if key else None


def presence(system: str | None, code: str | None) -> bool | None:
    """True for "Present"-type qualifier codes, False for "Absent", None otherwise."""
    t = tables()
    key = _key(t, system, code)
    return t.presence.get(key) if key else None


def qualitative_result(system: str | None, code: str | None) -> Literal["positive", "negative"] | None:
    t = tables()
    key = _key(t, system, code)
    return t.results.get(key) if key else None


def interpretation(system: str | None, code: str | None) -> Interpretation | None:
    t = tables()
    key = _key(t, system, code)
    return t.interpretations.get(key) if key else None


def is_modality(system: str | None, code: str | None) -> bool:
    t = tables()
    key = _key(t, system, code)
    return key is not None and key in t.modalities


def route(system: str | None, code: str | None, text: str | None = None) -> str | None:
    """Administration route key ("oral", "intravenous", ...) from a coding, else from text."""
    t = tables()
    key = _key(t, system, code)
    if key is not None and key in t.routes:
        return t.routes[key]
    if text:
        for pattern, value in t.route_keywords:
            if pattern.search(text):
                return value
    return None


def prednisone_equivalent(drug: str | None) -> float | None:
    """mg of prednisone per mg of ``drug`` (None when not a glucocorticoid with a known factor)."""
    return tables().prednisone_equivalent.get(drug.lower()) if drug else None


def canonical_unit(concept: str) -> str | None:
    spec = tables().units.get(concept)
    return spec.canonical if spec else None


def normalise_unit(unit: str) -> str:
    """UCUM spelling for a unit variant ("mg/dl" → "mg/dL"); unknown spellings pass through."""
    aliases = tables().unit_aliases
    unit = unit.strip()
    return aliases.get(unit.lower(), unit)


def convert(concept: str, value: float, unit: str | None) -> tuple[float, str] | UnitError:
    """``value`` in ``unit`` → (value, canonical unit) for ``concept``; never guesses a unit."""
    spec = tables().units.get(concept)
    if spec is None:
        return UnitError(concept, unit, "no numeric unit is defined for this concept")
    if not math.isfinite(value):
        return UnitError(concept, unit, "value is not a finite number")
    if unit is None or not unit.strip():
        if spec.dimensionless:
            return value, spec.canonical
        return UnitError(concept, None, f"value has no unit (expected {spec.canonical})")
    candidates = (unit.strip(), normalise_unit(unit))
    for u in candidates:
        conv = spec.conversions.get(u)
        if conv is not None:
            return conv.apply(value), spec.canonical
    lowered = {u.lower(): c for u, c in spec.conversions.items()}
    for u in candidates:
        conv = lowered.get(u.lower())
        if conv is not None:
            return conv.apply(value), spec.canonical
    return UnitError(concept, unit, f"unit cannot be converted to {spec.canonical}")
