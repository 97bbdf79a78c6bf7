"""What tests do when a real prerequisite (HAPI, PostgreSQL, Redis, Chromium) is missing."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str) -> NoReturn:
    """Fail in CI (``CI`` set), skip elsewhere; always with the reason. CI never skips real-server tests."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI is set: this must not be skipped)", pytrace=False)
    pytest.skip(what)
