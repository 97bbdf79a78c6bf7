"""A seeded corpus of malformed FHIR JSON, and the checks every entry point must pass on it.

Seeds are the bundled example patients (``examples/``) and the HL7 R4 example
resources of the types bmefhir reads (``scripts/fetch-r4-examples.sh``). Each
case mutates one seed in one class (``MUTATION_CLASSES``): nesting depth, size,
value types, encodings, lone surrogates, duplicate keys, huge strings, damaged
``resourceType`` or ``id``, primitive extensions, truncation. The same seed and
index always give the same bytes.

``check_files`` runs a case through the file source and the runner beside a
control patient; ``check_api`` and ``check_cds`` post it to ``/api/analyze`` and
the CDS Hooks service. Each returns a ``Verdict``: a crash (an exception out of
the adapter, or "internal error"), a hang (over ``HANG_SECONDS``), a silent
drop (an input patient neither analysed nor failed, and the file named by no error or warning), or
a 5xx. ``tests/fuzz`` runs a fast subset; ``benchmarks/fuzz.py`` the large one.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = [
    "HANG_SECONDS",
    "MUTATION_CLASSES",
    "Case",
    "Tally",
    "Verdict",
    "check_api",
    "check_cds",
    "check_files",
    "generate",
    "load_seeds",
    "r4_package_dir",
]

HANG_SECONDS: Final = 15.0
NOW: Final = datetime(2024, 6, 1, tzinfo=UTC)
CONTROL: Final = {"resourceType": "Patient", "id": "fuzz-control", "birthDate": "1970-01-01", "gender": "female"}
_R4_TYPES: Final = (
    "Patient",
    "Observation",
    "Condition",
    "DiagnosticReport",
    "ImagingStudy",
    "MedicationStatement",
    "MedicationRequest",
    "Medication",
)


def r4_package_dir() -> Path:
    """Where scripts/fetch-r4-examples.sh put the HL7 R4 examples (``BMEFHIR_R4_EXAMPLES`` overrides)."""
    if env := os.environ.get("BMEFHIR_R4_EXAMPLES"):
        return Path(env)
    cache = Path(os.environ.get("BMEFHIR_CACHE") or Path.home() / ".cache" / "bmefhir")
    return cache / "r4-examples" / "package"


@dataclass(frozen=True, slots=True)
class Case:
    name: str  # "seed-001-rmo-hip-ankle-knee.json/depth/17"
    mutation: str
    data: bytes  # the file's bytes
    patients: frozenset[str]  # Patient ids in the seed (before mutation)


@dataclass(frozen=True, slots=True)
class Verdict:
    crash: str | None = None  # what escaped, or the "internal error" failure
    hang: bool = False
    silent_drops: tuple[str, ...] = ()
    server_error: int | None = None
    seconds: float = 0.0


@dataclass
class Tally:
    """Counts over many verdicts, as the fuzz benchmark prints them."""

    inputs: int = 0
    crashes: int = 0
    hangs: int = 0
    silent_drops: int = 0
    server_errors: int = 0
    slowest: float = 0.0
    examples: list[str] = field(default_factory=list)

    def add(self, case: Case, verdict: Verdict) -> None:
        self.inputs += 1
        self.crashes += verdict.crash is not None
        self.hangs += verdict.hang
        self.silent_drops += bool(verdict.silent_drops)
        self.server_errors += verdict.server_error is not None
        self.slowest = max(self.slowest, verdict.seconds)
        bad = verdict.crash or verdict.silent_drops or verdict.server_error or verdict.hang
        if bad and len(self.examples) < 10:
            self.examples.append(f"{case.name}: {verdict}")

    @property
    def clean(self) -> bool:
        return not (self.crashes or self.hangs or self.silent_drops or self.server_errors)


# -- seeds -----------------------------------------------------------------------------------------


def load_seeds(examples: Path, r4_package: Path | None, r4_limit: int = 200) -> list[tuple[str, bytes]]:
    """(name, bytes) of every example Bundle and of HL7 R4 examples of the types read, each made a
    collection Bundle with a Patient of its own so that it has a patient to lose."""
    seeds = [(p.name, p.read_bytes()) for p in sorted(examples.glob("*.json"))]
    if r4_package is not None and r4_package.is_dir():
        files = sorted(f for kind in _R4_TYPES for f in r4_package.glob(f"{kind}-*.json"))
        for number, file in enumerate(files[:r4_limit]):
            resource = orjson.loads(file.read_bytes())
            pid = f"r4-{number}"
            patient = {"resourceType": "Patient", "id": pid}
            if resource.get("resourceType") == "Patient":
                resource["id"] = pid
                patient = resource
            elif isinstance(resource.get("subject"), dict) or "subject" in _subject_types(resource):
                resource["subject"] = {"reference": f"Patient/{pid}"}
            entries = [patient] if resource is patient else [patient, resource]
            bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in entries]}
            seeds.append((f"r4/{file.name}", orjson.dumps(bundle)))
    return seeds


def _subject_types(resource: dict[str, Any]) -> set[str]:
    return {"subject"} if resource.get("resourceType") in _R4_TYPES[1:7] else set()


def _patients(data: bytes) -> frozenset[str]:
    bundle = orjson.loads(data)
    found = [e.get("resource") for e in bundle.get("entry", [])] if bundle.get("resourceType") == "Bundle" else [bundle]
    return frozenset(r["id"] for r in found if isinstance(r, dict) and r.get("resourceType") == "Patient")


# -- mutations -------------------------------------------------------------------------------------


def _slots(node: Any, limit: int = 5000) -> list[tuple[Any, Any]]:
    """(container, key) of every value inside ``node``, breadth first, at most ``limit``."""
    found: list[tuple[Any, Any]] = []
    queue = [node]
    while queue and len(found) < limit:
        current = queue.pop(0)
        keys: Sequence[Any] = list(current) if isinstance(current, dict) else range(len(current))
        for key in keys:
            found.append((current, key))
            if isinstance(current[key], dict | list):
                queue.append(current[key])
    return found


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    entries = bundle.get("entry") if bundle.get("resourceType") == "Bundle" else None
    if isinstance(entries, list):
        return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [bundle]


def _nest(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = {"extension": [{"url": "http://example.org/fuzz", "valueString": "x"}], "nested": value}
    return value


def _dumps(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:  # orjson refuses > 255 levels; the standard library writes them
        return json.dumps(data, separators=(",", ":")).encode()


def _tree(kind: str) -> Callable[[random.Random, dict[str, Any]], None]:
    def mutate(rng: random.Random, bundle: dict[str, Any]) -> None:
        target = rng.choice(_resources(bundle))
        slots = _slots(target)
        container, key = rng.choice(slots) if slots else (target, "id")
        if kind == "depth":
            container[key] = _nest(container[key], rng.choice((40, 70, 200, 499, 600, 900)))
        elif kind == "types":
            container[key] = rng.choice((1.5, -1, 0, True, None, [], {}, [None], "", [[1]], {"": {}}, 10**30))
        elif kind == "huge-string":
            container[key] = rng.choice(("x", "\u00e9", "[red]", "\n")) * rng.choice((100_000, 1_100_000))
        elif kind == "resource-type":
            target["resourceType"] = rng.choice(("", "patient", "Bundle", "X" * 100_000, 7, None, ["Patient"], "Ob/s"))
        elif kind == "id":
            target["id"] = rng.choice(("", "a b", "../x", "x" * 65, "x" * 100_000, 1.5, {"a": 1}, None, "é"))
        elif kind == "primitive-extension":
            target[rng.choice(("_birthDate", "_status", "_id", "_effectiveDateTime", "_gender"))] = rng.choice(
                ("2020", 1, None, [1, "a"], True)
            )
        elif kind == "size":
            entries = bundle.get("entry")
            if rng.random() < 0.5 and isinstance(entries, list) and entries:
                entries.extend(rng.choice(entries) for _ in range(rng.choice((50, 300))))  # duplicates, many entries
            else:
                target["extension"] = [{"url": "http://example.org/fuzz", "valueInteger": i} for i in range(5_000)]

    return mutate


def _text(kind: str) -> Callable[[random.Random, bytes], bytes]:
    def mutate(rng: random.Random, data: bytes) -> bytes:
        at = rng.randrange(1, max(len(data) - 1, 2))
        if kind == "truncate":
            return data[:at]
        if kind == "encoding":
            choice = rng.randrange(5)
            if choice == 0:
                return b"\xef\xbb\xbf" + data
            if choice == 1:
                return data[:at] + b"\xff\xfe" + data[at:]
            if choice == 2:
                return data.decode("utf-8").encode("utf-16")
            if choice == 3:
                return data[:at] + b"\x00" + data[at:]
            return data.replace(b'"', b"'", rng.randrange(1, 5))
        if kind == "surrogate":
            quote = data.find(b'":"', at)
            where = quote + 3 if quote > 0 else at
            return data[:where] + rng.choice((b"\\ud800", b"\\udfff", b"\\ud83d", b"\\u0000")) + data[where:]
        # duplicate keys: a second "id" / "resourceType" right after an opening brace
        brace = data.find(b"{", at)
        where = brace + 1 if brace >= 0 else 1
        extra = rng.choice((b'"id":"dup",', b'"resourceType":"Basic",', b'"subject":{"reference":"Patient/zz"},'))
        return data[:where] + extra + data[where:]

    return mutate


_TREE_CLASSES: Final = ("depth", "types", "huge-string", "resource-type", "id", "primitive-extension", "size")
_TEXT_CLASSES: Final = ("truncate", "encoding", "surrogate", "duplicate-keys")
MUTATION_CLASSES: Final = _TREE_CLASSES + _TEXT_CLASSES


def generate(seeds: Sequence[tuple[str, bytes]], count: int, seed: int = 13) -> Iterator[Case]:
    """``count`` cases, cycling through the mutation classes, seeds drawn by a seeded generator."""
    rng = random.Random(seed)
    for index in range(count):
        mutation = MUTATION_CLASSES[index % len(MUTATION_CLASSES)]
        name, data = seeds[rng.randrange(len(seeds))]
        patients = _patients(data)
        if mutation in _TREE_CLASSES:
            bundle = orjson.loads(data)
            _tree(mutation)(rng, bundle)
            out = _dumps(bundle)
        else:
            out = _text(mutation)(rng, data)
        yield Case(f"{name}/{mutation}/{index}", mutation, out, patients)


# -- checks ----------------------------------------------------------------------------------------

_BAD_FILE: Final = "bad.json"


def check_files(case: Case, folder: Path) -> Verdict:
    """The case as ``bad.json`` beside a control patient, through ``open_source`` and ``run``."""
    from bmefhir.fhir import open_source
    from bmefhir.runner import Failure, run

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    (folder / "control.json").write_bytes(orjson.dumps(CONTROL))
    (folder / _BAD_FILE).write_bytes(case.data)
    analysed: set[str] = set()
    mentions = False
    started = time.perf_counter()
    try:
        source = open_source(folder)

        def seen(pid: str, outcome: object) -> None:
            nonlocal mentions
            if not isinstance(outcome, Failure):
                analysed.add(pid)
                issues = outcome.analysis.record.issues  # type: ignore[attr-defined]
                mentions |= any(_names_bad_file(i) for i in issues)

        report = run(source, NOW, on_patient=seen)
    except Exception as exc:  # the point of the check: nothing may escape
        return Verdict(crash=f"{type(exc).__name__}: {str(exc)[:200]}", seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    internal = [f.reason for f in report.failures if "internal error" in f.reason]
    failed = {f.patient_id for f in report.failures}
    mentions |= any(
        p.issue.severity != "information" and _BAD_FILE in p.issue.resource + p.issue.message for p in source.problems
    )
    mentions |= any(_BAD_FILE in f.reason for f in report.failures)
    drops = () if mentions else tuple(sorted(case.patients - analysed - failed))
    if CONTROL["id"] not in analysed:
        drops += (str(CONTROL["id"]),)
    return Verdict(
        crash=internal[0] if internal else None,
        hang=seconds > HANG_SECONDS,
        silent_drops=drops,
        seconds=seconds,
    )


def _names_bad_file(found: Any) -> bool:
    """An error or warning that names the mutated file: the loss was said, not silent."""
    return bool(found.severity != "information" and _BAD_FILE in found.resource + found.message)


def _post(client: Any, url: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    response = client.post(url, content=body, headers={"content-type": "application/json"})
    return response.status_code, time.perf_counter() - started


def _resources_text(data: bytes) -> bytes:
    """The case's resources as a JSON array text, keeping byte-level damage where it can."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return b"[" + data + b"]"
    if isinstance(parsed, dict) and isinstance(parsed.get("entry"), list):
        return _dumps([e.get("resource") if isinstance(e, dict) else e for e in parsed["entry"]] or [{}])
    return b"[" + data + b"]"


def check_api(client: Any, case: Case) -> Verdict:
    """POST /api/analyze with the case's resources: any status but 5xx (a TestClient not raising)."""
    body = b'{"now":"2024-06-01T00:00:00Z","resources":' + _resources_text(case.data) + b"}"
    status, seconds = _post(client, "/api/analyze", body)
    return Verdict(server_error=status if status >= 500 else None, hang=seconds > HANG_SECONDS, seconds=seconds)


def check_cds(client: Any, case: Case) -> Verdict:
    """The case as a CDS Hooks prefetch: the Patient and a searchset of the rest; any status but 5xx."""
    from bmefhir.fhir.prefetch import prefetch_templates

    pid = min(case.patients) if case.patients else "fuzz"
    empty = b'{"resourceType":"Bundle","type":"searchset","entry":[]}'
    searches = b",".join(
        b'"' + key.encode() + b'":' + (case.data if key == "Observation" else empty)  # the case's bytes, as they are
        for key in prefetch_templates()
        if key != "patient"
    )
    prefetch = b'{"patient":{"resourceType":"Patient","id":"' + pid.encode() + b'"},' + searches + b"}"
    body = (
        b'{"hook":"patient-view","hookInstance":"fuzz","context":{"patientId":"'
        + pid.encode()
        + b'","userId":"Practitioner/1"},"prefetch":'
        + prefetch
        + b"}"
    )
    status, seconds = _post(client, "/cds-services/bmefhir-bme-differential", body)
    return Verdict(server_error=status if status >= 500 else None, hang=seconds > HANG_SECONDS, seconds=seconds)
