"""The bmefhir command as a user runs it: exit codes, JSON lines, outputs on disk, clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from bmefhir.cli import app
from bmefhir.testing.examples import examples_dir, list_examples, list_text_examples

runner = CliRunner()
NOW = "2026-11-01T12:00:00"


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_analyze_examples_folder_prints_one_json_line_per_patient_and_writes_outputs(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["analyze", str(examples_dir()), "--out", str(tmp_path), "--format", "json", "--now", NOW]
    )
    assert result.exit_code == 0, result.output
    lines = _json_lines(result.stdout)
    cases = list_examples() + list_text_examples()  # examples/ holds both forms (examples/text/)
    assert sorted(d["patient"] for d in lines) == sorted(f"Patient/{c.expectation.patient}" for c in cases)
    for line in lines:
        assert {"patient", "ranking", "red_flags", "next_steps", "data_quality"} <= line.keys()
        assert {"code", "display", "probability"} <= line["ranking"][0].keys()
    bundles = sorted(p.name for p in tmp_path.glob("*.bundle.json"))
    assert len(bundles) == len(cases)
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert len(summary) == len(cases)


def test_analyze_is_reproducible_byte_for_byte(tmp_path: Path) -> None:
    for out in ("a", "b"):
        r = runner.invoke(
            app, ["analyze", str(examples_dir()), "--out", str(tmp_path / out), "--now", NOW, "--format", "json"]
        )
        assert r.exit_code == 0, r.output
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_table_shows_red_flags_first(tmp_path: Path) -> None:
    r = runner.invoke(app, ["analyze", str(examples_dir() / "seed-004-marrow-reconversion.json"), "--now", NOW])
    assert r.exit_code == 0, r.output
    assert r.stdout.index("RED FLAG") < r.stdout.index("Red marrow reconversion")
    assert "decision support" in r.stdout


def test_now_outside_the_plausible_range_is_refused() -> None:
    r = runner.invoke(app, ["analyze", str(examples_dir()), "--now", "0001-01-01"])
    assert r.exit_code == 2
    assert "between 1800 and 2199" in r.output


def test_missing_source_is_a_one_line_error() -> None:
    r = runner.invoke(app, ["analyze", "/nonexistent/bundle.json"])
    assert r.exit_code == 2
    assert "does not exist" in r.output


def test_broken_file_is_reported_and_the_rest_analysed(tmp_path: Path) -> None:
    good = examples_dir() / "seed-002-to-talus-to-tibia.json"
    (tmp_path / "good.json").write_bytes(good.read_bytes())
    (tmp_path / "broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    r = runner.invoke(app, ["analyze", str(tmp_path), "--format", "json", "--now", NOW])
    lines = _json_lines(r.stdout)
    assert [d["patient"] for d in lines] == ["Patient/seed-002"]
    assert "broken.json" in r.output  # the unreadable file is named, not silently skipped
    # ...once, as the run's problem (stderr), not in the summary of a patient it says nothing about
    assert r.output.count("broken.json is not valid JSON") == 1
    assert "broken.json" not in json.dumps(lines)


def test_a_broken_file_is_in_the_output_folder_too(tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "good.json").write_bytes((examples_dir() / "seed-002-to-talus-to-tibia.json").read_bytes())
    (source / "broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    r = runner.invoke(app, ["analyze", str(source), "--out", str(out), "--now", NOW])
    assert r.exit_code == 0, r.output
    problems = orjson.loads((out / "source-problems.json").read_bytes())
    assert [(p["source"], p["severity"]) for p in problems] == [("in", "error")]
    assert "broken.json is not valid JSON" in problems[0]["message"]
    assert "broken.json" not in (out / "summary.json").read_text()
    # a run without problems into the same folder leaves no stale file behind
    (source / "broken.json").unlink()
    r = runner.invoke(app, ["analyze", str(source), "--out", str(out), "--now", NOW])
    assert r.exit_code == 0, r.output
    assert not (out / "source-problems.json").exists()


def test_knowledge_validate_and_show() -> None:
    r = runner.invoke(app, ["knowledge", "validate"])
    assert r.exit_code == 0, r.output
    assert "every criterion cited" in r.output
    r = runner.invoke(app, ["knowledge", "show"])
    assert r.exit_code == 0
    assert "TO-NO-SUBCHONDRAL-CHANGES" in r.stdout


def test_knowledge_validate_rejects_an_uncited_rule(tmp_path: Path) -> None:
    from bmefhir.differential.knowledge_base import DEFAULT_DIR

    kb = tmp_path / "kb"

    shutil.copytree(DEFAULT_DIR, kb)
    crit = next((kb / "criteria").glob("*.yaml"))
    text = crit.read_text()
    crit.write_text(text.replace("source:", "unsourced:", 1))
    r = runner.invoke(app, ["knowledge", "validate", "--path", str(kb)])
    assert r.exit_code == 1
    assert crit.name in r.output


@pytest.mark.slow
def test_console_script_runs_in_a_fresh_process() -> None:
    exe = Path(sys.executable).with_name("bmefhir")
    proc = subprocess.run(
        [
            str(exe),
            "analyze",
            str(examples_dir() / "seed-000-transient-osteoporosis-hip.json"),
            "--format",
            "json",
            "--now",
            NOW,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert _json_lines(proc.stdout)[0]["ranking"][0]["code"] == "transient_osteoporosis"


def test_analyze_write_findings_puts_the_text_findings_in_the_output_bundle(tmp_path: Path) -> None:
    source = examples_dir() / "text" / f"{list_text_examples()[0].name}.json"
    plain = runner.invoke(app, ["analyze", str(source), "--out", str(tmp_path / "plain"), "--now", NOW])
    written = runner.invoke(
        app, ["analyze", str(source), "--out", str(tmp_path / "with"), "--now", NOW, "--write-findings"]
    )
    assert plain.exit_code == 0, plain.output
    assert written.exit_code == 0, written.output

    def observations(folder: Path) -> list[dict]:
        (bundle,) = folder.glob("*.bundle.json")
        entries = orjson.loads(bundle.read_bytes())["entry"]
        return [e["resource"] for e in entries if e["resource"]["resourceType"] == "Observation"]

    assert observations(tmp_path / "plain") == []
    found = observations(tmp_path / "with")
    assert found
    assert all(
        o["meta"]["profile"] == ["http://bmefhir.org/fhir/StructureDefinition/bmefhir-imaging-finding"] for o in found
    )
    assert all("read from" in o["note"][0]["text"].lower() or "report" in o["note"][0]["text"].lower() for o in found)
