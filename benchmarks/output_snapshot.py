"""Byte-for-byte outputs of record building, for comparing two checkouts (a CPU change must change none).

Writes one file per case into ``--out``: the record's repr (every item and data-quality issue, in
order), the output resources, the JSON summary and the CDS Hooks cards, as exact JSON. Cases: every
example and text example (``examples/``); synthetic realistic patients (``synth_patient(...,
realistic=True)``) of 10–5,000 resources over every scenario and two seeds; the same records with
seeded random damage (wrong types, bad dates, codes and ids, nulls, unknown elements) in their
relevant and irrelevant resources; the HL7 R4 examples of the types read (one record each, when
``scripts/fetch-r4-examples.sh`` fetched them); and the malformed-input corpus of
``bmefhir.testing.fuzz`` through the file source. Each record is built twice (the second time its
verdicts are remembered), and the two must agree.

Run it from one checkout, then from the other, and compare::

    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/output_snapshot.py --out /tmp/snap-before
    PYTHONPATH=$PWD        .venv/bin/python benchmarks/output_snapshot.py --out /tmp/snap-after
    .venv/bin/python benchmarks/output_snapshot.py --compare /tmp/snap-before /tmp/snap-after

(The script imports only public entry points, so an older checkout runs it too.)
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
from collections.abc import Iterator
from copy import deepcopy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bmefhir.fhir.files import read_bundle
from bmefhir.normalize.parse import MEMO, READ_TYPES
from bmefhir.pipeline import process_patient
from bmefhir.render.cards import cds_cards
from bmefhir.synth import SCENARIOS, synth_patient
from bmefhir.testing.damage import paths, put
from bmefhir.testing.examples import examples_dir, list_examples, list_text_examples
from bmefhir.testing.fuzz import generate, load_seeds, r4_package_dir

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SIZES = (10, 30, 100, 300, 1000, 2000, 5000)
BAD_VALUES: tuple[object, ...] = (5, "a  b", "2024-13-01", "not an id!", True, 1.5, "", {"a": 1}, [1], None, [None])
Json = dict[str, Any]


def damaged(resources: list[Json], seed: int, share: float = 0.2) -> list[Json]:
    """A copy of ``resources`` with about ``share`` of them damaged at one or two random places."""
    rng = random.Random(seed)
    out = deepcopy(resources)
    for res in out[1:]:  # the Patient kept, so the record stays one patient's
        if rng.random() >= share:
            continue
        for _ in range(rng.randint(1, 2)):
            places = [p for p in paths(res) if p not in (("resourceType",), ("id",), ("subject",))]
            if not places:
                break
            path = rng.choice(places)
            put(res, path, deepcopy(rng.choice(BAD_VALUES)))
        if rng.random() < 0.3:
            res[rng.choice(["unknownElement", "valueString", "status", "_status", "text"])] = deepcopy(
                rng.choice(BAD_VALUES)
            )
    return out


def snapshot(resources: list[Json], patient_id: str | None = None, source_issues: Any = ()) -> bytes:
    result = process_patient(deepcopy(resources), NOW, patient_id=patient_id, source_issues=source_issues)
    analysis = result.analysis
    parts = {
        "record": repr(analysis.record),
        "outputs": list(result.outputs.written()),
        "summary": result.summary,
        "cards": cds_cards(analysis, app_url="https://app.example/launch"),
    }
    again = process_patient(deepcopy(resources), NOW, patient_id=patient_id, source_issues=source_issues)
    if repr(again.analysis.record) != parts["record"] or again.summary != result.summary:
        raise SystemExit("a second build of the same resources differs")
    return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def cases(quick: bool) -> Iterator[tuple[str, list[Json], str | None, Any]]:
    for form, found in (("coded", list_examples()), ("text", list_text_examples())):
        for case in found:
            for raw in read_bundle(case.path):
                yield f"example-{form}-{case.name}-{raw.patient_id}", list(raw.resources), raw.patient_id, raw.issues
    sizes = SIZES[:4] if quick else SIZES
    for seed in (0, 1):
        for size in sizes:
            for index in range(len(SCENARIOS) if size <= 1000 else 2):
                resources = synth_patient(index, seed=seed, resources=size, realistic=True)
                yield f"synth-{seed}-{size}-{index}", resources, None, ()
                if size <= 1000 and index % 3 == 0:
                    yield f"damaged-{seed}-{size}-{index}", damaged(resources, seed * 1000 + index), None, ()
    package = r4_package_dir()
    if package.is_dir():
        files = sorted(f for f in package.glob("*.json") if f.name.split("-", 1)[0] in READ_TYPES)
        for file in files[:: 4 if quick else 1]:
            yield f"r4-{file.stem}", [orjson.loads(file.read_bytes())], None, ()
    seeds = load_seeds(examples_dir(), package if package.is_dir() else None)
    with tempfile.TemporaryDirectory() as tmp:
        for case in generate(seeds, 60 if quick else 400):
            path = Path(tmp) / "case.json"
            path.write_bytes(case.data)
            try:
                patients = list(read_bundle(path))
            except Exception as exc:  # the source refusing the file is the same before and after
                yield f"fuzz-{case.name}-refused", [], None, (type(exc).__name__,)
                continue
            for number, raw in enumerate(patients):
                yield f"fuzz-{case.name}-{number}", list(raw.resources), raw.patient_id, raw.issues


def write(out: Path, quick: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, resources, patient_id, issues in cases(quick):
        file = out / (hashlib.sha256(name.encode()).hexdigest()[:20] + ".json")
        if resources:
            try:
                data = snapshot(resources, patient_id, issues)
            except Exception as exc:  # a crash is an output too: the same one before and after, or a fix
                data = orjson.dumps({"crash": f"{type(exc).__name__}: {exc}"})
        else:
            data = orjson.dumps({"refused": list(issues)})
        file.write_bytes(name.encode() + b"\n" + data)
        count += 1
        if count % 4 == 0:
            MEMO.clear()  # the verdict memo bounded: some cases meet resources of earlier ones, some none
    print(f"{count} cases written to {out}")


def compare(a: Path, b: Path) -> int:
    names_a = {p.name for p in a.glob("*.json")}
    names_b = {p.name for p in b.glob("*.json")}
    differ = [n for n in sorted(names_a & names_b) if (a / n).read_bytes() != (b / n).read_bytes()]
    only = sorted(names_a ^ names_b)
    for n in differ[:20]:
        print("differs:", (a / n).read_bytes().split(b"\n", 1)[0].decode())
    print(f"{len(names_a & names_b)} cases in both, {len(differ)} differ, {len(only)} in one only")
    return 1 if differ or only else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true", help="fewer cases (sizes up to 300)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if args.out is None:
        parser.error("--out or --compare")
    write(args.out, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
