"""Keeping patient identity out of logs."""

from __future__ import annotations

import hashlib


def pseudonym(patient_id: str) -> str:
    """A stable stand-in for a patient id in logs: correlates log lines without revealing the id (often an MRN)."""
    return "pt-" + hashlib.sha256(patient_id.encode()).hexdigest()[:10]
