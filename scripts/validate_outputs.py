"""Validate every output of every example (coded and text-only) with the HL7 FHIR validator, offline.

    .venv/bin/python scripts/validate_outputs.py [--keep DIR] [--results FILE]

Writes, per example, the transaction Bundle bmefhir sends (with the text findings, --write-findings)
and the collection Bundle (with the data-quality OperationOutcome), plus one negative control (a
DiagnosticReport with an unregistered media type, which must be an error), runs scripts/validator.sh
over them in one JVM and prints errors and warnings per resource type (the type of the Bundle entry an
issue is in). Exit status 1 when an output has an error or a warning not in KNOWN_WARNINGS, or the
control is not reported. --results FILE also writes the entry types and the raw results as JSON:
tests/validation/test_hl7_validator.py runs the script so, in the background from the start of the
session, and checks the file; figures in docs/validation.md.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bmefhir.fhir.files import read_bundle  # noqa: E402
from bmefhir.pipeline import process_patient  # noqa: E402
from bmefhir.render.bundle import collection_bundle, transaction_bundle  # noqa: E402
from bmefhir.testing.examples import list_examples, list_text_examples  # noqa: E402

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")
CONTROL = "zz-control-unregistered-media-type.json"
CONTROL_MEDIA_TYPE = "text/x-bmefhir-not-registered"

# Warnings the offline validator gives on bmefhir's outputs, each with its reason (docs/validation.md).
# (message id, a string the message contains) -> reason. Any other warning fails the run.
KNOWN_WARNINGS: dict[tuple[str, str], str] = {
    ("UNKNOWN_CODESYSTEM", "http://loinc.org"): "LOINC is not in the R4 core package (no terminology server)",
    ("UNKNOWN_CODESYSTEM", "http://snomed.info/sct"): "SNOMED CT is not in the R4 core package",
    ("UNKNOWN_CODESYSTEM", "urn:ietf:bcp:47"): "BCP-47 (languages) is grammar-based; no offline definition",
    ("UNABLE_TO_CHECK_IF_THE_PROVIDED_CODES_ARE_IN_THE_VALUE_SET_CS", "http://loinc.org"): "LOINC, as above",
    ("UNABLE_TO_CHECK_IF_THE_PROVIDED_CODES_ARE_IN_THE_VALUE_SET_CS", "http://snomed.info/sct"): "SNOMED CT",
    ("UNABLE_TO_CHECK_IF_THE_PROVIDED_CODES_ARE_IN_THE_VALUE_SET_CS", "urn:ietf:bcp:47"): "BCP-47, as above",
    # the same two BCP-47 messages joined, for the preferred binding of Attachment.language (no id)
    ("", "urn:ietf:bcp:47"): "BCP-47, as above",
    # bmefhir-imaging-finding's own invariant (severity warning, by design): a text finding from a report that
    # names no ImagingStudy (the source does not say how the lesion was imaged; examples/pub-epiphyseal-...)
    ("http://bmefhir.org/fhir/StructureDefinition/bmefhir-imaging-finding#bmef-1", "bmef-1"): (
        "the finding's report names no study (modality not stated in the source); bmef-1 warns by design"
    ),
    ("All_observations_should_have_a_performer", ""): (
        "best practice: a text finding's observer is the report's radiologist, whom the source reports "
        "do not name; R4 does not allow a Device as Observation.performer"
    ),
}

Result = dict[str, Any]


def write_inputs(folder: Path) -> dict[str, list[str]]:
    """The bundles to validate and the negative control; returns file name → resource type of each entry."""
    types: dict[str, list[str]] = {}
    control: dict[str, Any] | None = None
    for case in [*list_examples(), *list_text_examples()]:
        (raw,) = list(read_bundle(case.path))
        result = process_patient(
            raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues, write_findings=True
        )
        for kind, bundle in (("tx", transaction_bundle(result.outputs)), ("col", collection_bundle(result.outputs))):
            name = f"{case.path.parent.name}-{case.name}-{kind}.json"
            (folder / name).write_text(json.dumps(bundle), encoding="utf-8")
            types[name] = [e["resource"]["resourceType"] for e in bundle["entry"]]
            if control is None and kind == "col":
                control = copy.deepcopy(bundle)
    assert control is not None, "no examples"
    for entry in control["entry"]:
        if entry["resource"]["resourceType"] == "DiagnosticReport":
            entry["resource"]["presentedForm"][0]["contentType"] = CONTROL_MEDIA_TYPE
    (folder / CONTROL).write_text(json.dumps(control), encoding="utf-8")
    types[CONTROL] = [e["resource"]["resourceType"] for e in control["entry"]]
    return types


def validate(folder: Path) -> list[Result]:
    """scripts/validator.sh over the folder (one JVM): one result per file. RuntimeError if it fails."""
    run = subprocess.run(
        [str(REPO / "scripts" / "validator.sh"), str(folder)], capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        raise RuntimeError(f"scripts/validator.sh exited {run.returncode}:\n{run.stderr[-4000:]}")
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def issues(results: Iterable[Result], types: dict[str, list[str]]) -> Iterable[tuple[str, str, dict[str, str]]]:
    """(file name, resource type of the entry, issue) for every issue."""
    for result in results:
        name = Path(result["file"]).name
        for issue in result["issues"]:
            match = _ENTRY.match(issue["location"])
            yield name, (types[name][int(match.group(1))] if match else "Bundle"), issue


def is_error(issue: dict[str, str]) -> bool:
    return issue["severity"] in ("error", "fatal")


def known_warning(issue: dict[str, str]) -> str | None:
    """The documented reason for a warning, or None when it is not a known one."""
    for (message_id, text), reason in KNOWN_WARNINGS.items():
        if issue["messageId"] == message_id and text in issue["message"]:
            return reason
    return None


def count(results: list[Result], types: dict[str, list[str]]) -> dict[str, collections.Counter[str]]:
    """Issues per resource type of the outputs (the control left out): severities and message ids."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for rtype in (t for n, ts in types.items() if n != CONTROL for t in ts):
        counts[rtype]["resources"] += 1
    for name, rtype, issue in issues(results, types):
        if name == CONTROL:
            continue
        severity = "error" if is_error(issue) else issue["severity"]
        counts[rtype][severity] += 1
        if severity in ("error", "warning"):
            counts[rtype][f"{severity}: {issue['messageId'] or issue['message'][:80]}"] += 1
    return counts


def problems(results: list[Result], types: dict[str, list[str]]) -> list[str]:
    """What makes the run fail: errors, unknown warnings, a missing answer, a control not reported."""
    found: list[str] = []
    answered = {Path(r["file"]).name for r in results}
    found += [f"{name}: the validator gave no result" for name in sorted(set(types) - answered)]
    control_caught = False
    for name, rtype, issue in issues(results, types):
        where = f"{name} {rtype} {issue['location']}: [{issue['messageId']}] {issue['message']}"
        if name == CONTROL:
            control_caught |= is_error(issue) and issue["messageId"] == "Terminology_TX_NoValid_16"
            if is_error(issue) and not issue["location"].endswith("presentedForm[0].contentType"):
                found.append(f"control, unexpected error: {where}")
        elif is_error(issue):
            found.append(f"error: {where}")
        elif issue["severity"] == "warning" and known_warning(issue) is None:
            found.append(f"warning not in KNOWN_WARNINGS: {where}")
    if not control_caught:
        found.append(f"control: contentType {CONTROL_MEDIA_TYPE} was not reported (media-type check inactive?)")
    return found


def report(counts: dict[str, collections.Counter[str]]) -> str:
    lines = ["resource type        resources errors warnings information"]
    for rtype in sorted(counts):
        c = counts[rtype]
        lines.append(f"  {rtype:20} {c['resources']:5} {c['error']:5} {c['warning']:7} {c['information']:7}")
        lines += [f"      {c[key]:5}  {key}" for key in sorted(k for k in c if ":" in k)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", type=Path, help="write the bundles here instead of a temporary folder")
    parser.add_argument(
        "--results", type=Path, help="also write the entry types and the validator's results here (JSON)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        types = write_inputs(folder)
        try:
            results = validate(folder)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 2
    if args.results:
        args.results.write_text(json.dumps({"types": types, "results": results}), encoding="utf-8")
    print(f"{len(types) - 1} bundles (+1 negative control); issues per resource type:")
    print(report(count(results, types)))
    found = problems(results, types)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
