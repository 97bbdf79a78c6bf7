"""The official HL7 FHIR validator (org.hl7.fhir.validation 6.6.7, offline) over every output of every example.

One JVM for all of them (scripts/validator.sh; the runner is built by scripts/validator-build.sh, which
scripts/test.sh calls), run by scripts/validate_outputs.py in the background from the end of collection
(conftest.py): the transaction and collection Bundles of the coded and the text-only examples,
with the text findings (--write-findings), against base R4 and bmefhir's profiles. Fails on any error,
on a warning not documented in docs/validation.md (KNOWN_WARNINGS in scripts/validate_outputs.py), and
when the negative control (an unregistered media type) is not reported. Prints the counts per
resource type. In CI a missing Java or a failed build fails; elsewhere it skips with the reason.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bmefhir.testing.prerequisites import unavailable
from tests.conftest import SUMMARY_SECTION

from .conftest import validator_run

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate_outputs", REPO / "scripts" / "validate_outputs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vo = _load()


@pytest.fixture(scope="module")
def validated() -> tuple[list[Any], dict[str, list[str]]]:
    """The results of ``scripts/validate_outputs.py``, started in the background after collection (conftest)."""
    if shutil.which("java") is None:
        unavailable("java not found: the HL7 validator needs Java 17+")
    build = subprocess.run([str(REPO / "scripts" / "validator-build.sh")], capture_output=True, text=True, check=False)
    if build.returncode != 0:
        unavailable(f"ig/validator could not be built (scripts/validator-build.sh): {build.stderr[-1500:]}")
    return validator_run().result()


def test_every_output_is_valid(
    validated: tuple[list[Any], dict[str, list[str]]], record_property: Callable[[str, object], None]
):
    results, types = validated
    counts = vo.count(results, types)
    record_property(SUMMARY_SECTION, (f"HL7 validator, {len(types) - 1} bundles, per resource type", vo.report(counts)))
    found = vo.problems(results, types)
    assert found == [], "\n".join(found[:50])


def test_every_kind_of_output_was_validated(validated: tuple[list[Any], dict[str, list[str]]]):
    results, types = validated
    counts = vo.count(results, types)
    kinds = {"DiagnosticReport", "ClinicalImpression", "RiskAssessment", "Provenance", "Device", "OperationOutcome"}
    assert kinds <= set(counts)
    # the text findings (--write-findings) are among them
    assert counts["Observation"]["resources"] > 0
    assert len(results) == len(types)


def test_unregistered_media_type_is_an_error(validated: tuple[list[Any], dict[str, list[str]]]):
    results, types = validated
    control = [issue for name, _, issue in vo.issues(results, types) if name == vo.CONTROL and vo.is_error(issue)]
    assert control, "the negative control passed: the urn:ietf:bcp:13 check is not active"
    assert all(issue["location"].endswith("presentedForm[0].contentType") for issue in control)
    assert vo.CONTROL_MEDIA_TYPE in control[0]["message"]
