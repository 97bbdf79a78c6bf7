"""Fixtures for the web app tests: HAPI (one per session, shared), the mock EHR, the app."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bmefhir import sandbox

from .harness import MockEhr, create_practitioner, load_examples, mock_ehr, run_prefix

ENV_BASE = "BMEFHIR_TEST_FHIR_BASE"


@pytest.fixture(scope="session")
def hapi_base() -> Iterator[str]:
    """The FHIR server: ``BMEFHIR_TEST_FHIR_BASE``, else the HAPI sandbox (reused when already running)."""
    external = os.environ.get(ENV_BASE)
    if external:
        yield external.rstrip("/")
        return
    try:
        manager = sandbox.running()
        server = manager.__enter__()
    except sandbox.SandboxError as exc:
        reason = f"the HAPI FHIR sandbox did not start: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield server.base_url.rstrip("/")
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def patients(hapi_base: str) -> dict[str, str]:
    """Every example loaded under run-unique ids: example name → Patient id."""
    return load_examples(hapi_base, run_prefix())


@pytest.fixture(scope="session")
def practitioner(hapi_base: str) -> str:
    return create_practitioner(hapi_base, run_prefix())


@pytest.fixture(scope="session")
def ehr_session(hapi_base: str) -> Iterator[MockEhr]:
    with mock_ehr(hapi_base) as ehr:
        yield ehr


@pytest.fixture
def ehr(ehr_session: MockEhr, practitioner: str) -> Iterator[MockEhr]:
    """The mock EHR with default knobs: approves, grants what is asked, names ``practitioner``."""
    ehr_session.reset(practitioner)
    yield ehr_session
    ehr_session.reset(practitioner)
