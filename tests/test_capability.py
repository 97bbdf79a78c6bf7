"""The client CapabilityStatement says what the client does: checked against the requests the code builds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

from bmefhir.fhir.existing import existing_requests
from bmefhir.fhir.patient_fetch import patient_requests
from bmefhir.pipeline import analyse
from bmefhir.render.bundle import create_once, render_outputs, transaction_bundle
from bmefhir.render.resources import device
from bmefhir.sync.discovery import CHANGE_TYPES
from tests.render.test_findings import record as text_record

PROFILES = Path(__file__).resolve().parent.parent / "profiles"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
Interaction = tuple[str, str, frozenset[str]]  # (type, interaction, search parameters)


def _statement() -> dict[str, dict]:
    cs = json.loads((PROFILES / "CapabilityStatement-bmefhir-client.json").read_text(encoding="utf-8"))
    (rest,) = cs["rest"]
    assert rest["mode"] == "client"
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
    return {r["type"]: r for r in rest["resource"]}


def _outputs():  # type: ignore[no-untyped-def]
    return render_outputs(analyse(text_record(), NOW), write_findings=True)


def _classify(method: str, url: str, entry: dict | None = None) -> Interaction:
    path, _, query = url.partition("?")
    # _include/_revinclude are declared by value (searchInclude / searchRevInclude), not as parameters.
    params = frozenset(f"{k}={v}" if k.startswith(("_include", "_revinclude")) else k for k, v in parse_qsl(query))
    kind = path.split("/")[0]
    if method == "GET":
        return (kind, "search-type" if "/" not in path else "read", params)
    if method == "POST":
        return (kind, "create", frozenset())
    return (kind, "update", frozenset())


def client_requests() -> Iterator[tuple[Interaction, dict]]:
    """Every interaction the client code builds (reads, output lookups, the write transaction)."""
    reads = [*patient_requests("p1", 100), *patient_requests("p1", 100, folded=False)]
    for r in [*reads, *existing_requests("p1")]:
        yield _classify(r.method, r.url), {}
    yield _classify("GET", "Patient/p1"), {}  # patient_fetch: the read where the outputs search is refused
    yield ("Binary", "read", frozenset()), {}  # bmefhir.fhir.binaries: GET Binary/{id} in a batch
    for kind in CHANGE_TYPES:  # bmefhir.sync.discovery
        yield (kind, "search-type", frozenset({"_lastUpdated", "_elements", "_count"})), {}
    outputs = _outputs()
    assert outputs.findings, "the example must write a text finding"
    current = {"DiagnosticReport": ("7", "2"), "ClinicalImpression": ("8", "1"), "RiskAssessment": ("9", "1")}
    # What write-back sends: update by id with If-Match, create-once for what the lookup did not find.
    for tx in (transaction_bundle(outputs, create_missing=True), transaction_bundle(outputs, current)):
        for entry in tx["entry"]:
            yield _classify(entry["request"]["method"], entry["request"]["url"]), entry["request"]
    _, request = create_once(device())
    yield _classify(request["method"], request["url"]), request


def test_every_interaction_the_client_makes_is_declared() -> None:
    statement = _statement()
    for (kind, interaction, params), request in client_requests():
        declared = statement.get(kind)
        assert declared is not None, f"{kind} is not in the CapabilityStatement"
        assert interaction in {i["code"] for i in declared["interaction"]}, (kind, interaction)
        names = {p for p in params if "=" not in p}
        assert names <= {p["name"] for p in declared.get("searchParam", [])}, (kind, params)
        for p in params - names:
            key, _, value = p.partition("=")
            listed = declared.get("searchRevInclude" if key == "_revinclude" else "searchInclude", [])
            assert value in listed, (kind, p)
        if "?" in request.get("url", ""):
            assert declared.get("conditionalUpdate") is True, kind
        if "ifNoneExist" in request:
            assert declared.get("conditionalCreate") is True, kind


def test_only_what_the_client_does_is_declared() -> None:
    statement = _statement()
    made = {(k, i) for (k, i, _), _ in client_requests()} | {("AuditEvent", "create")}  # the SMART app's sign
    made |= {(k, "read") for k in ("Observation", "ImagingStudy", "MedicationStatement", "MedicationRequest")}
    # The app's source view reads single input resources.
    made |= {(k, "read") for k in ("Condition", "DiagnosticReport", "DocumentReference", "Procedure")}
    declared = {(r["type"], i["code"]) for r in statement.values() for i in r["interaction"]}
    assert declared == made
    # Writes only where the code writes; never a create where it updates, nor the reverse.
    assert {k for k, i in declared if i == "create"} == {
        "Device",
        "AuditEvent",
        "DiagnosticReport",
        "ClinicalImpression",
        "RiskAssessment",
    }
    assert {k for k, i in declared if i == "update"} == {
        "DiagnosticReport",
        "ClinicalImpression",
        "RiskAssessment",
        "Provenance",
        "Observation",
    }
    assert statement["Provenance"]["updateCreate"] is True  # PUT at a client-chosen id
    assert "conditionalUpdate" not in statement["Device"]
