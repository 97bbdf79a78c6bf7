"""Fixtures for the web app tests: HAPI (one per session, shared), the mock EHR, the app."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bmefhir.smart.keys import generate_key, signing_key

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


# ---------------------------------------------------------------- a CDS client's keys


@pytest.fixture(scope="module")
def client_key() -> Any:
    """A CDS client's ES384 signing key."""
    return signing_key(generate_key("ES384"), kid="cds-client-1")


@pytest.fixture(scope="module")
def jwks_server(client_key: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The CDS client's JWKS on a real loopback HTTP server."""
    root = tmp_path_factory.mktemp("jwks")
    (root / "jwks.json").write_text(json.dumps(client_key.jwks()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()
