"""The knowledge base as FHIR (PlanDefinition) and the definitions of every system URL the outputs use."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bmefhir.differential.knowledge_base import DEFAULT_DIR, load_knowledge, record_version, version_problem
from bmefhir.fhir.files import read_bundle
from bmefhir.pipeline import process_patient
from bmefhir.render import ids
from bmefhir.render.bundle import collection_bundle
from bmefhir.testing.examples import list_examples, list_text_examples
from bmefhir.yamlio import load_yaml

REPO = Path(__file__).resolve().parent.parent
PROFILES = REPO / "profiles"
sys.path.insert(0, str(REPO / "scripts"))
from profilegen.knowledge import condition_text, plan_definition  # noqa: E402

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _committed() -> dict[str, Any]:
    return json.loads((PROFILES / "PlanDefinition-bme-differential.json").read_text(encoding="utf-8"))


def _actions(pd: dict[str, Any], group: str) -> list[dict[str, Any]]:
    (found,) = [a for a in pd["action"] if a["id"] == group]
    return list(found["action"])


def test_plan_definition_is_the_protocol_clinical_impression_cites() -> None:
    pd = _committed()
    kb = load_knowledge()
    assert (pd["url"], pd["version"]) == (kb.url, kb.version) == (ids.PROTOCOL_URL, kb.version)
    case = list_examples()[0]
    (raw,) = list(read_bundle(case.path))
    result = process_patient(raw.resources, NOW, patient_id=raw.patient_id)
    assert result.outputs.clinical_impression["protocol"] == [f"{pd['url']}|{pd['version']}"]


def test_committed_plan_definition_follows_the_yaml() -> None:
    # Also covered byte for byte by test_profiles; this names the cause when the YAML changed.
    assert plan_definition() == _committed(), "knowledge YAML changed: run scripts/build_profiles.py"


def test_every_criterion_candidate_and_next_step_is_an_action_with_its_citation() -> None:
    kb = load_knowledge()
    pd = _committed()
    criteria = {a["prefix"]: a for a in _actions(pd, "criteria")}
    assert list(criteria) == [c.id for c in kb.criteria]
    for c in kb.criteria:
        action = criteria[c.id]
        assert action["title"] == c.title
        (doc,) = action["documentation"]
        assert doc["type"] == "citation"
        assert doc["citation"] == c.citation.text
        if c.citation.doi:
            assert doc["url"] == f"https://doi.org/{c.citation.doi}"
        assert condition_text(c.when.to_data()) in action["textEquivalent"]
        for code, weight in c.effects:
            assert f"{code} {weight:+.1f}" in action["textEquivalent"]
    candidates = _actions(pd, "candidates")
    assert [a["code"][0]["coding"][0]["code"] for a in candidates] == [c.code for c in kb.candidates]
    assert all(a["code"][0]["coding"][0]["system"] == ids.DIFFERENTIAL_SYSTEM for a in candidates)
    assert [a["prefix"] for a in _actions(pd, "next-steps")] == [s.id for s in kb.next_steps]
    cited = {a["citation"] for a in pd["relatedArtifact"]}
    assert {c.citation.text for c in kb.criteria} <= cited


def test_generator_is_generic_over_the_yaml(tmp_path: Path) -> None:
    kb_dir = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, kb_dir)
    extra = kb_dir / "criteria" / "zz_added.yaml"
    extra.write_text(
        "criteria:\n"
        "  - id: ZZ-ADDED\n"
        "    title: A criterion added by a reviewer\n"
        "    when: {all: [{fact: crp_mg_l, gt: 10}, {not: {fact: male, is: true}}]}\n"
        "    effects: {infection: 1.0}\n"
        "    source: {text: Someone A. A paper. 2020, pmid: '123456'}\n"
        "    rationale: Because.\n",
        encoding="utf-8",
    )
    kb = load_knowledge(kb_dir)
    pd = plan_definition(kb, load_yaml(kb_dir / "knowledge.yaml"))
    (added,) = [a for a in _actions(pd, "criteria") if a["prefix"] == "ZZ-ADDED"]
    assert added["documentation"] == [
        {"type": "citation", "citation": "Someone A. A paper. 2020", "url": "https://pubmed.ncbi.nlm.nih.gov/123456/"}
    ]
    assert (
        (added["textEquivalent"])
        == "When (crp_mg_l > 10 and not male is true). Weights (natural-log likelihood ratio): infection +1.0."
    )
    assert len(_actions(pd, "criteria")) == len(kb.criteria)


def _defined_systems() -> set[str]:
    defined: set[str] = set()
    for path in PROFILES.glob("*.json"):
        r = json.loads(path.read_text(encoding="utf-8"))
        if "url" in r:
            defined.add(r["url"])
        defined |= {u["value"] for u in r.get("uniqueId", [])}
    return defined


def _systems(value: Any, key: str = "") -> Iterator[str]:
    """Every system / profile / canonical URL in a resource."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _systems(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _systems(v, key)
    elif isinstance(value, str) and key in ("system", "profile", "protocol", "url"):
        yield value.split("|")[0]


@pytest.mark.parametrize(
    "case", [*list_examples(), *list_text_examples()], ids=lambda c: f"{c.path.parent.name}/{c.name}"
)
def test_every_bmefhir_system_the_outputs_use_is_defined_in_profiles(case: Any) -> None:
    (raw,) = list(read_bundle(case.path))
    for write_findings in (False, True):
        result = process_patient(
            raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues, write_findings=write_findings
        )
        used = {s for s in _systems(collection_bundle(result.outputs)) if s.startswith(ids.BASE)}
        assert used, case.name
        assert used <= _defined_systems(), sorted(used - _defined_systems())


def test_the_knowledge_content_is_the_one_recorded_for_its_version() -> None:
    assert version_problem() is None


def test_a_changed_rule_needs_a_new_version(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, root)
    assert version_problem(root) is None
    rules = root / "criteria" / "paediatric.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("infection: 0.7}", "infection: 0.8}", 1), "utf-8")
    version = load_knowledge(root).version
    assert f"still {version}" in (version_problem(root) or "")
    with pytest.raises(ValueError, match="changed"):
        record_version(root)
    meta = root / "knowledge.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace(f"version: {version}", "version: 9.9.9"), "utf-8")
    assert "9.9.9 is not recorded" in (version_problem(root) or "")
    record_version(root)
    assert version_problem(root) is None
