"""Changed patients through FHIR Bulk Data ``$export`` (``_since``, ``_type``), where the server offers it.

Kick-off with ``Prefer: respond-async`` → 202 and a ``Content-Location`` status URL;
poll it with backoff, honouring ``Retry-After``; the 200 manifest lists NDJSON
files, downloaded as streams (one line at a time: memory does not grow with the
export). The manifest's ``transactionTime`` is the server's time for the cursor.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bmefhir.fhir.errors import FhirResponseError, FhirTransportError, http_error
from bmefhir.fhir.outcome import parse_outcome
from bmefhir.fhir.retry import RetryPolicy, next_delay, retry_after_seconds
from bmefhir.fhir.urls import normalise_base, same_origin
from bmefhir.sync.discovery import CHANGE_TYPES, Discovery, is_own_output, iso, parse_instant, patient_of

__all__ = ["ExportError", "discover_by_export", "supports_export"]


class ExportError(FhirResponseError):
    """The export job failed or did not finish in time."""


def supports_export(capabilities: Mapping[str, Any]) -> bool:
    """True when the CapabilityStatement offers a system-level ``export`` operation."""
    for rest in capabilities.get("rest") or []:
        if not isinstance(rest, Mapping) or rest.get("mode") != "server":
            continue
        for op in rest.get("operation") or []:
            if isinstance(op, Mapping) and op.get("name") == "export":
                return True
    return False


def discover_by_export(
    base_url: str,
    since: str | None,
    found: Discovery,
    *,
    auth: httpx.Auth | None = None,
    timeout: float = 60.0,
    max_wait: float = 1800.0,
    max_poll_interval: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Patient ids of every resource exported (types in ``CHANGE_TYPES``) changed at or after ``since``."""
    base = normalise_base(base_url)
    policy = RetryPolicy(max_attempts=6)
    params = {"_type": ",".join(CHANGE_TYPES), "_outputFormat": "application/fhir+ndjson"}
    if since is not None:
        params["_since"] = since
    headers = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
    with httpx.Client(auth=auth, timeout=timeout, follow_redirects=False) as http:
        kickoff = _send(http, "GET", base.join("$export").copy_with(params=params), headers, "$export", policy, sleep)
        found.pages += 1
        if kickoff.status_code != 202 or "Content-Location" not in kickoff.headers:
            raise ExportError(
                "the $export kick-off did not answer 202 with Content-Location", method="GET", request="$export"
            )
        status_url = base.join(kickoff.headers["Content-Location"])
        if not same_origin(status_url, base):
            raise ExportError(
                "the export status URL is on another server; refusing to send credentials there",
                method="GET",
                request="$export",
            )
        manifest = _poll(http, status_url, policy, max_wait, max_poll_interval, sleep, found)
        tx = manifest.get("transactionTime")
        if isinstance(tx, str):
            found.until = iso(parse_instant(tx))
        found.types.extend(CHANGE_TYPES)
        try:
            for item in manifest.get("output") or []:
                url = item.get("url") if isinstance(item, Mapping) else None
                if isinstance(url, str):
                    yield from _download(http, base, base.join(url), found)
        finally:
            with contextlib.suppress(httpx.HTTPError):  # let the server free the files; harmless if it fails
                http.delete(status_url)


def _send(
    http: httpx.Client,
    method: str,
    url: httpx.URL,
    headers: Mapping[str, str],
    label: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> httpx.Response:
    attempt = 0
    while True:
        attempt += 1
        try:
            response = http.request(method, url, headers=headers)
        except httpx.TransportError as exc:
            delay = next_delay(policy, attempt=attempt, replayable=True, transport_error=True, now=_now(), rand=0.5)
            if delay is None:
                raise FhirTransportError(type(exc).__name__, method=method, request=label, attempts=attempt) from None
            sleep(delay)
            continue
        if response.status_code < 400:
            return response
        delay = next_delay(
            policy,
            attempt=attempt,
            replayable=True,
            status=response.status_code,
            retry_after=response.headers.get("Retry-After"),
            now=_now(),
            rand=0.5,
        )
        if delay is None:
            raise http_error(
                method=method,
                request=label,
                status=response.status_code,
                issues=parse_outcome(_json_or_none(response.content)),
                attempts=attempt,
            )
        sleep(delay)


def _poll(
    http: httpx.Client,
    url: httpx.URL,
    policy: RetryPolicy,
    max_wait: float,
    max_poll_interval: float,
    sleep: Callable[[float], None],
    found: Discovery,
) -> dict[str, Any]:
    """Wait as long as the server asks (``Retry-After``), up to ``max_poll_interval`` between polls
    (HAPI always asks for 120 s, even for a job that takes 2 s)."""
    waited, backoff = 0.0, 0.5
    while True:
        response = _send(http, "GET", url, {"Accept": "application/json"}, "$export-poll-status", policy, sleep)
        found.pages += 1
        if response.status_code == 200:
            body = _json_or_none(response.content)
            if not isinstance(body, dict):
                raise ExportError("the export manifest is not JSON", method="GET", request="$export-poll-status")
            return body
        if response.status_code != 202:
            raise ExportError(
                f"unexpected status {response.status_code} while polling the export",
                method="GET",
                request="$export-poll-status",
            )
        asked = retry_after_seconds(response.headers.get("Retry-After"), _now())
        delay = min(asked if asked is not None else backoff, max_poll_interval)
        backoff = min(backoff * 2, 30.0)
        if waited + delay > max_wait:
            raise ExportError(
                f"the export did not finish within {max_wait:.0f}s", method="GET", request="$export-poll-status"
            )
        sleep(delay)
        waited += delay


def _download(http: httpx.Client, base: httpx.URL, url: httpx.URL, found: Discovery) -> Iterator[str]:
    if not same_origin(url, base):
        raise ExportError(
            "an export file is on another server; refusing to send credentials there",
            method="GET",
            request="export file",
        )
    found.pages += 1
    with http.stream("GET", url, headers={"Accept": "application/fhir+ndjson"}) as response:
        if response.status_code >= 400:
            raise http_error(method="GET", request="export file", status=response.status_code)
        for line in response.iter_lines():
            if not line.strip():
                continue
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise ExportError(
                    "an export file holds a line that is not JSON", method="GET", request="export file"
                ) from None
            if not isinstance(resource, dict):
                continue
            if is_own_output(resource):
                found.skipped_own += 1
                continue
            if pid := patient_of(resource):
                yield pid


def _json_or_none(content: bytes) -> object:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def _now() -> datetime:
    return datetime.now(UTC)
