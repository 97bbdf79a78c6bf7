"""``bmefhir synth --realistic`` → ``bmefhir analyze``: the realistic cohort reaches the same conclusions
as the plain one (its BME data is found among the unrelated history)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bmefhir.cli import app
from bmefhir.synth import SCENARIOS

runner = CliRunner()
NOW = "2026-11-01T12:00:00"


def _top(folder: Path) -> dict[str, tuple[str, int]]:
    """patient → (top-1 candidate, number of data-quality issues), from ``analyze --format json``."""
    r = runner.invoke(app, ["analyze", str(folder), "--format", "json", "--now", NOW])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    return {d["patient"]: (d["ranking"][0]["code"], len(d["data_quality"])) for d in lines}


def _synth(out: Path, *args: str) -> None:
    r = runner.invoke(app, ["synth", "--out", str(out), "--seed", "4", *args])
    assert r.exit_code == 0, r.output


def test_realistic_cohort_gives_the_same_top_candidate_as_the_plain_one(tmp_path: Path) -> None:
    n = len(SCENARIOS)  # one patient of every scenario
    _synth(tmp_path / "plain", "--patients", str(n), "-k", "150", "--per-bundle", "4")
    _synth(tmp_path / "real", "--patients", str(n), "-k", "150", "--per-bundle", "4", "--realistic")
    plain, real = _top(tmp_path / "plain"), _top(tmp_path / "real")
    assert len(plain) == n
    assert {p: top for p, (top, _) in real.items()} == {p: top for p, (top, _) in plain.items()}
    assert {top for top, _ in real.values()} == set(SCENARIOS)
    # Every unrelated resource is accounted for (counted as not used), none silently dropped.
    assert all(real[p][1] > 50 for p in real)


def test_one_scenario_realistic(tmp_path: Path) -> None:
    _synth(tmp_path, "--patients", "3", "-k", "200", "--realistic", "--scenario", "osteonecrosis")
    assert {top for top, _ in _top(tmp_path).values()} == {"osteonecrosis"}


def test_unknown_scenario_is_refused(tmp_path: Path) -> None:
    r = runner.invoke(app, ["synth", "--out", str(tmp_path), "--patients", "1", "--scenario", "gout"])
    assert r.exit_code != 0
    assert "unknown scenario" in r.output
    assert not list(tmp_path.iterdir())
