"""Test harness for the SMART app: the stand-in EHR (node + oauth2-mock-server), HAPI with the
examples under run-unique ids, and the app under uvicorn on loopback.

Shared by tests/web and tests/browser. In CI (``CI`` set) a missing prerequisite fails with the
reason; elsewhere the tests that need it are skipped with it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import httpx
import uvicorn
from fastapi import FastAPI

from bmefhir.fhir.client import FhirClient
from bmefhir.testing.examples import list_examples, load_bundle
from bmefhir.testing.prerequisites import unavailable

ROOT = Path(__file__).resolve().parents[2]
MOCK_EHR_SCRIPT = Path(__file__).with_name("mock_ehr.mjs")
TEST_TAG = {"system": "http://bmefhir.org/fhir/CodeSystem/test", "code": "web"}
READY_DEADLINE = 120.0  # seconds a started process may take to answer before the test gives up (loaded machines)
_REF = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


def missing(reason: str) -> NoReturn:
    unavailable(f"{reason} (run scripts/browser-test-setup.sh)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def node_modules() -> Path:
    folder = Path(os.environ.get("BMEFHIR_NODE_DIR", ROOT / ".cache" / "node")) / "node_modules"
    if shutil.which("node") is None:
        missing("node is not installed")
    if not (folder / "oauth2-mock-server" / "package.json").is_file():
        missing(f"the npm package oauth2-mock-server is not installed in {folder}")
    return folder


# ----------------------------------------------------------------------------- HAPI with examples


def prefixed(bundle: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The example transaction with every id and reference prefixed, each resource tagged as test data."""
    out = copy.deepcopy(bundle)

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: _ref(v, prefix) if k == "reference" and isinstance(v, str) else fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    for entry in out["entry"]:
        res = fix(entry["resource"])
        res["id"] = new_id(prefix, res["id"])
        res.setdefault("meta", {}).setdefault("tag", []).append(dict(TEST_TAG))
        entry["resource"] = res
        entry["request"]["url"] = _ref(entry["request"]["url"], prefix)
    return out


def new_id(prefix: str, old: str) -> str:
    """``prefix + old``, or a digest of ``old`` when that would exceed FHIR's 64 characters."""
    if len(prefix) + len(old) <= 64:
        return prefix + old
    return prefix + hashlib.sha256(old.encode()).hexdigest()[:32]


def _ref(value: str, prefix: str) -> str:
    match = _REF.match(value)
    return f"{match.group(1)}/{new_id(prefix, match.group(2))}" if match else value


def load_examples(base: str, prefix: str) -> dict[str, str]:
    """Load every example under ``prefix``; returns example name → prefixed Patient id."""
    patients: dict[str, str] = {}
    with FhirClient(base, timeout=120.0) as client:
        for case in list_examples():
            client.transaction(prefixed(load_bundle(case.name), prefix))
            patients[case.name] = new_id(prefix, case.expectation.patient)
    return patients


def create_practitioner(base: str, prefix: str) -> str:
    """The signing clinician (HAPI checks that Provenance.agent.who exists): ``Practitioner/<id>``."""
    pid = f"{prefix}clinician"
    practitioner = {
        "resourceType": "Practitioner",
        "id": pid,
        "meta": {"tag": [TEST_TAG]},
        "name": [{"family": "Clinician", "given": ["Test"], "prefix": ["Dr"]}],
    }
    with FhirClient(base, timeout=60.0) as client:
        client.update(practitioner)
    return f"Practitioner/{pid}"


# ----------------------------------------------------------------------------- the stand-in EHR


@dataclass
class MockEhr:
    origin: str
    process: subprocess.Popen[bytes]

    @property
    def iss(self) -> str:
        return f"{self.origin}/fhir"

    def control(self, **knobs: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.origin}/__control", content=json.dumps(knobs), timeout=10)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def counters(self) -> dict[str, int]:
        counts: dict[str, int] = httpx.get(f"{self.origin}/__control", timeout=10).json()["counters"]
        return counts

    def reset(self, fhir_user: str = "Practitioner/example") -> None:
        self.control(reset=True, fhirUser=fhir_user)


@contextlib.contextmanager
def mock_ehr(hapi_base: str) -> Iterator[MockEhr]:
    modules = node_modules()
    port = free_port()
    proc = subprocess.Popen(
        ["node", str(MOCK_EHR_SCRIPT), str(port), hapi_base.rstrip("/"), str(modules)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    ehr = MockEhr(f"http://127.0.0.1:{port}", proc)
    try:
        # A deadline bounds a failure only (the loop waits for the answer): generous for a loaded machine.
        deadline = time.monotonic() + READY_DEADLINE
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                missing(f"the mock EHR (node) exited: {out[-800:]}")
            try:
                ehr.counters()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    missing(f"the mock EHR did not start within {READY_DEADLINE:.0f} s")
                time.sleep(0.1)
        yield ehr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


# ----------------------------------------------------------------------------- the app's clock


class AppClock:
    """The app's clock for a test (``app.dependency_overrides[get_clock] = clock``): real time plus an
    offset the test moves forward, so a token's expiry is reached without waiting for it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **amount: float) -> None:
        self.offset += timedelta(**amount)


# ----------------------------------------------------------------------------- the app under uvicorn


@contextlib.contextmanager
def serve_app(app: FastAPI, port: int) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + READY_DEADLINE
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start under uvicorn")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_prefix() -> str:
    return f"w{uuid.uuid4().hex[:8]}-"
