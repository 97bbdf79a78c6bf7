"""OperationOutcome issues, parsed into a small typed view.

Servers explain failures in an OperationOutcome (whole-request errors) or in
``Bundle.entry.response.outcome`` (one entry of a batch). Only the parts a
person needs to act on are kept; the raw body never travels further.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_MAX_DIAGNOSTICS = 300  # a server may echo a whole resource; keep messages readable


@dataclass(frozen=True, slots=True)
class OutcomeIssue:
    severity: str  # fatal | error | warning | information
    code: str  # issue type: invalid, processing, not-found, conflict, ...
    diagnostics: str | None = None
    expression: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = self.diagnostics or self.code
        return f"{text} [{', '.join(self.expression)}]" if self.expression else text


def parse_outcome(body: object) -> tuple[OutcomeIssue, ...]:
    """Issues of an OperationOutcome; ``()`` for anything that is not one."""
    if not isinstance(body, Mapping) or body.get("resourceType") != "OperationOutcome":
        return ()
    issues = body.get("issue")
    if not isinstance(issues, list):
        return ()
    return tuple(_issue(raw) for raw in issues if isinstance(raw, Mapping))


def _issue(raw: Mapping[str, Any]) -> OutcomeIssue:
    diagnostics = raw.get("diagnostics")
    if not isinstance(diagnostics, str):
        details = raw.get("details")
        diagnostics = details.get("text") if isinstance(details, Mapping) else None
    if isinstance(diagnostics, str) and len(diagnostics) > _MAX_DIAGNOSTICS:
        diagnostics = diagnostics[: _MAX_DIAGNOSTICS - 1] + "…"
    # R4 ``expression`` (FHIRPath); fall back to the deprecated ``location`` (XPath).
    paths = raw.get("expression") or raw.get("location") or []
    expression = tuple(p for p in paths if isinstance(p, str)) if isinstance(paths, list) else ()
    return OutcomeIssue(
        severity=str(raw.get("severity", "error")),
        code=str(raw.get("code", "unknown")),
        diagnostics=diagnostics if isinstance(diagnostics, str) else None,
        expression=expression,
    )
