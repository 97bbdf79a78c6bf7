"""Observation values: quantities, present/absent, positive/negative, interpretation flags."""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from bmefhir import terminology
from bmefhir.normalize.fhirjson import JSON, boolean, codings, number, obj, objs, string, texts

UCUM = "http://unitsofmeasure.org"
_NEGATIVE = re.compile(r"\b(?:not detected|negative|neg|non-?reactive)\b", re.IGNORECASE)
_POSITIVE = re.compile(r"\b(?:detected|positive|pos|reactive)\b", re.IGNORECASE)

Result = Literal["positive", "negative"]


class Quantity(NamedTuple):
    value: float | None
    unit: str | None
    comparator: str | None


def quantity(q: JSON | None) -> Quantity | None:
    """A Quantity's number and unit: the UCUM code when given, else the human-readable unit."""
    if q is None:
        return None
    unit = string(q, "code") if string(q, "system") in (None, UCUM) else None
    return Quantity(number(q, "value"), unit or string(q, "unit") or string(q, "code"), string(q, "comparator"))


def value_quantity(holder: JSON) -> Quantity | None:
    """valueQuantity, or valueInteger (unit-less) as R4 allows for scores."""
    if (q := quantity(obj(holder, "valueQuantity"))) is not None:
        return q
    if (n := number(holder, "valueInteger")) is not None:
        return Quantity(n, None, None)
    return None


def result_from_text(text: str | None) -> Result | None:
    if not text:
        return None
    if _NEGATIVE.search(text):
        return "negative"
    if _POSITIVE.search(text):
        return "positive"
    return None


def coded_result(cc: JSON | None) -> Result | None:
    for c in codings(cc):
        if (r := terminology.qualitative_result(c.system, c.code)) is not None:
            return r
    for text in texts(cc):
        if (r := result_from_text(text)) is not None:
            return r
    return None


class Flags(NamedTuple):
    """What Observation.interpretation says: above range, below range, qualitative result (None: not said)."""

    high: bool | None
    low: bool | None
    result: Result | None


def interpretation(holder: JSON) -> Flags:
    """The first recognised high, low and qualitative reading of Observation.interpretation codes."""
    high: bool | None = None
    low: bool | None = None
    result: Result | None = None
    for cc in objs(holder, "interpretation"):
        for c in codings(cc):
            i = terminology.interpretation(c.system, c.code)
            if i is None:
                continue
            high = i.high if high is None else high
            low = i.low if low is None else low
            result = i.result if result is None else result
    return Flags(high, low, result)


def presence(holder: JSON) -> bool | None:
    """Present / absent from valueBoolean, a Present/Absent (or Yes/No, Positive/Negative) code, or interpretation."""
    if (b := boolean(holder, "valueBoolean")) is not None:
        return b
    cc = obj(holder, "valueCodeableConcept")
    for c in codings(cc):
        if (p := terminology.presence(c.system, c.code)) is not None:
            return p
        if (r := terminology.qualitative_result(c.system, c.code)) is not None:
            return r == "positive"
    result = interpretation(holder).result
    if result is not None:
        return result == "positive"
    return None
