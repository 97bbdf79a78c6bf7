from __future__ import annotations

import json
from pathlib import Path

import pytest
import respx
from fhir_helpers import fhir_json, outcome

from bmefhir.fhir import FhirClient, FhirConflict
from bmefhir.sinks import FolderSink, RestSink, Sink

BUNDLE = {
    "type": "transaction",
    "resourceType": "Bundle",
    "entry": [{"resource": {"resourceType": "Basic", "z": 1, "a": "é"}}],
}


def run(out: Path) -> dict[str, bytes]:
    sink: Sink = FolderSink(out)
    sink.write("p2", BUNDLE, {"patient": "p2", "top": "osteonecrosis"})
    sink.write("p1", BUNDLE, {"patient": "p1", "top": "transient_osteoporosis"})
    sink.finish()
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_folder_sink_is_byte_identical_on_rerun(tmp_path: Path) -> None:
    first = run(tmp_path / "one")
    second = run(tmp_path / "one")
    other = run(tmp_path / "two")
    assert first == second == other
    assert sorted(first) == ["p1.bundle.json", "p2.bundle.json", "summary.json"]
    text = first["p1.bundle.json"].decode()
    assert text.endswith("}\n")
    assert text.index('"entry"') < text.index('"resourceType"') < text.index('"type"')  # sorted keys
    assert json.loads(text) == BUNDLE
    assert [s["patient"] for s in json.loads(first["summary.json"])] == ["p1", "p2"]


def test_folder_sink_refuses_unsafe_file_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid FHIR id"):
        FolderSink(tmp_path).write("../evil", BUNDLE, {})
    assert list(tmp_path.iterdir()) == []


def test_rest_sink_posts_the_transaction(client: FhirClient, router: respx.MockRouter) -> None:
    response = {"resourceType": "Bundle", "type": "transaction-response", "entry": [{"response": {"status": "201"}}]}
    route = router.post("/").mock(return_value=fhir_json(response))
    sink: Sink = RestSink(client)
    assert sink.write("p1", BUNDLE, {}) == response
    assert json.loads(route.calls.last.request.content) == BUNDLE
    sink.finish()


def test_rest_sink_maps_server_errors_to_the_error_tree(client: FhirClient, router: respx.MockRouter) -> None:
    router.post("/").mock(return_value=fhir_json(outcome("version conflict on Condition/c1"), status=409))
    with pytest.raises(FhirConflict, match="version conflict on Condition/c1"):
        RestSink(client).write("p1", BUNDLE, {})
