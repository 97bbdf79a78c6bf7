"""Batch Bundles: building the request and reading the per-entry responses (no I/O).

In a ``batch`` each entry succeeds or fails on its own, so failures are
returned as ``BatchResult.error()`` for the caller to report, never raised for
the whole call. Response entries come back in request order (FHIR R4 3.1.0.11.2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bmefhir.fhir.errors import FhirHttpError, FhirResponseError, http_error
from bmefhir.fhir.outcome import OutcomeIssue, parse_outcome
from bmefhir.fhir.urls import relative_label

__all__ = ["BatchRequest", "BatchResult", "batch_bundle", "read_batch_response"]

_STATUS = re.compile(r"\s*(\d{3})\b")


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One entry of a batch: ``url`` relative to the base, e.g. ``Observation?patient=1``."""

    method: str
    url: str
    resource: dict[str, Any] | None = None
    if_match: str | None = None
    if_none_exist: str | None = None

    def to_entry(self) -> dict[str, Any]:
        request: dict[str, Any] = {"method": self.method.upper(), "url": self.url}
        if self.if_match is not None:
            request["ifMatch"] = self.if_match
        if self.if_none_exist is not None:
            request["ifNoneExist"] = self.if_none_exist
        entry: dict[str, Any] = {"request": request}
        if self.resource is not None:
            entry["resource"] = self.resource
        return entry


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The server's answer to one ``BatchRequest``; ``label`` names it without parameter values."""

    request: BatchRequest
    label: str
    status: int
    resource: dict[str, Any] | None
    issues: tuple[OutcomeIssue, ...] = ()
    location: str | None = None
    etag: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> FhirHttpError | None:
        if self.ok:
            return None
        return http_error(
            method=self.request.method.upper(), request=self.label, status=self.status, issues=self.issues
        )


def batch_bundle(requests: Sequence[BatchRequest]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "batch", "entry": [r.to_entry() for r in requests]}


def read_batch_response(
    body: Mapping[str, Any], requests: Sequence[BatchRequest], base: httpx.URL
) -> list[BatchResult]:
    """Pair each request with its response entry; a malformed response raises ``FhirResponseError``."""

    def malformed(what: str) -> FhirResponseError:
        return FhirResponseError(
            f"{what}; the server's batch-response is malformed", method="POST", request="Bundle (batch)"
        )

    entries = body.get("entry") or []
    if not isinstance(entries, list) or len(entries) != len(requests):
        raise malformed(f"sent {len(requests)} entries but got {len(entries)} back")
    results = []
    for i, (entry, request) in enumerate(zip(entries, requests, strict=True)):
        response = entry.get("response") if isinstance(entry, Mapping) else None
        status = _STATUS.match(str(response.get("status", ""))) if isinstance(response, Mapping) else None
        if not isinstance(response, Mapping) or status is None:
            raise malformed(f"Bundle.entry[{i}].response.status is missing or not an HTTP status")
        resource = entry.get("resource")
        resource = resource if isinstance(resource, dict) else None
        # Failures carry an OperationOutcome in response.outcome (R4) or, on some servers, as the resource.
        issues = parse_outcome(response.get("outcome")) or parse_outcome(resource)
        results.append(
            BatchResult(
                request=request,
                label=relative_label(request.url, base),
                status=int(status.group(1)),
                resource=resource,
                issues=issues,
                location=_str_or_none(response.get("location")),
                etag=_str_or_none(response.get("etag")),
            )
        )
    return results


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
