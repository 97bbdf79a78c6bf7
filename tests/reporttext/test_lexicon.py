"""The lexicons are checked when they load: a bad file is a clear error naming the file and the entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bmefhir.cli import app
from bmefhir.reporttext.lexicon import LEXICON_DIR, LexiconError, load_lexicon, validate_lexicons


@pytest.fixture
def lexicons(tmp_path: Path) -> Path:
    root = tmp_path / "lexicons"
    shutil.copytree(LEXICON_DIR, root)
    return root


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_lexicons_are_valid_and_every_entry_is_sourced() -> None:
    found = validate_lexicons()
    assert set(found) == {"en", "tr", "zh"}
    for lexicon in found.values():
        assert lexicon.targets
        assert all(e.words.source for e in (*lexicon.targets, *lexicon.sites, *lexicon.context, *lexicon.sections))


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "targets.yaml",
            "concept: bone_marrow_edema",
            "concept: bone_marow_edema",
            "unknown concept 'bone_marow_edema'",
        ),
        ("sites.yaml", "structures: [talus]", "structures: [talux]", "unknown structure 'talux'"),
        ("sites.yaml", "side: left", "side: leftish", "unknown side 'leftish'"),
        ("context.yaml", "category: HISTORICAL", "category: PAST", "unknown category 'PAST'"),
        ("context.yaml", "direction: BACKWARD", "direction: SIDEWAYS", "unknown direction 'SIDEWAYS'"),
        ("sections.yaml", "section: impression", "section: conclusion", "unknown section 'conclusion'"),
        (
            "targets.yaml",
            "  - concept: bone_marrow_edema\n    source:",
            "  - concept: bone_marrow_edema\n    note:",
            "missing source",
        ),
        (
            "targets.yaml",
            "terms: [double line sign,",
            "terms: [bone marrow edema, double line sign,",
            "listed for both",
        ),
    ],
)
def test_a_bad_entry_is_a_clear_error(lexicons: Path, file: str, old: str, new: str, message: str) -> None:
    replace(lexicons / "en" / file, old, new)
    with pytest.raises(LexiconError, match=message) as info:
        load_lexicon("en", lexicons)
    assert f"en/{file}" in str(info.value)


def test_a_missing_file_and_broken_yaml_are_errors(lexicons: Path) -> None:
    (lexicons / "tr" / "modality.yaml").unlink()
    with pytest.raises(LexiconError, match="missing lexicon file"):
        load_lexicon("tr", lexicons)
    (lexicons / "zh" / "sites.yaml").write_text("sites: [unclosed", encoding="utf-8")
    with pytest.raises(LexiconError, match="not valid YAML"):
        load_lexicon("zh", lexicons)


def test_knowledge_validate_checks_the_lexicons(lexicons: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["knowledge", "validate", "--lexicons", str(lexicons)])
    assert ok.exit_code == 0, ok.output
    replace(lexicons / "zh" / "targets.yaml", "concept: joint_effusion", "concept: effusion_of_joint")
    bad = runner.invoke(app, ["knowledge", "validate", "--lexicons", str(lexicons)])
    assert bad.exit_code == 1
    assert "effusion_of_joint" in bad.output
