"""The fast subset of the fuzz corpus (bmefhir.testing.fuzz) through every entry point.

Each test runs the same seeded cases (every mutation class) through one path and
asserts no crash, no hang, no silent drop, no 5xx, and a bounded peak memory.
``benchmarks/fuzz.py`` runs the large corpus (>= 10,000 inputs).
"""

from __future__ import annotations

import resource
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bmefhir.pipeline import warm_up
from bmefhir.testing.fuzz import (
    MUTATION_CLASSES,
    Case,
    Tally,
    Verdict,
    check_api,
    check_cds,
    check_files,
    generate,
    load_seeds,
    r4_package_dir,
)
from bmefhir.testing.prerequisites import unavailable
from bmefhir.web import create_app, get_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.web.client import settings_for

ROOT = Path(__file__).resolve().parents[2]
CASES = 10 * len(MUTATION_CLASSES)  # ten of each class per path
PEAK_RSS_LIMIT_MIB = 3 * 1024


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    # What a process loads once (the reader's pipelines, lingua's models: seconds of CPU) is loaded first, as
    # `bmefhir serve` does before taking requests: a hang is one input's time, not the process's first use.
    warm_up(datetime.now(UTC))
    package = r4_package_dir()
    if not package.is_dir():
        unavailable(f"R4 example package not found at {package}; run scripts/fetch-r4-examples.sh")
    seeds = load_seeds(ROOT / "examples", package)
    assert len(seeds) > 100, "the seeds are the examples and the HL7 R4 examples of the types read"
    return list(generate(seeds, CASES, seed=2024))


@pytest.fixture(scope="module")
def client() -> TestClient:
    settings = settings_for("https://ehr.example/fhir", demo=True)
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app, raise_server_exceptions=False)


def _tally(cases: list[Case], check: Callable[[Case], Verdict]) -> Tally:
    tally = Tally()
    for case in cases:
        tally.add(case, check(case))
    assert {c.mutation for c in cases} == set(MUTATION_CLASSES)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mib < PEAK_RSS_LIMIT_MIB, f"peak memory {peak_mib:.0f} MiB"
    return tally


def test_the_file_source_neither_crashes_hangs_nor_drops_a_patient(cases: list[Case], tmp_path: Path) -> None:
    tally = _tally(cases, lambda case: check_files(case, tmp_path / "in"))
    assert tally.inputs == CASES
    assert tally.clean, tally.examples


@pytest.mark.filterwarnings("ignore")
def test_the_rest_api_never_answers_5xx(cases: list[Case], client: TestClient) -> None:
    tally = _tally(cases, lambda case: check_api(client, case))
    assert tally.clean, tally.examples


@pytest.mark.filterwarnings("ignore")
def test_the_cds_prefetch_path_never_answers_5xx(cases: list[Case], client: TestClient) -> None:
    tally = _tally(cases, lambda case: check_cds(client, case))
    assert tally.clean, tally.examples


def test_the_oracle_sees_a_silent_drop(tmp_path: Path) -> None:
    """A case whose patient vanishes without a word is counted as a silent drop."""
    lost = Case("x", "types", b'{"resourceType":"Bundle","entry":[]}', frozenset({"gone"}))
    assert check_files(lost, tmp_path).silent_drops == ("gone",)
