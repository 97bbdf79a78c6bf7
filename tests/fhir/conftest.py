"""Fault injection at the transport (respx): the real FhirClient runs against a scripted server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
from fhir_helpers import BASE, NOW, TOKEN

from bmefhir.fhir import FhirClient, RetryPolicy


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(router: respx.MockRouter, sleeps: list[float]) -> Iterator[FhirClient]:
    with FhirClient(
        BASE,
        auth=TOKEN,
        retry=RetryPolicy(max_attempts=3, backoff_base=1.0),
        transport=httpx.MockTransport(router.handler),
        page_size=2,
        sleep=sleeps.append,
        random=lambda: 0.5,
        clock=lambda: NOW,
    ) as fhir:
        yield fhir
