"""A stable hash of what an assessment says, carried in each output's ``meta.tag``.

Write-back compares it with the hash on the server's copy and skips the write
when nothing changed, so a nightly re-run does not mint new versions. It covers
what the outputs conclude and what they were concluded from — ranking (with
probabilities and criteria), red flags, next steps, knowledge and software
version, the input resources the outputs cite with their versions, the data-quality issues, and the signature — and
deliberately not the analysis time or anything derived from it alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

import orjson

from bmefhir import __version__
from bmefhir.analysis import Analysis
from bmefhir.render.ids import BASE
from bmefhir.render.signature import Signature
from bmefhir.render.summary import summarize

__all__ = ["CONTENT_HASH_SYSTEM", "content_hash", "hash_tag"]

CONTENT_HASH_SYSTEM: Final = f"{BASE}/CodeSystem/content-hash"
_HASHED_SUMMARY_KEYS: Final = ("ranking", "red_flags", "next_steps", "insufficient_data", "knowledge_version")


def content_hash(
    analysis: Analysis,
    signature: Signature | None = None,
    *,
    findings: Sequence[str] = (),
    inputs: Collection[str] | None = None,
    summary: Mapping[str, Any] | None = None,
) -> str:
    """Hex SHA-256 (first 32 digits) of the assessment's content; equal content, equal hash.

    ``findings`` are the identifiers of the text findings written with it (``--write-findings``):
    a run that writes them differs from one that does not, so it is not skipped as unchanged.
    ``inputs`` are the references the outputs cite (``bmefhir.render.resources.used_refs``; all
    sources when None): a change to a resource nothing cites changes no output, so it writes nothing.
    ``summary`` is ``summarize(analysis)`` when the caller made it already (the pipeline returns it too).
    """
    summary = summarize(analysis) if summary is None else summary
    content: dict[str, Any] = {key: summary.get(key) for key in _HASHED_SUMMARY_KEYS}
    content["software"] = __version__
    cited = analysis.record.sources if inputs is None else [s for s in analysis.record.sources if s.ref in inputs]
    content["inputs"] = sorted([s.ref, s.version or ""] for s in cited)
    # The report carries the data-quality issues (a failed search is one, with no input to show it).
    content["issues"] = sorted([i.severity, i.code, i.resource, i.element, i.message] for i in analysis.record.issues)
    content["signature"] = (
        [signature.practitioner_ref, signature.display or "", signature.comment or ""] if signature else None
    )
    if findings:
        content["findings"] = sorted(set(findings))
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def hash_tag(digest: str) -> dict[str, str]:
    return {"system": CONTENT_HASH_SYSTEM, "code": digest}
