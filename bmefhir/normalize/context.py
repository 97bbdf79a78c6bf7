"""State shared by the per-type readers while one record is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bmefhir.normalize.dates import EARLIEST, LATEST, ParsedDate, parse_date, plausible
from bmefhir.normalize.fhirjson import JSON, relative_ref, string
from bmefhir.normalize.issues import IssueLog
from bmefhir.record import Severity


@dataclass
class Context:
    """Resources by "Type/id" (for ImagingStudy and Medication look-ups) and the issue log."""

    by_ref: dict[str, JSON] = field(default_factory=dict)
    issues: IssueLog = field(default_factory=IssueLog)
    used_refs: set[str] = field(default_factory=set)  # resources consumed by another one (Medication)
    full_urls: dict[str, str] = field(default_factory=dict)  # Bundle.entry.fullUrl → "Type/id"
    # Keyword verdicts of texts already seen while deciding relevance, per (text, groups): a record
    # repeats the same displays ("Heart rate") hundreds of times. Per record, so no free text
    # outlives the request.
    text_hits: dict[tuple[str, tuple[str, ...]], bool] = field(default_factory=dict)
    # Relevance decisions by the elements that decide them (``relevance.skip_reason``): per record.
    decided: dict[tuple[object, ...], object] = field(default_factory=dict)
    # Validation errors of elements and shells already validated in this record, by model and value
    # (``parse.validate`` in parts): per record too.
    validated: dict[Any, tuple[tuple[str, tuple[int | str, ...], str], ...]] = field(default_factory=dict)
    # "Type/id" of each reference string resolved so far (after the bundle's fullUrls are known): a
    # record names its patient and its visits in hundreds of resources.
    resolved: dict[str, str] = field(default_factory=dict)
    # What Observations' status, category and code say, by their exact JSON (``observations``).
    code_readings: dict[object, Any] = field(default_factory=dict)
    # Dates parsed so far, by their text: the results of one visit share theirs.
    dates_read: dict[str, ParsedDate] = field(default_factory=dict)

    def resolve(self, reference: JSON | None) -> str | None:
        """ "Type/id" a Reference points at, resolving bundle fullUrls (urn:uuid:...) where known."""
        raw = string(reference, "reference")
        if raw is None:
            return None
        found = self.resolved.get(raw)
        if found is None:
            found = self.resolved[raw] = self.full_urls.get(raw) or relative_ref(raw)
        return found

    def date(self, ref: str, element: str, raw: object, *, severity: Severity = "warning") -> date | None:
        """Parse a FHIR date/dateTime; a bad one is reported (never echoed) and read as unknown."""
        if raw is None:
            return None
        parsed = self.dates_read.get(raw) if isinstance(raw, str) else None
        if parsed is None:
            parsed = parse_date(raw)
            if isinstance(raw, str) and len(raw) <= 64:
                self.dates_read[raw] = parsed
        if parsed.value is None:
            self.issues.add(severity, "value", ref, element, "not a valid FHIR date or dateTime; date unknown")
        elif not plausible(parsed.value):
            message = f"date outside {EARLIEST.year}-{LATEST.year} (a placeholder?); date unknown"
            self.issues.add(severity, "value", ref, element, message)
            return None
        elif parsed.precision != "day":
            self.issues.add(
                "information",
                "value",
                ref,
                element,
                f"date given to {parsed.precision} precision; the first day of the {parsed.precision} is used",
            )
        return parsed.value

    def note(self, severity: Severity, code: str, ref: str, element: str, message: str) -> None:
        self.issues.add(severity, code, ref, element, message)
