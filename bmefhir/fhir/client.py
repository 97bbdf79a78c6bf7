"""A synchronous FHIR R4 REST client over httpx: paging, retries, auth, one error tree.

The decisions (URLs and labels in ``urls``, retries in ``retry``, paging in
``paging``, batch entries in ``batch``) are pure functions; this module only
drives them with I/O, so an async twin would be a thin driver too.

    with FhirClient("https://hapi.fhir.org/baseR4", auth=token) as fhir:
        for obs in fhir.search("Observation", {"patient": "123"}):
            ...
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from types import TracebackType
from typing import Any, Self

import httpx
import orjson

from bmefhir.fhir.auth import BearerAuth
from bmefhir.fhir.batch import BatchRequest, BatchResult, batch_bundle, read_batch_response
from bmefhir.fhir.errors import FhirResponseError, FhirTimeout, FhirTransportError, http_error
from bmefhir.fhir.jsonlimits import MAX_PAGES, MAX_RESPONSE_BYTES
from bmefhir.fhir.outcome import parse_outcome
from bmefhir.fhir.paging import bundle_resources, page_flow
from bmefhir.fhir.retry import RetryPolicy, is_replayable, next_delay
from bmefhir.fhir.urls import SearchParams, normalise_base, request_label, resource_path, search_url

__all__ = ["FHIR_JSON", "FhirClient"]

FHIR_JSON = "application/fhir+json"
log = logging.getLogger("bmefhir.fhir")


@dataclass(frozen=True, slots=True)
class _Reply:
    """A response read whole: status, headers and the decoded body. Not a second ``httpx.Response``:
    building one per request (its headers filtered of the wire ones, the body read again) cost
    ~0.15-0.3 ms of CPU per request, ~2-4 % of a small patient's (docs/performance.md)."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FhirClient:
    """A FHIR server at ``base_url``. Use as a context manager (it owns an ``httpx.Client``).

    ``auth`` is a bearer token string or any ``httpx.Auth`` (SMART plugs in here).
    ``transport`` is for tests and custom networking. ``sleep``, ``random`` and
    ``clock`` are injected so retries can be tested without waiting.
    ``requests_sent`` counts HTTP requests, retries included. ``max_response_bytes``
    bounds one response body (read as a stream; a larger one is a ``FhirResponseError``,
    which a patient fetch reports as missing data) and ``max_pages`` the pages followed
    per search (``bmefhir.fhir.jsonlimits``).
    """

    def __init__(
        self,
        base_url: str | httpx.URL,
        *,
        auth: httpx.Auth | str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as a default
        transport: httpx.BaseTransport | None = None,
        page_size: int = 100,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_pages: int = MAX_PAGES,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.base = normalise_base(base_url)
        self.retry = retry
        self.page_size = page_size
        self.max_response_bytes = max_response_bytes
        self.max_pages = max_pages
        self.requests_sent = 0
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._http = httpx.Client(
            auth=BearerAuth(auth) if isinstance(auth, str) else auth,
            timeout=timeout,
            transport=transport,
            headers={"Accept": FHIR_JSON},
            follow_redirects=False,  # a redirect could carry the Authorization header elsewhere
        )

    def __repr__(self) -> str:
        return f"FhirClient({str(self.base)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reads ---------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        return self._json("GET", self.base.join("metadata"), expect="CapabilityStatement")

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return self._json("GET", self.base.join(resource_path(resource_type, resource_id)), expect=resource_type)

    def search_bundles(
        self, resource_type: str, params: SearchParams | None = None, *, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every searchset page, following ``next`` links to the end."""
        query = httpx.QueryParams(params or {})
        if "_count" not in query:
            query = query.set("_count", str(self.page_size))
        yield from self._pages(search_url(self.base, resource_type, query), max_pages=max_pages)

    def search(self, resource_type: str, params: SearchParams | None = None) -> Iterator[dict[str, Any]]:
        """Every matching (and ``_include``d) resource across all pages."""
        for bundle in self.search_bundles(resource_type, params):
            yield from bundle_resources(bundle)

    def continue_search(self, first_url: str, page: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """The pages after ``page``, a searchset already fetched from ``first_url`` (e.g. inside a batch)."""
        yield from islice(self._pages(self.base.join(first_url), first_page=page), 1, None)

    def _pages(
        self, first: httpx.URL, *, first_page: Mapping[str, Any] | None = None, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        flow = page_flow(first, self.base, max_pages=max_pages if max_pages is not None else self.max_pages)
        url = next(flow)
        page = dict(first_page) if first_page is not None else self._json("GET", url, expect="Bundle")
        while True:
            yield page
            try:
                url = flow.send(page)
            except StopIteration:
                return
            page = self._json("GET", url, expect="Bundle")

    # -- writes --------------------------------------------------------------

    def batch(self, requests: Sequence[BatchRequest]) -> list[BatchResult]:
        """POST a batch; per-entry failures come back as ``BatchResult.error()``, not raised."""
        bundle = batch_bundle(requests)
        body = self._json("POST", self.base, payload=bundle, label="Bundle (batch)", expect="Bundle")
        return read_batch_response(body, requests, self.base)

    def transaction(self, bundle: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """POST a transaction Bundle (all or nothing); a failure raises with the server's issues.

        ``headers`` are extra request headers (e.g. HAPI's ``X-Meta-Snapshot-Mode``).
        """
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise ValueError("transaction() needs a Bundle with type 'transaction'")
        return self._json(
            "POST", self.base, payload=bundle, label="Bundle (transaction)", expect="Bundle", headers=headers
        )

    def update(self, resource: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        """PUT ``resource`` to its id; ``if_match`` (a versionId) turns a lost update into ``FhirConflict``."""
        resource_type, resource_id = resource.get("resourceType"), resource.get("id")
        if not isinstance(resource_type, str) or not isinstance(resource_id, str):
            raise ValueError("update() needs a resource with resourceType and id")
        headers = {"Prefer": "return=representation"}
        if if_match is not None:
            headers["If-Match"] = if_match if if_match.startswith('W/"') else f'W/"{if_match}"'
        url = self.base.join(resource_path(resource_type, resource_id))
        body = self._json("PUT", url, payload=resource, headers=headers, expect=resource_type, allow_empty=True)
        return body or dict(resource)

    # -- the one place that talks HTTP ---------------------------------------

    def _json(
        self,
        method: str,
        url: httpx.URL,
        *,
        expect: str,
        payload: Mapping[str, Any] | None = None,
        label: str | None = None,
        headers: Mapping[str, str] | None = None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        label = label or request_label(url, self.base)
        response = self._send(method, url, label=label, payload=payload, headers=headers)
        if allow_empty and not response.content.strip():
            return {}
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise FhirResponseError(
                f"the {response.status_code} response is not valid JSON (truncated or malformed near byte "
                f"{exc.pos}); retry, and report it to the server's operator if it persists",
                method=method,
                request=label,
            ) from None
        found = body.get("resourceType") if isinstance(body, dict) else None
        if found != expect:
            raise FhirResponseError(
                f"expected a {expect} resource but the response holds {found or 'no resource'}",
                method=method,
                request=label,
            )
        result: dict[str, Any] = body
        return result

    def _send(
        self,
        method: str,
        url: httpx.URL,
        *,
        label: str,
        payload: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> _Reply:
        replayable = is_replayable(method, path=url.path, bundle=payload, policy=self.retry)
        all_headers = dict(headers or {})
        content = None
        if payload is not None:
            content = orjson.dumps(payload)
            all_headers["Content-Type"] = FHIR_JSON
        attempt = 0
        while True:
            attempt += 1
            self.requests_sent += 1
            try:
                response = self._receive(method, url, content, all_headers, label)
            except httpx.TransportError as exc:
                delay = self._delay(attempt, replayable, transport_error=True)
                if delay is None:
                    error = FhirTimeout if isinstance(exc, httpx.TimeoutException) else FhirTransportError
                    # ``from None``: httpx's exception holds the request, headers included.
                    raise error(type(exc).__name__, method=method, request=label, attempts=attempt) from None
                log.warning("%s %s: %s; retry %d in %.1fs", method, label, type(exc).__name__, attempt, delay)
                self._sleep(delay)
                continue
            log.debug("%s %s → %d (attempt %d)", method, label, response.status_code, attempt)
            if response.is_success:
                return response
            delay = self._delay(
                attempt, replayable, status=response.status_code, retry_after=response.headers.get("Retry-After")
            )
            if delay is None:
                raise http_error(
                    method=method,
                    request=label,
                    status=response.status_code,
                    issues=parse_outcome(_loads_or_none(response.content)),
                    attempts=attempt,
                )
            log.warning("%s %s → %d; retry %d in %.1fs", method, label, response.status_code, attempt, delay)
            self._sleep(delay)

    def _receive(
        self, method: str, url: httpx.URL, content: bytes | None, headers: Mapping[str, str], label: str
    ) -> _Reply:
        """One request; the body is read as a stream up to ``max_response_bytes`` (memory stays bounded)."""
        with self._http.stream(method, url, content=content, headers=headers) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                raise self._too_large(method, label, response.status_code)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise self._too_large(method, label, response.status_code)
                chunks.append(chunk)
        return _Reply(response.status_code, response.headers, b"".join(chunks))

    def _too_large(self, method: str, label: str, status: int) -> FhirResponseError:
        limit = f"{self.max_response_bytes / (1 << 20):g} MiB"
        return FhirResponseError(
            f"the {status} response is larger than {limit}; not read (a server ignoring _count, or an "
            "oversized page); ask for smaller pages or raise the limit",
            method=method,
            request=label,
        )

    def _delay(
        self,
        attempt: int,
        replayable: bool,
        *,
        status: int | None = None,
        transport_error: bool = False,
        retry_after: str | None = None,
    ) -> float | None:
        return next_delay(
            self.retry,
            attempt=attempt,
            replayable=replayable,
            status=status,
            transport_error=transport_error,
            retry_after=retry_after,
            now=self._clock(),
            rand=self._random(),
        )


def _loads_or_none(content: bytes) -> object:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
