"""Repeat a sync every interval until SIGTERM/SIGINT; parse intervals like ``1h``, ``30m``, ``1d``.

A signal sets one ``threading.Event``: the running sync starts no new patient,
records the ones that finish, releases its lease, and the loop exits (status 0).
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType

__all__ = ["parse_duration", "repeat", "stop_on_signals"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``5m``, ``1h30m``, ``1d`` → a timedelta; anything else is a ValueError."""
    value = text.strip().lower()
    parts = list(_DURATION.finditer(value))
    if not value or "".join(p.group(0) for p in parts) != value:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 5m, 1h, 1d)")
    return timedelta(seconds=sum(float(p.group(1)) * _UNITS[p.group(2)] for p in parts))


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """Within the block, SIGTERM and SIGINT set ``stop`` instead of killing the process."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def repeat(task: Callable[[], object], every: timedelta, stop: threading.Event) -> int:
    """Run ``task`` now and then every ``every`` (start to start) until ``stop``; returns the runs made."""
    runs = 0
    while not stop.is_set():
        t0 = time.monotonic()
        task()
        runs += 1
        remaining = every.total_seconds() - (time.monotonic() - t0)
        if remaining > 0 and stop.wait(remaining):
            break
    return runs
