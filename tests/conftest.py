"""Fixtures shared by every test folder: the one live FHIR server of a test session.

The server is ``BMEFHIR_TEST_FHIR_BASE`` when set, else the project's HAPI FHIR
sandbox, started once and stopped at the end. A prerequisite that cannot start
fails the session in CI (``CI`` set) and is skipped with its reason elsewhere:
CI must never skip the real-server tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bmefhir import sandbox
from bmefhir.testing.prerequisites import unavailable

ENV_BASE = "BMEFHIR_TEST_FHIR_BASE"


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[str]:
    """Base URL of the session's FHIR server (no trailing slash)."""
    external = os.environ.get(ENV_BASE)
    if external:
        yield external.rstrip("/")
        return
    try:
        manager = sandbox.running()
        server = manager.__enter__()
    except sandbox.SandboxError as exc:
        unavailable(f"the HAPI FHIR sandbox did not start: {exc}")
    try:
        yield server.base_url.rstrip("/")
    finally:
        manager.__exit__(None, None, None)
