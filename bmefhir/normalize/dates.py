"""FHIR date / dateTime / instant strings → ``datetime.date``.

The calendar date is taken as written (no time-zone shift), so the same input
gives the same date on every machine. Partial dates ("2021", "2021-03") take the
first day of the period and say so.
"""

from __future__ import annotations

import re
from datetime import date
from typing import NamedTuple

# Dates outside this range are data errors (year 0001 placeholders, 9999 "open end" markers), and
# date arithmetic on them (look-back windows) would overflow: they are read as unknown.
EARLIEST = date(1800, 1, 1)
LATEST = date(2199, 12, 31)


def plausible(value: date) -> bool:
    return EARLIEST <= value <= LATEST


_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:\d{2})?)?$"
)


class ParsedDate(NamedTuple):
    value: date | None
    precision: str  # "day", "month", "year", or "invalid"


def parse_date(raw: object) -> ParsedDate:
    if not isinstance(raw, str):
        return ParsedDate(None, "invalid")
    m = _DATE.match(raw.strip())
    if not m:
        return ParsedDate(None, "invalid")
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    try:
        if day is not None:
            return ParsedDate(date(year, int(month or 1), int(day)), "day")
        if month is not None:
            return ParsedDate(date(year, int(month), 1), "month")
        return ParsedDate(date(year, 1, 1), "year")
    except ValueError:
        return ParsedDate(None, "invalid")
