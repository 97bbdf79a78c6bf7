"""Record building: parser choice, relevance before validation, and a 50,000-resource patient.

Three measurements, each in one run, interleaved and repeated (min / median / max):

1. Parsers for the relevant resources, on the same resources (HL7 R4 examples of the types
   bmefhir reads, and the resources of synthetic patients): fhir.resources R4B validation whole,
   fhir.resources in parts as ``bmefhir.normalize.parse.validate`` does (each distinct element and
   shell validated once per round, as once per record; its process-wide memos emptied each round,
   so nothing is carried over), fhirpy-types-r4b (when installed), slim pydantic models of the
   elements the readers use, and fhir.resources ``model_construct`` (no validation). Per resource µs, the
   ratio to fhir.resources, and how many of a set of malformed resources each one reports
   (a parser that does not report bad elements cannot replace validation).
2. Record building with relevance before validation (and validation in parts) against validating
   every resource whole with fhir.resources (``build_record(..., skip_irrelevant=False)``), at
   10 / 100 / 1,000 / 5,000 resources per patient with realistic padding; the per-resource cost is
   the slope of a least-squares line over the sizes (the intercept is the fixed per-patient cost).
   The verdict memo (``parse.MEMO``: resources seen before) is emptied before every build, so every
   round validates what it builds; shells (structure with values replaced) stay known, as in a
   process that has analysed other patients.
3. One patient of 50,000 resources: build time, tracemalloc peak and peak RSS growth, issues.

Realistic padding: ``synth_patient(..., realistic=True)`` once it exists, else the HL7 R4
example resources (encounters, vital signs, labs, immunizations, claims, ...) re-pointed at the
patient (``bmefhir.testing.padding``).

    .venv/bin/python benchmarks/record_building.py [--repeats R] [--patients N]
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from copy import deepcopy
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ConfigDict, ValidationError

from bmefhir.normalize import build_record, parse
from bmefhir.normalize.context import Context
from bmefhir.normalize.parse import validate
from bmefhir.normalize.relevance import skip_reason
from bmefhir.synth import synth_patient
from bmefhir.testing.fuzz import r4_package_dir
from bmefhir.testing.padding import pad, r4_templates

Json = dict[str, Any]
SIZES = (10, 100, 1000, 5000)
TARGET_SPEED_UP = 5.0  # issue 11: at 1,000 resources, ≥ 5× faster than validating every resource
MEMO = "in parts (bmefhir)"


class _Memos:
    """bmefhir's process-wide validation memos (``parse.MEMO``: verdicts of resources seen before;
    ``parse.SHELLS``: of shells), emptied where a measurement must not recall an earlier round. The
    same script runs on an older checkout for a before/after comparison: what it lacks is skipped."""

    @staticmethod
    def clear_verdicts() -> None:
        if (memo := getattr(parse, "MEMO", None)) is not None:
            memo.clear()

    @staticmethod
    def clear_shells() -> None:
        if (memo := getattr(parse, "SHELLS", None)) is not None:
            memo.clear()


PARSED_TYPES = ("Observation", "Condition", "MedicationStatement", "MedicationRequest", "DiagnosticReport")


# --- slim models: only the elements the readers use ----------------------------------------------


class _Slim(BaseModel):
    model_config = ConfigDict(extra="allow")


class Coding(_Slim):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(_Slim):
    coding: list[Coding] | None = None
    text: str | None = None


class Reference(_Slim):
    reference: str | None = None
    display: str | None = None


class Quantity(_Slim):
    value: float | None = None
    unit: str | None = None
    system: str | None = None
    code: str | None = None
    comparator: str | None = None


class Period(_Slim):
    start: str | None = None
    end: str | None = None


class Component(_Slim):
    code: CodeableConcept | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueBoolean: bool | None = None


class SlimObservation(_Slim):
    status: str | None = None
    category: list[CodeableConcept] | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    effectiveDateTime: str | None = None
    effectivePeriod: Period | None = None
    issued: str | None = None
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: str | None = None
    valueBoolean: bool | None = None
    interpretation: list[CodeableConcept] | None = None
    bodySite: CodeableConcept | None = None
    component: list[Component] | None = None
    derivedFrom: list[Reference] | None = None
    partOf: list[Reference] | None = None


class SlimCondition(_Slim):
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    code: CodeableConcept | None = None
    bodySite: list[CodeableConcept] | None = None
    subject: Reference | None = None
    onsetDateTime: str | None = None
    onsetPeriod: Period | None = None
    abatementDateTime: str | None = None


class SlimMedicationUse(_Slim):
    status: str | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    subject: Reference | None = None
    effectiveDateTime: str | None = None
    effectivePeriod: Period | None = None
    authoredOn: str | None = None
    dosage: list[dict[str, Any]] | None = None
    dosageInstruction: list[dict[str, Any]] | None = None


class SlimDiagnosticReport(_Slim):
    status: str | None = None
    category: list[CodeableConcept] | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    effectiveDateTime: str | None = None
    issued: str | None = None
    conclusion: str | None = None
    conclusionCode: list[CodeableConcept] | None = None
    imagingStudy: list[Reference] | None = None
    presentedForm: list[dict[str, Any]] | None = None


SLIM = {
    "Observation": SlimObservation,
    "Condition": SlimCondition,
    "MedicationStatement": SlimMedicationUse,
    "MedicationRequest": SlimMedicationUse,
    "DiagnosticReport": SlimDiagnosticReport,
}


# --- parsers ----------------------------------------------------------------------------------------

Parser = Callable[[Json], bool]  # True when the parser reported a problem


def _fhir_resources(res: Json) -> bool:
    try:
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    except (ValidationError, AttributeError, KeyError, TypeError, ValueError):
        return True
    return False


def _with_memo() -> Parser:
    """bmefhir's validation in parts with a fresh per-record memo (one per round, as one per record)."""
    memo: dict[str, Any] = {}

    def parse(res: Json) -> bool:
        return bool(validate(res, "x", memo))

    return parse


def _construct(res: Json) -> bool:
    get_fhir_model_class(res["resourceType"]).model_construct(**res)
    return False


def _slim(res: Json) -> bool:
    try:
        SLIM[res["resourceType"]].model_validate(res)
    except ValidationError:
        return True
    return False


def _fhirpy() -> Parser | None:
    try:
        import fhirpy_types_r4b as types  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None

    def parse(res: Json) -> bool:
        try:
            getattr(types, res["resourceType"]).model_validate(res)
        except (ValidationError, AttributeError, TypeError, ValueError):
            return True
        return False

    return parse


def parsers() -> dict[str, Parser]:
    out: dict[str, Parser] = {"fhir.resources": _fhir_resources, MEMO: _with_memo()}
    if (fhirpy := _fhirpy()) is not None:
        out["fhirpy-types-r4b"] = fhirpy
    out["slim pydantic"] = _slim
    out["model_construct"] = _construct
    return out


def _malformed(resources: Sequence[Json]) -> list[Json]:
    """Copies with one bad element each: a date, an unknown element, a wrong-typed value or status."""
    out = []
    for k, res in enumerate(resources):
        bad = deepcopy(res)
        kind = k % 4
        if kind == 0:
            bad["effectiveDateTime" if res["resourceType"] == "Observation" else "meta"] = (
                "2024-13-45" if res["resourceType"] == "Observation" else {"lastUpdated": "yesterday"}
            )
        elif kind == 1:
            bad["unknownElement"] = 1
        elif kind == 2:
            bad["subject"] = {"reference": 5}
        else:
            bad["status"] = {"code": "final"}
        out.append(bad)
    return out


def _parser_resources() -> list[Json]:
    out: list[Json] = []
    package = r4_package_dir()
    if package.is_dir():
        for path in sorted(package.glob("*.json")):
            if path.name.split("-")[0] in PARSED_TYPES:
                res = json.loads(path.read_text(encoding="utf-8"))
                if not _fhir_resources(res):  # valid examples only: the same work for every parser
                    out.append(res)
    for i in range(20):
        out += [r for r in synth_patient(i, seed=5, resources=30) if r["resourceType"] in PARSED_TYPES]
    return out


def measure_parsers(repeats: int) -> None:
    resources = _parser_resources()
    chosen = parsers()
    times: dict[str, list[float]] = {name: [] for name in chosen}
    for r in range(repeats):
        names = list(chosen)
        names = names[r % len(names) :] + names[: r % len(names)]  # rotate the order each round
        for name in names:
            if name == MEMO:
                chosen[name] = _with_memo()  # a fresh memo each round
                _Memos.clear_verdicts()  # and nothing remembered from an earlier round
                _Memos.clear_shells()
            parse = chosen[name]
            gc.collect()
            start = time.perf_counter()
            for res in resources:
                parse(res)
            times[name].append(1e6 * (time.perf_counter() - start) / len(resources))
    bad = _malformed(resources)
    base = statistics.median(times["fhir.resources"])
    print(f"\nparsers, {len(resources)} valid resources ({', '.join(PARSED_TYPES)}), {repeats} interleaved rounds")
    print(f"{'parser':<18} {'µs/res min':>10} {'median':>8} {'max':>8} {'× fhir.resources':>17} {'bad caught':>11}")
    for name, ts in times.items():
        _Memos.clear_verdicts()
        check = _with_memo() if name == MEMO else chosen[name]
        caught = sum(check(b) for b in bad)
        print(
            f"{name:<18} {min(ts):>10.1f} {statistics.median(ts):>8.1f} {max(ts):>8.1f} "
            f"{statistics.median(ts) / base:>17.2f} {caught:>5}/{len(bad)}"
        )
    if "fhirpy-types-r4b" not in chosen:
        print("fhirpy-types-r4b: not installed (pip install fhirpy-types-r4b to include it)")


# --- record building ---------------------------------------------------------------------------------


_HAS_REALISTIC = "realistic" in inspect.signature(synth_patient).parameters


def realistic_patient(index: int, size: int, templates: Sequence[Json]) -> list[Json]:
    """A synthetic BME patient buried in ``size`` resources of an ordinary chart."""
    if _HAS_REALISTIC:  # the US Core generator
        return synth_patient(index, seed=1, resources=size, realistic=True)  # type: ignore[call-arg,unused-ignore]
    core = synth_patient(index, seed=1, resources=min(size, 10))
    return pad(core, templates, size, core[0]["id"])


def _fit(sizes: Sequence[int], seconds: Sequence[float]) -> tuple[float, float]:
    """Least-squares (slope per resource, intercept per patient) of seconds over sizes."""
    slope, intercept = statistics.linear_regression(sizes, seconds)
    return slope, intercept


def measure_building(repeats: int, patients: int, templates: Sequence[Json]) -> None:
    inputs = {
        size: [realistic_patient(i, size, templates) for i in range(max(2, patients * 10 // size))] for size in SIZES
    }
    ctx = Context()
    share = {
        size: sum(skip_reason(ctx, r) is None for p in pats for r in p) / sum(len(p) for p in pats)
        for size, pats in inputs.items()
    }
    for warm in (inputs[10][0], inputs[100][0]):  # warm-up: tables, models, report-text pipelines
        build_record(warm)
        build_record(warm, skip_irrelevant=False)
    per_patient: dict[tuple[str, int], list[float]] = {}
    for r in range(repeats):
        for size, pats in inputs.items():
            modes = [("relevance", True), ("validate all", False)]
            for mode, skip in modes if r % 2 == 0 else modes[::-1]:  # interleaved, order alternating
                gc.collect()
                seconds = 0.0
                for p in pats:
                    _Memos.clear_verdicts()  # untimed: this patient's resources are validated, not recalled
                    start = time.process_time()
                    build_record(p, skip_irrelevant=skip)
                    seconds += time.process_time() - start
                per_patient.setdefault((mode, size), []).append(seconds / len(pats))
    generator = "synth_patient(realistic=True)" if _HAS_REALISTIC else "synth core + HL7 R4 example padding"
    print(f"\nrecord building (CPU per patient, ms), {generator}, {repeats} interleaved rounds")
    print(
        f"{'resources':>9} {'relevant':>9} {'relevance min/med/max':>24} "
        f"{'validate all min/med/max':>27} {'speed-up':>9}"
    )
    for size in SIZES:
        a, b = per_patient[("relevance", size)], per_patient[("validate all", size)]
        ratios = sorted(y / x for x, y in zip(a, b, strict=True))
        print(
            f"{size:>9} {share[size]:>8.1%} "
            f"{1e3 * min(a):>8.2f}/{1e3 * statistics.median(a):.2f}/{1e3 * max(a):.2f} "
            f"{1e3 * min(b):>11.2f}/{1e3 * statistics.median(b):.2f}/{1e3 * max(b):.2f} "
            f"{statistics.median(ratios):>6.1f}× (min {ratios[0]:.1f}, max {ratios[-1]:.1f})"
        )
    for mode in ("relevance", "validate all"):
        fits = [_fit(SIZES, [per_patient[(mode, s)][r] for s in SIZES]) for r in range(repeats)]
        slopes = sorted(1e6 * f[0] for f in fits)
        fixed = sorted(1e3 * f[1] for f in fits)
        print(
            f"{mode:<13} per resource (slope): min {slopes[0]:.1f} median {statistics.median(slopes):.1f} "
            f"max {slopes[-1]:.1f} µs; fixed per patient (intercept): median {statistics.median(fixed):.2f} ms"
        )
    ratio = [per_patient[("validate all", 1000)][r] / per_patient[("relevance", 1000)][r] for r in range(repeats)]
    print(f"target at 1,000 resources: >= {TARGET_SPEED_UP:.0f}× faster; median {statistics.median(ratio):.1f}×")


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def measure_huge(templates: Sequence[Json], size: int = 50_000) -> None:
    patient = realistic_patient(0, size, templates)
    gc.collect()
    rss_before = _rss_kib()
    start = time.process_time()
    record = build_record(patient)
    cpu = time.process_time() - start
    rss_after = _rss_kib()
    tracemalloc.start()
    build_record(patient)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    input_mib = len(json.dumps(patient)) / 2**20
    print(
        f"\none patient of {size:,} resources ({input_mib:.0f} MiB as JSON): build {cpu:.2f} s CPU, "
        f"tracemalloc peak {peak / 2**20:.1f} MiB, peak RSS growth {(rss_after - rss_before) / 1024:.1f} MiB, "
        f"{len(record.sources):,} sources, {len(record.issues):,} issues"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--patients", type=int, default=20, help="patients at 100 resources (scaled by size)")
    args = parser.parse_args()
    package = r4_package_dir()
    if not package.is_dir():
        raise SystemExit(f"R4 example package not found at {package}; run scripts/fetch-r4-examples.sh")
    templates = r4_templates(package)
    measure_parsers(args.repeats)
    measure_building(args.repeats, args.patients, templates)
    measure_huge(templates)


if __name__ == "__main__":
    main()
