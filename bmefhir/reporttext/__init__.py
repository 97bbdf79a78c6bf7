"""Radiology report text → imaging-finding mentions (English, Turkish, Chinese); see docs/report-text.md."""

from bmefhir.reporttext.model import SUPPORTED_LANGUAGES, Language, Mention, Reading
from bmefhir.reporttext.reader import read_report

__all__ = ["SUPPORTED_LANGUAGES", "Language", "Mention", "Reading", "read_report"]
