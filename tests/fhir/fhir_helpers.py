"""Scripted FHIR server responses shared by the tests of the FHIR edge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

BASE = "https://fhir.test/r4"
TOKEN = "s3cr3t-token-value"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def fhir_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"Content-Type": "application/fhir+json", **(headers or {})})


def searchset(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "self", "url": "x"}, {"relation": "next", "url": next_url}]
    return bundle


def outcome(diagnostics: str, expression: str | None = None, code: str = "invalid") -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def entry(resource: dict[str, Any] | None, status: str = "200 OK", oo: dict[str, Any] | None = None) -> dict[str, Any]:
    """One entry of a batch-response: ``resource`` with ``status``, ``oo`` as its ``response.outcome``."""
    result: dict[str, Any] = {"response": {"status": status}}
    if resource is not None:
        result["resource"] = resource
    if oo is not None:
        result["response"]["outcome"] = oo
    return result


def batch_response(*entries: dict[str, Any]) -> httpx.Response:
    return fhir_json({"resourceType": "Bundle", "type": "batch-response", "entry": list(entries)})
