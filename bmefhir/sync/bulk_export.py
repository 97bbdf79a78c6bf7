"""Changed patients through FHIR Bulk Data ``$export`` (``_since``, ``_type``), where the server offers it.

Kick-off with ``Prefer: respond-async`` → 202 and a ``Content-Location`` status URL;
poll it with backoff, honouring ``Retry-After``; the 200 manifest lists NDJSON
files, downloaded as streams (one line at a time: memory does not grow with the
export). The manifest's ``transactionTime`` is the server's time for the cursor.

Faults: the kick-off is retried only on 429/503 (the server did not start a job;
after a dropped connection one may have been started, so it is not sent again).
Status polls and file downloads are plain GETs: retried on 429/502/503/504 and
dropped connections, honouring ``Retry-After`` (seconds or HTTP-date, capped by
``RetryPolicy.max_retry_after``), at most ``RetryPolicy.max_attempts`` tries each.
A download that breaks mid-file starts the file again: the ids already yielded
come again and the store ignores duplicates. The job is deleted on the server
whatever happens; ``on_job`` is told its status URL (and ``None`` once deleted),
so a job left behind by a killed process can be abandoned by the next run
(``abandon_export``). Sleeping, the clock and the jitter are injected (tests).
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bmefhir.fhir.capabilities import offers_operation
from bmefhir.fhir.errors import FhirResponseError, FhirTimeout, FhirTransportError, http_error
from bmefhir.fhir.outcome import parse_outcome
from bmefhir.fhir.retry import RetryPolicy, next_delay, retry_after_seconds
from bmefhir.fhir.urls import normalise_base, same_origin
from bmefhir.sync.discovery import CHANGE_TYPES, Discovery, iso, parse_instant

__all__ = ["EXPORT_POLICY", "ExportError", "abandon_export", "discover_by_export", "supports_export"]

log = logging.getLogger("bmefhir.sync")

EXPORT_POLICY = RetryPolicy(max_attempts=6)


class ExportError(FhirResponseError):
    """The export job failed or did not finish in time."""


def supports_export(capabilities: Mapping[str, Any]) -> bool:
    """True when the CapabilityStatement offers a system-level ``export`` operation."""
    return offers_operation(capabilities, "export")


def _now() -> datetime:
    return datetime.now(UTC)


class _Retrying:
    """The export's HTTP client with the injected retry policy, sleep, clock and jitter."""

    def __init__(
        self,
        http: httpx.Client,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        clock: Callable[[], datetime],
        random: Callable[[], float],
    ) -> None:
        self.http, self.policy, self.sleep, self.clock, self.random = http, policy, sleep, clock, random

    def delay(
        self,
        attempt: int,
        *,
        replayable: bool = True,
        status: int | None = None,
        transport_error: bool = False,
        retry_after: str | None = None,
    ) -> float | None:
        return next_delay(
            self.policy,
            attempt=attempt,
            replayable=replayable,
            status=status,
            transport_error=transport_error,
            retry_after=retry_after,
            now=self.clock(),
            rand=self.random(),
        )

    def wait(self, delay: float, label: str, what: str, attempt: int) -> None:
        log.warning("sync: GET %s: %s; retry %d in %.1fs", label, what, attempt, delay)
        self.sleep(delay)


def discover_by_export(
    base_url: str,
    since: str | None,
    found: Discovery,
    *,
    auth: httpx.Auth | None = None,
    timeout: float = 60.0,
    max_wait: float = 1800.0,
    max_poll_interval: float = 120.0,
    policy: RetryPolicy = EXPORT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = _now,
    random: Callable[[], float] = _random.random,
    transport: httpx.BaseTransport | None = None,
    on_job: Callable[[str | None], None] | None = None,
) -> Iterator[str]:
    """Patient ids of every resource exported (types in ``CHANGE_TYPES``) changed at or after ``since``."""
    base = normalise_base(base_url)
    params = {"_type": ",".join(CHANGE_TYPES), "_outputFormat": "application/fhir+ndjson"}
    if since is not None:
        params["_since"] = since
    headers = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
    with httpx.Client(auth=auth, timeout=timeout, follow_redirects=False, transport=transport) as http:
        r = _Retrying(http, policy, sleep, clock, random)
        kickoff = _send(r, base.join("$export").copy_with(params=params), headers, "$export", found, replayable=False)
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
        if on_job is not None:
            on_job(str(status_url))
        try:
            manifest = _poll(r, status_url, max_wait, max_poll_interval, found)
            tx = manifest.get("transactionTime")
            if isinstance(tx, str):
                found.until = iso(parse_instant(tx))
            found.types.extend(CHANGE_TYPES)
            for item in manifest.get("output") or []:
                url = item.get("url") if isinstance(item, Mapping) else None
                if isinstance(url, str):
                    yield from _download(r, base, base.join(url), found)
        finally:  # let the server free the job and its files; if that fails the next run tries again
            if _delete(http, status_url) and on_job is not None:
                on_job(None)


def abandon_export(
    base_url: str,
    status_url: str,
    *,
    auth: httpx.Auth | None = None,
    timeout: float = 60.0,
    transport: httpx.BaseTransport | None = None,
) -> bool:
    """Cancel an export job left behind (DELETE its status URL); True when the server no longer has it."""
    base = normalise_base(base_url)
    url = httpx.URL(status_url)
    if not same_origin(url, base):
        return True  # never ours to send credentials to: forget it
    with httpx.Client(auth=auth, timeout=timeout, follow_redirects=False, transport=transport) as http:
        return _delete(http, url)


def _delete(http: httpx.Client, url: httpx.URL) -> bool:
    try:
        response = http.delete(url)
    except httpx.HTTPError:
        return False
    return response.is_success or response.status_code in (404, 410)


def _send(
    r: _Retrying,
    url: httpx.URL,
    headers: Mapping[str, str],
    label: str,
    found: Discovery,
    *,
    replayable: bool = True,
) -> httpx.Response:
    attempt = 0
    while True:
        attempt += 1
        found.pages += 1
        try:
            response = r.http.get(url, headers=headers)
        except httpx.TransportError as exc:
            delay = r.delay(attempt, replayable=replayable, transport_error=True)
            if delay is None:
                error = FhirTimeout if isinstance(exc, httpx.TimeoutException) else FhirTransportError
                raise error(type(exc).__name__, method="GET", request=label, attempts=attempt) from None
            r.wait(delay, label, type(exc).__name__, attempt)
            continue
        if response.status_code < 400:
            return response
        retry_after = response.headers.get("Retry-After")
        delay = r.delay(attempt, replayable=replayable, status=response.status_code, retry_after=retry_after)
        if delay is None:
            raise http_error(
                method="GET",
                request=label,
                status=response.status_code,
                issues=parse_outcome(_json_or_none(response.content)),
                attempts=attempt,
            )
        r.wait(delay, label, str(response.status_code), attempt)


def _poll(r: _Retrying, url: httpx.URL, max_wait: float, max_poll_interval: float, found: Discovery) -> dict[str, Any]:
    """Wait as long as the server asks (``Retry-After``), up to ``max_poll_interval`` between polls
    (HAPI always asks for 120 s, even for a job that takes 2 s)."""
    waited, backoff = 0.0, 0.5
    while True:
        response = _send(r, url, {"Accept": "application/json"}, "$export-poll-status", found)
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
        asked = retry_after_seconds(response.headers.get("Retry-After"), r.clock())
        delay = min(asked if asked is not None else backoff, max_poll_interval)
        backoff = min(backoff * 2, 30.0)
        if waited + delay > max_wait:
            raise ExportError(
                f"the export did not finish within {max_wait:.0f}s", method="GET", request="$export-poll-status"
            )
        r.sleep(delay)
        waited += delay


def _download(r: _Retrying, base: httpx.URL, url: httpx.URL, found: Discovery) -> Iterator[str]:
    """The patient ids of one NDJSON file, streamed; the whole file again after a retried fault."""
    if not same_origin(url, base):
        raise ExportError(
            "an export file is on another server; refusing to send credentials there",
            method="GET",
            request="export file",
        )
    attempt = 0
    while True:
        attempt += 1
        found.pages += 1
        try:
            with r.http.stream("GET", url, headers={"Accept": "application/fhir+ndjson"}) as response:
                if response.status_code < 400:
                    yield from _patients(response, found)
                    return
                response.read()
                status, retry_after = response.status_code, response.headers.get("Retry-After")
                issues = parse_outcome(_json_or_none(response.content))
        except httpx.TransportError as exc:
            delay = r.delay(attempt, transport_error=True)
            if delay is None:
                error = FhirTimeout if isinstance(exc, httpx.TimeoutException) else FhirTransportError
                raise error(type(exc).__name__, method="GET", request="export file", attempts=attempt) from None
            r.wait(delay, "export file", type(exc).__name__, attempt)
            continue
        delay = r.delay(attempt, status=status, retry_after=retry_after)
        if delay is None:
            raise http_error(method="GET", request="export file", status=status, issues=issues, attempts=attempt)
        r.wait(delay, "export file", str(status), attempt)


def _patients(response: httpx.Response, found: Discovery) -> Iterator[str]:
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
        if pid := found.patient_of(resource):
            yield pid


def _json_or_none(content: bytes) -> object:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
