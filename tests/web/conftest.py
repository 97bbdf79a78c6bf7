"""Fixtures for the web app tests: HAPI (one per session, shared), the mock EHR, the app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import MockEhr, create_practitioner, load_examples, mock_ehr, run_prefix


@pytest.fixture(scope="session")
def hapi_base(fhir_server: str) -> str:
    return fhir_server


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
