"""When to try a request again, and how long to wait: a policy as data, pure decisions.

Only requests that are safe to replay are retried after a failure that may have
happened after the server acted. A transaction POST is not: if the connection
drops or times out after the server committed it, or a gateway answers 502/504
for it, replaying it blindly would write everything twice. (Conditional creates
make a replay harmless; ``RetryPolicy.replay_conditional_writes`` opts in once
every entry is one.)

Any request, a transaction included, is retried when the server said it did not
process it: 429 Too Many Requests and 503 Service Unavailable
(``RetryPolicy.unprocessed_statuses``), honouring ``Retry-After``. One caveat: a
proxy that turns an upstream reset *after* forwarding into a 503 (Envoy does)
breaks that promise; bmefhir's write-back transactions are conditional
(``If-Match``, conditional update, ``ifNoneExist``), so such a replay is a no-op
or a 412, never a duplicate. Set ``unprocessed_statuses=frozenset()`` to opt out.
Nothing here sleeps or reads a clock: ``now`` and the random draw come in as
arguments, so the client injects them and tests are instant and deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["RetryPolicy", "backoff_delay", "is_replayable", "next_delay", "retry_after_seconds"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_READS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; delays are ``uniform(0, min(cap, base * 2**(n-1)))``."""

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After is shortened to this
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    replay_conditional_writes: bool = False
    # statuses that mean "not processed": retried even for requests that are not replayable
    unprocessed_statuses: frozenset[int] = frozenset({429, 503})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.max_retry_after < 0:
            raise ValueError("RetryPolicy delays must not be negative")


NO_RETRY = RetryPolicy(max_attempts=1)


def is_replayable(method: str, *, path: str, bundle: Mapping[str, Any] | None = None, policy: RetryPolicy) -> bool:
    """True when sending the request twice has the same effect as sending it once."""
    method = method.upper()
    if method in _IDEMPOTENT:
        return True
    if method != "POST":
        return False  # PATCH and anything unknown
    if path.rstrip("/").endswith("_search"):
        return True
    if bundle is None or bundle.get("type") not in ("batch", "transaction"):
        return False
    requests = [_entry_request(entry) for entry in bundle.get("entry") or []]
    if bundle.get("type") == "batch" and all(r.get("method") in _READS for r in requests):
        return True
    return policy.replay_conditional_writes and all(_is_conditional(r) for r in requests)


def _entry_request(entry: object) -> Mapping[str, Any]:
    request = entry.get("request") if isinstance(entry, Mapping) else None
    return request if isinstance(request, Mapping) else {}


def _is_conditional(request: Mapping[str, Any]) -> bool:
    method = request.get("method")
    if method == "POST":
        return bool(request.get("ifNoneExist"))
    return method in _IDEMPOTENT


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None or now.tzinfo is None:
        return None  # HTTP-dates are GMT; an aware ``now`` is needed to compare
    return max(0.0, (when - now).total_seconds())


def backoff_delay(policy: RetryPolicy, attempt: int, rand: float) -> float:
    """Full jitter after the ``attempt``-th failure (1-based); ``rand`` in [0, 1)."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2.0 ** (attempt - 1))
    return rand * ceiling


def next_delay(
    policy: RetryPolicy,
    *,
    attempt: int,
    replayable: bool,
    status: int | None = None,
    transport_error: bool = False,
    retry_after: str | None = None,
    now: datetime,
    rand: float,
) -> float | None:
    """Seconds to wait before the next attempt, or None to stop and report the failure.

    ``attempt`` is the number of the attempt that just failed (1-based);
    ``status`` its HTTP status, or ``transport_error`` when there was no response.
    A request that is not ``replayable`` is retried only on an ``unprocessed_statuses``
    answer: never after a timeout or dropped connection (it may have been processed).
    """
    if attempt >= policy.max_attempts:
        return None
    if transport_error:
        if not replayable:
            return None
    elif status not in (policy.retry_statuses if replayable else policy.unprocessed_statuses):
        return None
    asked = retry_after_seconds(retry_after, now)
    if asked is not None:
        return min(asked, policy.max_retry_after)
    return backoff_delay(policy, attempt, rand)
