"""Load-time validation of the knowledge base: one test per kind of error, plus the packaged data."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from bmefhir.derive.registry import FACTS
from bmefhir.differential.knowledge_base import (
    DEFAULT_DIR,
    KnowledgeError,
    knowledge_rows,
    load_knowledge,
)

CANDIDATE_CODES = {
    "transient_osteoporosis", "regional_migratory_osteoporosis", "osteonecrosis",
    "subchondral_insufficiency_fracture", "bone_marrow_reconversion", "inflammatory_arthritis",
    "infection", "neoplasm", "crps", "bone_contusion", "degenerative_bml",
}  # fmt: skip

GOOD_CRITERION = """
  - id: T-GOOD
    title: A good criterion
    when: {fact: double_line_sign, is: true}
    effects: {osteonecrosis: 2.0}
    source: {text: seed 000 §Table 1, seed: 000_0f527f03f388fe13.txt}
    rationale: Fine.
"""


def _kb_dir(tmp_path: Path, criterion_yaml: str) -> Path:
    """A copy of the packaged knowledge with one criteria file replaced by the given text."""
    root = tmp_path / "kb"
    shutil.copytree(DEFAULT_DIR, root)
    for f in (root / "criteria").glob("*.yaml"):
        f.unlink()
    (root / "criteria" / "test.yaml").write_text("criteria:\n" + textwrap.dedent(criterion_yaml), encoding="utf-8")
    return root


def _problems(tmp_path: Path, criterion_yaml: str) -> str:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(_kb_dir(tmp_path, criterion_yaml))
    return "\n".join(info.value.problems)


def test_packaged_knowledge_loads_with_all_candidates() -> None:
    kb = load_knowledge()
    assert {c.code for c in kb.candidates} == CANDIDATE_CODES
    assert len(kb.criteria) >= 80
    assert kb.url == "http://bmefhir.org/fhir/PlanDefinition/bme-differential"
    assert kb.version.count(".") == 2


def test_default_knowledge_is_cached() -> None:
    assert load_knowledge() is load_knowledge()


def test_every_criterion_has_a_citation_and_rationale() -> None:
    for c in load_knowledge().criteria:
        assert c.citation.text, c.id
        assert c.citation.seed or c.citation.doi or c.citation.pmid, c.id
        assert c.rationale, c.id


def _verified_in_docs() -> set[tuple[str, str]]:
    """Codes confirmed in docs/terminology-verification.md (rows whose verified column starts with "yes")."""
    doc = Path(__file__).parents[2] / "docs" / "terminology-verification.md"
    rows = [line.split("|") for line in doc.read_text(encoding="utf-8").splitlines() if line.startswith("| http")]
    return {(r[1].strip(), r[2].strip()) for r in rows if r[4].strip().startswith("yes")}


def test_only_verified_codings_are_marked_for_emission() -> None:
    verified = {(cd.system, cd.code) for c in load_knowledge().candidates for cd in c.codings if cd.verified}
    # Verified in ../shared/terminology.md, or confirmed since in docs/terminology-verification.md.
    from_terminology_md = {
        ("http://snomed.info/sct", "64859006"),
        ("http://snomed.info/sct", "444849002"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "M87.859"),
        ("http://snomed.info/sct", "443165006"),
        ("http://snomed.info/sct", "125605004"),
    }
    assert verified <= from_terminology_md | _verified_in_docs()


def test_a_valid_minimal_file_loads(tmp_path: Path) -> None:
    kb = load_knowledge(_kb_dir(tmp_path, GOOD_CRITERION))
    assert [c.id for c in kb.criteria] == ["T-GOOD"]


def test_unknown_fact_is_named_with_file_and_id(tmp_path: Path) -> None:
    text = _problems(tmp_path, GOOD_CRITERION.replace("double_line_sign", "no_such_fact"))
    assert "criteria/test.yaml: T-GOOD" in text
    assert "unknown fact 'no_such_fact'" in text


def test_numeric_comparison_on_bool_fact_is_a_type_mismatch(tmp_path: Path) -> None:
    text = _problems(tmp_path, GOOD_CRITERION.replace("is: true", "gt: 3"))
    assert "type mismatch" in text
    assert "double_line_sign" in text


def test_bool_test_on_number_fact_is_a_type_mismatch(tmp_path: Path) -> None:
    text = _problems(tmp_path, GOOD_CRITERION.replace("double_line_sign", "age_years"))
    assert "type mismatch" in text
    assert "age_years" in text


def test_unknown_candidate_in_effects(tmp_path: Path) -> None:
    text = _problems(tmp_path, GOOD_CRITERION.replace("osteonecrosis: 2.0", "gout_flare: 2.0"))
    assert "unknown candidate 'gout_flare'" in text


@pytest.mark.parametrize("weight", ["4.5", "-5", "0", "high"])
def test_weight_out_of_range(tmp_path: Path, weight: str) -> None:
    text = _problems(tmp_path, GOOD_CRITERION.replace("osteonecrosis: 2.0", f"osteonecrosis: {weight}"))
    assert "weight for 'osteonecrosis'" in text


def test_missing_source(tmp_path: Path) -> None:
    bad = GOOD_CRITERION.replace("    source: {text: seed 000 §Table 1, seed: 000_0f527f03f388fe13.txt}\n", "")
    assert "missing or empty source" in _problems(tmp_path, bad)


def test_empty_source_text_and_no_reference(tmp_path: Path) -> None:
    bad = GOOD_CRITERION.replace("{text: seed 000 §Table 1, seed: 000_0f527f03f388fe13.txt}", "{text: ''}")
    text = _problems(tmp_path, bad)
    assert "missing or empty source text" in text
    assert "needs a seed file, doi, pmid or document" in text


def test_unknown_seed_file(tmp_path: Path) -> None:
    bad = GOOD_CRITERION.replace("000_0f527f03f388fe13.txt", "999_nope.txt")
    assert "seed '999_nope.txt'" in _problems(tmp_path, bad)


def test_duplicate_id(tmp_path: Path) -> None:
    assert "duplicate criterion id" in _problems(tmp_path, GOOD_CRITERION + GOOD_CRITERION)


def test_red_flag_with_unknown_candidate(tmp_path: Path) -> None:
    bad = GOOD_CRITERION.replace(
        "    rationale: Fine.", "    red_flag: {candidate: lymphoma, message: x}\n    rationale: Fine."
    )
    assert "red flag names unknown candidate 'lymphoma'" in _problems(tmp_path, bad)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("{all: []}", "non-empty list"),
        ("{any: [{fact: fever, is: true}], not: {fact: fever, is: true}}", "must stand alone"),
        ("{fact: fever, is: maybe}", "'is' must be"),
        ("{fact: fever}", "exactly one of"),
        ("{foo: 1}", "expected one of fact/all/any/not"),
        ("[1, 2]", "expected a mapping"),
        ("{fact: age_years, gt: old}", "needs a number"),
    ],
)
def test_malformed_condition(tmp_path: Path, when: str, message: str) -> None:
    bad = GOOD_CRITERION.replace("{fact: double_line_sign, is: true}", when)
    assert message in _problems(tmp_path, bad)


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    bad = GOOD_CRITERION.replace("double_line_sign", "no_such_fact") + GOOD_CRITERION.replace(
        "T-GOOD", "T-TWO"
    ).replace("osteonecrosis: 2.0", "osteonecrosis: 9")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(_kb_dir(tmp_path, bad))
    assert len(info.value.problems) == 2
    assert "T-GOOD" in str(info.value)
    assert "T-TWO" in str(info.value)


def test_next_step_without_trigger_and_unknown_candidate(tmp_path: Path) -> None:
    root = _kb_dir(tmp_path, GOOD_CRITERION)
    (root / "next_steps.yaml").write_text(
        textwrap.dedent(
            """
            next_steps:
              - id: NS-X
                text: Do something.
                source: {text: seed 001, seed: 001_9bc3e4552edd2092.txt}
              - id: NS-Y
                plausible: [unicorn]
                text: Do something else.
                source: {text: seed 001, seed: 001_9bc3e4552edd2092.txt}
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root)
    text = "\n".join(info.value.problems)
    assert "NS-X: needs a trigger" in text
    assert "unknown candidate 'unicorn'" in text


def test_bad_version_and_missing_url(tmp_path: Path) -> None:
    root = _kb_dir(tmp_path, GOOD_CRITERION)
    (root / "knowledge.yaml").write_text("version: '1.0'\nseeds: []\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root)
    text = "\n".join(info.value.problems)
    assert "not semver" in text
    assert "missing or empty 'url'" in text


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    root = _kb_dir(tmp_path, GOOD_CRITERION)
    (root / "criteria" / "broken.yaml").write_text("criteria: [\n  - id: x: y\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root)
    assert any(p.startswith("broken.yaml: not valid YAML") for p in info.value.problems)


def test_knowledge_rows_are_readable() -> None:
    rows = knowledge_rows(load_knowledge())
    row = next(r for r in rows if r["id"] == "ON-DOUBLE-LINE")
    assert row["effects"].startswith("osteonecrosis +3.5")
    assert row["red_flag"].startswith("osteonecrosis:")
    assert "seed 000" in row["source"]
    assert set(row) == {"id", "title", "effects", "red_flag", "source"}


def test_every_fact_named_is_in_the_registry() -> None:
    for c in load_knowledge().criteria:
        assert set(c.when.fact_names()) <= set(FACTS), c.id
