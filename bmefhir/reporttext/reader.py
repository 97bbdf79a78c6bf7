"""PLACEHOLDER until the spaCy/medspaCy reader lands (this file is replaced, not extended)."""

from __future__ import annotations

from bmefhir.reporttext.model import Reading


def read_report(text: str, language: str | None = None) -> Reading:
    return Reading("und", problems=("report text reader not built yet",))
