"""The command line end to end against the live server, as a user runs it (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bmefhir.testing.examples import examples_dir, list_examples

from .target import Target

BMEFHIR = [sys.executable, "-c", "from bmefhir.cli import main; main()"]


def _bmefhir(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BMEFHIR, *args], capture_output=True, text=True, timeout=180, check=False)


def test_load_examples_then_run_and_write_back(target: Target, tmp_path: Path) -> None:
    source = examples_dir()
    if target.external:  # prefixed, tagged copies; the session deletes them afterwards
        source = tmp_path / "examples"
        source.mkdir()
        for case in list_examples():
            bundle = target.example_bundle(case, extra=f"cli{target.run}-")
            (source / f"{case.name}.json").write_text(json.dumps(bundle))
            target.created += [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]]
            target.patients.append(target.prefix + f"cli{target.run}-" + case.expectation.patient)
    loaded = _bmefhir("sandbox", "load", str(source), "--fhir-base", target.base)
    assert loaded.returncode == 0, loaded.stderr
    files = len(list(source.rglob("*.json")))  # the coded and (locally) the text-only forms
    assert f"loaded {files} of {files} bundle(s)" in loaded.stderr

    case = next(c for c in list_examples() if c.name.startswith("seed-001"))
    pid = (target.prefix + f"cli{target.run}-" if target.external else "") + case.expectation.patient
    ran = _bmefhir("run", "--fhir-base", target.base, "--patient", pid, "--write", "--format", "json", "--count", "2")
    assert ran.returncode == 0, ran.stderr
    (line,) = [json.loads(x) for x in ran.stdout.splitlines() if x.startswith("{")]
    assert line["patient"] == f"Patient/{pid}"
    assert line["ranking"][0]["code"] in case.expectation.top


def test_load_reports_a_bundle_the_server_rejects(target: Target, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": {"resourceType": "Observation", "status": "nonsense", "code": {"text": "x"}},
                        "request": {"method": "POST", "url": "Observation"},
                    }
                ],
            }
        )
    )
    result = _bmefhir("sandbox", "load", str(bad), "--fhir-base", target.base)
    assert result.returncode == 1
    assert "failed bad.json: POST Bundle (transaction) → 400" in result.stderr
    assert "0 of 1 bundle(s)" in result.stderr
