"""Unit conversion: every factor recomputed from the molar masses in terminology.md §10."""

from __future__ import annotations

import pytest

from bmefhir import concepts, terminology
from bmefhir.terminology import UnitError

# terminology.md §10 molar masses (g/mol)
M_25OHD = 400.6
M_URATE = 168.1
M_CALCIUM = 40.08
M_PHOSPHORUS = 30.97
M_TRIOLEIN = 885.7
M_PTH = 9425.0
M_THYROXINE = 776.9


def conv(concept: str, value: float, unit: str | None) -> float:
    out = terminology.convert(concept, value, unit)
    assert not isinstance(out, UnitError), out
    assert out[1] == terminology.canonical_unit(concept)
    return out[0]


@pytest.mark.parametrize(
    ("concept", "unit", "expected_per_unit", "table_figure"),
    [
        # nmol/L → ng/mL: 1 nmol/L = M ng/L = M/1000 ng/mL
        ("vitamin_d_25oh", "nmol/L", M_25OHD / 1000, 1 / 2.496),
        # umol/L → mg/dL: 1 umol/L = M ug/L = M/10000 mg/dL
        ("uric_acid", "umol/L", M_URATE / 10000, 1 / 59.48),
        ("uric_acid", "mmol/L", M_URATE / 10, 16.81),
        # pmol/L → ng/dL: 1 pmol/L = M pg/L = M/1000 ng/L = M/1e4 ng/dL
        ("free_t4", "pmol/L", M_THYROXINE / 1e4, 1 / 12.87),
        # mmol/L → mg/dL: 1 mmol/L = M mg/L = M/10 mg/dL
        ("calcium", "mmol/L", M_CALCIUM / 10, 4.008),
        ("calcium_corrected", "mg/dL", 10 / M_CALCIUM, 1 / 4.008),
        ("calcium_ionized", "mg/dL", 10 / M_CALCIUM, 1 / 4.008),
        ("phosphate", "mmol/L", M_PHOSPHORUS / 10, 3.097),
        ("triglycerides", "mmol/L", M_TRIOLEIN / 10, 88.57),
        # pmol/L → pg/mL: 1 pmol/L = M pg/L = M/1000 pg/mL
        ("pth", "pmol/L", M_PTH / 1000, 9.43),
        ("creatinine", "umol/L", 1 / 88.4, 1 / 88.4),
        ("creatinine", "mmol/L", 1000 / 88.4, 11.312),
        ("hemoglobin", "mmol/L", 1 / 0.6206, 1 / 0.6206),
    ],
)
def test_molar_conversion_factors(concept, unit, expected_per_unit, table_figure):
    got = conv(concept, 1.0, unit)
    assert got == pytest.approx(expected_per_unit, rel=2e-3)
    assert got == pytest.approx(table_figure, rel=2e-3)


@pytest.mark.parametrize(
    ("concept", "value", "unit", "expected"),
    [
        ("crp", 1.2, "mg/dL", 12.0),
        ("crp", 12, "mg/L", 12.0),
        ("vitamin_d_25oh", 20, "ug/L", 20.0),
        ("vitamin_d_25oh", 49.92, "nmol/L", 20.0),
        ("tsh", 2.5, "u[IU]/mL", 2.5),
        ("alkaline_phosphatase", 1.0, "ukat/L", 60.0),
        ("alkaline_phosphatase", 100, "[IU]/L", 100.0),
        ("pth", 40, "ng/L", 40.0),
        ("hemoglobin", 135, "g/L", 13.5),
        ("wbc", 7.2, "10*9/L", 7.2),
        ("egfr", 75, "mL/min", 75.0),
        ("procalcitonin", 0.4, "ug/L", 0.4),
        ("flc_kappa", 1.5, "mg/dL", 15.0),
        ("monoclonal_protein", 12, "g/L", 1.2),
        ("body_temperature", 100.4, "[degF]", 38.0),
        ("body_temperature", 37.2, "Cel", 37.2),
        ("gestational_age_weeks", 210, "d", 30.0),
        ("dxa_t_score", -2.7, "1", -2.7),
        ("dxa_t_score", -2.7, None, -2.7),  # dimensionless: no unit is fine
        ("pack_years", 20, "{PackYears}", 20.0),
    ],
)
def test_conversions(concept, value, unit, expected):
    assert conv(concept, value, unit) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("unit", "canonical"),
    [
        ("mg/dl", "mg/dL"),
        ("ng/ml", "ng/mL"),
        ("uIU/mL", "u[IU]/mL"),
        ("mIU/L", "m[IU]/L"),
        ("°F", "[degF]"),
        ("x10^9/L", "10*9/L"),
    ],
)
def test_spelling_variants(unit, canonical):
    assert terminology.normalise_unit(unit) == canonical


def test_spelling_variants_convert():
    assert conv("crp", 1.0, "mg/dl") == pytest.approx(10.0)
    assert conv("vitamin_d_25oh", 30, "ng/ml") == pytest.approx(30.0)
    assert conv("tsh", 3, "uIU/mL") == pytest.approx(3.0)
    assert conv("wbc", 9, "K/uL") == pytest.approx(9.0)


def test_unconvertible_unit_is_an_error_not_a_guess():
    out = terminology.convert("crp", 5, "mmol/L")
    assert isinstance(out, UnitError)
    assert out.unit == "mmol/L"
    assert "mg/L" in out.reason
    assert "5" not in out.reason  # the value is never echoed


def test_missing_unit_is_an_error_for_dimensioned_labs():
    out = terminology.convert("crp", 5, None)
    assert isinstance(out, UnitError)
    assert "no unit" in out.reason
    assert isinstance(terminology.convert("crp", 5, "  "), UnitError)


def test_coded_and_unknown_concepts_have_no_numeric_unit():
    assert isinstance(terminology.convert("hla_b27", 1, "1"), UnitError)
    assert isinstance(terminology.convert("not_a_concept", 1, "mg/L"), UnitError)
    assert isinstance(terminology.convert("crp", float("nan"), "mg/L"), UnitError)


def test_canonical_units_match_concepts_module():
    for concept, (_, unit) in concepts.LAB_CONCEPTS.items():
        assert terminology.canonical_unit(concept) == unit
