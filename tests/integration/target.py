"""The FHIR server the integration tests run against, and how test data is made safe for it.

Default: the project's HAPI sandbox, started once per session (empty in-memory
database). With ``BMEFHIR_TEST_FHIR_BASE`` set: that server, shared with others,
so every id the tests create gets a run-unique prefix, everything carries the
test tag, and the session deletes what it created at the end.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.files import read_bundle
from bmefhir.fhir.raw import RawPatient
from bmefhir.render import ids
from bmefhir.testing.examples import ExampleCase, load_bundle

ENV_BASE = "BMEFHIR_TEST_FHIR_BASE"
TEST_TAG = {"system": "http://bmefhir.org/fhir/CodeSystem/test", "code": "integration"}
_REF = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


@dataclass
class Target:
    base: str
    external: bool
    prefix: str  # "" on the sandbox; "bmt<run>-" on an external server
    created: list[str] = field(default_factory=list)  # "Type/id" to delete at the end (external only)
    patients: list[str] = field(default_factory=list)  # patient ids whose outputs to delete
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])  # makes per-test copies unique per session

    def client(self, **kwargs: Any) -> FhirClient:
        kwargs.setdefault("timeout", 120.0)
        return FhirClient(self.base, **kwargs)

    def http(self) -> httpx.Client:
        """A plain HTTP client for what FhirClient does not wrap ($validate, raw error bodies)."""
        return httpx.Client(
            base_url=self.base.rstrip("/") + "/",
            timeout=120.0,
            headers={"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"},
        )

    def example_bundle(self, case: ExampleCase, extra: str = "", *, text: bool = False) -> dict[str, Any]:
        """The example's transaction with ids prefixed (``extra`` makes a second, independent copy) and tagged;
        ``text`` gives its text-only form (report text instead of coded findings)."""
        return rewrite_ids(load_bundle(case.name, text=text), self.prefix + extra)

    def load(self, client: FhirClient, bundle: dict[str, Any]) -> None:
        client.transaction(bundle)
        for entry in bundle["entry"]:
            res = entry["resource"]
            ref = f"{res['resourceType']}/{res['id']}"
            if ref not in self.created:
                self.created.append(ref)
            if res["resourceType"] == "Patient" and res["id"] not in self.patients:
                self.patients.append(res["id"])

    def cleanup(self, client: FhirClient) -> None:
        """Delete outputs first (they reference the data), then the loaded data in reverse order."""
        http = self.http()
        with http:
            for pid in self.patients:
                ref = f"Patient/{pid}"
                http.delete(f"Provenance/{ids.output_uuid(ref, 'provenance')}")
                for kind, name in (
                    ("DiagnosticReport", "diagnostic-report"),
                    ("ClinicalImpression", "clinical-impression"),
                    ("RiskAssessment", "risk-assessment"),
                ):
                    value = ids.identifier_value(ref, name)
                    http.delete(kind, params={"identifier": f"{ids.ASSESSMENT_SYSTEM}|{value}"})
            for ref in reversed(self.created):
                http.delete(ref)


def rewrite_ids(bundle: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Prefix every id, ``Type/id`` reference and request url; add the test tag to every resource."""
    out = copy.deepcopy(bundle)

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                # Attachment urls ("Binary/x") are references too, in another element.
                k: (_ref(v, prefix) if k in ("reference", "url") and isinstance(v, str) else fix(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    for entry in out["entry"]:
        res = fix(entry["resource"])
        res["id"] = _new_id(res["id"], prefix)
        res.setdefault("meta", {}).setdefault("tag", []).append(dict(TEST_TAG))
        entry["resource"] = res
        entry["request"]["url"] = _ref(entry["request"]["url"], prefix)
    return out


def _ref(value: str, prefix: str) -> str:
    match = _REF.match(value)
    return f"{match.group(1)}/{_new_id(match.group(2), prefix)}" if match and prefix else value


def _new_id(rid: str, prefix: str) -> str:
    """``prefix + rid``, or ``prefix`` + a hash of ``rid`` when that would exceed FHIR's 64 characters."""
    if len(prefix) + len(rid) <= 64:
        return prefix + rid
    return prefix + hashlib.sha256(rid.encode()).hexdigest()[: 64 - len(prefix)]


def file_patient(bundle: dict[str, Any], tmp_path: Any) -> RawPatient:
    """The bundle read the way ``bmefhir analyze`` reads a file."""
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    (raw,) = list(read_bundle(path))
    return raw


class Recording(httpx.HTTPTransport):
    """The real transport, keeping the batch entries each request sent (to count server operations)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[list[str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.method == "POST" and request.content else None
        self.sent.append([e["request"]["url"] for e in body["entry"]] if body else [str(request.url)])
        return super().handle_request(request)


def versions(raw: RawPatient) -> list[str]:
    """The resources read, as sorted ``Type/id/_history/version``."""
    return sorted(f"{r['resourceType']}/{r['id']}/_history/{r['meta']['versionId']}" for r in raw.resources)
