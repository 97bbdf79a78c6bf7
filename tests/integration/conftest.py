"""One live FHIR server per test session: the HAPI sandbox, or ``BMEFHIR_TEST_FHIR_BASE``.

In CI (``CI`` set) a sandbox that cannot start fails the session with the
reason; elsewhere the integration tests are skipped with it. Validation
warnings collected by the tests are printed in the terminal summary (they are
not Python warnings: pytest runs with ``filterwarnings = error``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from bmefhir.fhir.client import FhirClient
from bmefhir.testing.examples import list_examples

from .target import ENV_BASE, Target

VALIDATION_WARNINGS: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def target(fhir_server: str) -> Iterator[Target]:
    if os.environ.get(ENV_BASE):
        found = Target(fhir_server, external=True, prefix=f"bmt{uuid.uuid4().hex[:8]}-")
        yield found
        with found.client() as client:
            found.cleanup(client)
        return
    yield Target(fhir_server, external=False, prefix="")


@pytest.fixture(scope="session")
def loaded(target: Target) -> Target:
    """Every example bundle loaded into the server (once per session)."""
    with target.client() as client:
        for case in list_examples():
            target.load(client, target.example_bundle(case))
    return target


@pytest.fixture
def client(target: Target) -> Iterator[FhirClient]:
    with target.client() as fhir:
        yield fhir


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints them (tests/conftest.py)
        workeroutput["validation_warnings"] = VALIDATION_WARNINGS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    print_validation_warnings(terminalreporter, VALIDATION_WARNINGS)


def print_validation_warnings(terminalreporter: pytest.TerminalReporter, warnings: list[str]) -> None:
    if warnings:
        terminalreporter.section("HAPI $validate warnings on bmefhir resources")
        for line in sorted(set(warnings)):
            terminalreporter.write_line(line)
