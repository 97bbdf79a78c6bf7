"""Validate every output of every example (coded and text-only) with the HL7 FHIR validator, offline.

    .venv/bin/python scripts/validate_outputs.py [--keep DIR]

Writes, per example, the transaction Bundle bmefhir sends (with the text findings) and the collection
Bundle (with the data-quality OperationOutcome), runs scripts/validator.sh over them in one JVM and
prints errors and warnings per resource type (the type of the Bundle entry an issue is in). Exit
status 1 when there is any error. The figures are in docs/validation.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bmefhir.fhir.files import read_bundle  # noqa: E402
from bmefhir.pipeline import process_patient  # noqa: E402
from bmefhir.render.bundle import collection_bundle, transaction_bundle  # noqa: E402
from bmefhir.testing.examples import list_examples, list_text_examples  # noqa: E402

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")


def write_inputs(folder: Path) -> dict[str, list[str]]:
    """The bundles to validate; returns file name → resource type of each entry."""
    types: dict[str, list[str]] = {}
    for case in [*list_examples(), *list_text_examples()]:
        (raw,) = list(read_bundle(case.path))
        result = process_patient(
            raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues, write_findings=True
        )
        for kind, bundle in (("tx", transaction_bundle(result.outputs)), ("col", collection_bundle(result.outputs))):
            name = f"{case.path.parent.name}-{case.name}-{kind}.json"
            (folder / name).write_text(json.dumps(bundle), encoding="utf-8")
            types[name] = [e["resource"]["resourceType"] for e in bundle["entry"]]
    return types


def count(lines: list[str], types: dict[str, list[str]]) -> dict[str, collections.Counter[str]]:
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in lines:
        result = json.loads(line)
        name = Path(result["file"]).name
        for issue in result["issues"]:
            match = _ENTRY.match(issue["location"])
            rtype = types[name][int(match.group(1))] if match else "Bundle"
            counts[rtype][issue["severity"]] += 1
            if issue["severity"] in ("error", "fatal", "warning"):
                counts[rtype][f"{issue['severity']}: {issue['messageId'] or issue['message'][:80]}"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", type=Path, help="write the bundles here instead of a temporary folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        types = write_inputs(folder)
        run = subprocess.run(
            [str(REPO / "scripts" / "validator.sh"), str(folder)], capture_output=True, text=True, check=False
        )
    if run.returncode != 0:
        print(run.stderr[-4000:], file=sys.stderr)
        return 2
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if len(lines) != len(types):
        print(f"validator answered for {len(lines)} of {len(types)} files", file=sys.stderr)
        return 2
    counts = count(lines, types)
    print(f"{len(types)} bundles; issues per resource type (error / warning / information):")
    for rtype in sorted(counts):
        c = counts[rtype]
        print(f"  {rtype:20} {c['error'] + c['fatal']:5} {c['warning']:5} {c['information']:5}")
        for key in sorted(k for k in c if ":" in k):
            print(f"      {c[key]:4}  {key}")
    return 1 if any(c["error"] + c["fatal"] for c in counts.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
