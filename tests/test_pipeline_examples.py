"""End to end on the example bundles: the conclusions a clinician expects, valid FHIR, deterministic."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle

from bmefhir.fhir.files import read_bundle
from bmefhir.pipeline import PatientResult, process_patient
from bmefhir.render.bundle import collection_bundle, transaction_bundle
from bmefhir.testing.examples import ExampleCase, list_examples

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CASES = list_examples()


def _result(case: ExampleCase) -> PatientResult:
    patients = list(read_bundle(case.path))
    assert len(patients) == 1, f"{case.name}: expected one patient"
    raw = patients[0]
    return process_patient(raw.resources, NOW, patient_id=raw.patient_id, source_issues=raw.issues)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_example_reaches_expected_conclusion(case: ExampleCase) -> None:
    d = _result(case).analysis.differential
    top = d.ranking[0].code
    ranking = [(c.code, c.probability) for c in d.ranking[:4]]
    assert top in case.expectation.top, f"{case.name}: top {top}, expected one of {case.expectation.top}; {ranking}"
    flagged = {f.code for f in d.red_flags}
    missing = set(case.expectation.red_flags) - flagged
    assert not missing, f"{case.name}: red flags {sorted(missing)} not raised (raised: {sorted(flagged)})"
    assert top not in case.expectation.not_top


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_outputs_are_valid_r4_and_explain_themselves(case: ExampleCase) -> None:
    result = _result(case)
    for bundle in (transaction_bundle(result.outputs), collection_bundle(result.outputs)):
        Bundle.model_validate(bundle)  # base R4(B) structure, cardinalities, datatypes
    dr = result.outputs.diagnostic_report
    assert "Decision support" in dr["conclusion"]
    assert dr["conclusionCode"][0]["coding"][0]["code"] == result.analysis.differential.ranking[0].code
    # Every leading candidate's finding names the criteria (with citations) behind it.
    for finding in result.outputs.clinical_impression["finding"]:
        assert "Probability" in finding["basis"]
    # Every conclusion names its evidence: each resource a criterion, red flag, next step or withheld
    # treatment cites is a Provenance entity and in RiskAssessment.basis; nothing else read is cited.
    d = result.analysis.differential
    cited = {r for c in d.ranking for h in (*c.supporting, *c.opposing) for r in h.evidence}
    cited |= {r for f in d.red_flags for r in f.evidence} | {r for s in d.next_steps for r in s.evidence}
    cited |= {r for w in d.withheld for reason in w.reasons for r in reason.evidence}
    entities = {e["what"]["reference"].split("/_history/")[0] for e in result.outputs.provenance["entity"]}
    sources = {s.ref for s in result.analysis.record.sources}
    assert cited <= entities <= sources
    assert result.analysis.record.patient.ref in entities
    basis = {b["reference"] for b in result.outputs.risk_assessment.get("basis", [])}
    assert cited - {result.analysis.record.patient.ref} <= basis <= entities


@pytest.mark.parametrize("case", CASES[:3], ids=lambda c: c.name)
def test_same_input_gives_byte_identical_output(case: ExampleCase) -> None:
    first, second = _result(case), _result(case)
    for make in (transaction_bundle, collection_bundle):
        assert orjson.dumps(make(first.outputs), option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            make(second.outputs), option=orjson.OPT_SORT_KEYS
        )
    assert first.summary == second.summary
