"""Laboratory facts: window, thresholds, qualitative results."""

from __future__ import annotations

from .builders import bme, cond, lab, med, run


def test_highest_crp_and_esr_with_thresholds() -> None:
    facts = run(lab("crp", 4.6), lab("crp", 12.0, "2024-05-10"), lab("esr", 28.0)).facts
    assert facts["crp_mg_l"].value == 12.0
    assert facts["crp_mg_l"].evidence == ("Observation/crp-12.0-None-2024-05-10",)
    assert facts["crp_elevated"].value is True
    assert facts["crp_high"].value is False
    assert facts["esr_mm_h"].value == 28.0
    assert facts["esr_elevated"].value is False
    assert facts["inflammatory_markers_normal"].value is False


def test_inflammatory_markers_normal_needs_a_crp() -> None:
    assert run(lab("crp", 4.6)).facts["inflammatory_markers_normal"].value is True
    assert "inflammatory_markers_normal" not in run(lab("esr", 10.0)).facts
    assert run(lab("esr", 40.0)).facts["inflammatory_markers_normal"].value is False


def test_labs_window_runs_from_180_days_before_the_first_bme_to_today() -> None:
    items = (
        bme("2024-01-10", "talus", "right"),
        lab("crp", 80.0, "2023-01-01"),  # a year before the BME: outside
        lab("crp", 3.0, "2023-12-01"),  # work-up before the MRI: inside
        lab("crp", 90.0, "2024-07-01"),  # after the analysis date: ignored
    )
    facts = run(*items).facts
    assert facts["crp_mg_l"].value == 3.0
    assert facts["crp_elevated"].value is False


def test_window_without_bme_is_the_half_year_before_today() -> None:
    facts = run(lab("crp", 80.0, "2023-01-01"), lab("wbc", 12.5, "2024-03-01")).facts
    assert "crp_mg_l" not in facts
    assert facts["wbc_elevated"].value is True


def test_undated_lab_is_used() -> None:
    assert run(lab("procalcitonin", 0.8, None)).facts["procalcitonin_elevated"].value is True


def test_vitamin_d_lowest_value_or_condition() -> None:
    facts = run(lab("vitamin_d_25oh", 14.9), lab("vitamin_d_25oh", 31.0, "2024-05-20")).facts
    assert facts["vitamin_d_ng_ml"].value == 14.9
    assert facts["low_vitamin_d"].value is True
    normal = run(lab("vitamin_d_25oh", 31.0)).facts
    assert normal["low_vitamin_d"].value is False
    assert run(cond("vitamin_d_deficiency")).facts["low_vitamin_d"].value is True


def test_vitamin_d_reported_only_as_flagged_low_or_in_range_is_a_measured_result() -> None:
    low = run(lab("vitamin_d_25oh", None, low=True, ref="Observation/vd-l")).facts["low_vitamin_d"]
    assert (low.value, low.evidence) == (True, ("Observation/vd-l",))
    assert run(lab("vitamin_d_25oh", None, low=False)).facts["low_vitamin_d"].value is False
    assert "low_vitamin_d" not in run(lab("vitamin_d_25oh", None)).facts


def test_hypothyroidism_from_tsh_condition_or_levothyroxine() -> None:
    assert run(lab("tsh", 6.1)).facts["hypothyroidism"].value is True
    assert run(lab("tsh", 2.0)).facts["hypothyroidism"].value is False
    on_treatment = run(lab("tsh", 2.0), med("levothyroxine", "levothyroxine", "oral", "2020-01-01"))
    assert on_treatment.facts["hypothyroidism"].value is True
    assert run(cond("hypothyroidism")).facts["hypothyroidism"].value is True


def test_serology_from_coded_value_or_lab_flag_never_a_bare_number() -> None:
    assert run(lab("rheumatoid_factor", None, coded="negative")).facts["rf_positive"].value is False
    assert run(lab("rheumatoid_factor", 60.0, high=True)).facts["rf_positive"].value is True
    assert run(lab("anti_ccp", 5.0, high=False)).facts["anti_ccp_positive"].value is False
    assert "anti_ccp_positive" not in run(lab("anti_ccp", 55.0)).facts
    old_hla = lab("hla_b27", None, "2010-01-01", coded="positive")
    assert run(old_hla).facts["hla_b27_positive"].value is True  # genotype: no window


def test_chemistry_thresholds() -> None:
    facts = run(
        lab("uric_acid", 6.8),
        lab("triglycerides", 375.0),
        lab("calcium", 9.4),
        lab("alkaline_phosphatase", 56.0),
        lab("egfr", 45.0),
    ).facts
    assert facts["hyperuricaemia"].value is False  # above 6.8, not at it
    assert facts["hypertriglyceridaemia"].value is True
    assert facts["hypercalcaemia"].value is False
    assert facts["alp_elevated"].value is False
    assert facts["renal_disease"].value is True
    assert run(lab("calcium_corrected", 2.8)).facts["hypercalcaemia"].value is True  # 11.2 mg/dL


def test_anaemia_uses_the_who_threshold_for_the_sex() -> None:
    assert run(lab("hemoglobin", 12.5), sex="male").facts["anaemia"].value is True
    assert run(lab("hemoglobin", 12.5), sex="female").facts["anaemia"].value is False
    assert "anaemia" not in run(lab("hemoglobin", 12.5), sex=None).facts
    assert run(lab("hemoglobin", 11.0), sex=None).facts["anaemia"].value is True
    assert run(cond("anaemia")).facts["anaemia"].value is True


def test_monoclonal_protein_from_spike_immunofixation_or_flc_ratio() -> None:
    assert run(lab("monoclonal_protein", 0.0)).facts["monoclonal_protein"].value is False
    assert run(lab("monoclonal_protein", 1.2)).facts["monoclonal_protein"].value is True
    assert run(lab("immunofixation", None, coded="positive")).facts["monoclonal_protein"].value is True
    assert run(lab("flc_ratio", 2.1)).facts["monoclonal_protein"].value is True
    assert run(lab("flc_ratio", 1.1)).facts["monoclonal_protein"].value is False
    computed = run(lab("flc_kappa", 40.0), lab("flc_lambda", 10.0)).facts["monoclonal_protein"]
    assert computed.value is True
    assert "4.00" in computed.note


def test_no_labs_leaves_lab_facts_unknown() -> None:
    facts = run().facts
    for name in ("crp_mg_l", "crp_elevated", "inflammatory_markers_normal", "low_vitamin_d", "renal_disease"):
        assert name not in facts


def test_a_tsh_reported_only_as_in_or_above_range_is_a_measured_tsh() -> None:
    normal = run(lab("tsh", None, high=False)).facts["hypothyroidism"]
    assert normal.value is False
    assert "in range" in normal.note
    assert run(lab("tsh", None, high=True)).facts["hypothyroidism"].value is True
    assert "hypothyroidism" not in run(lab("tsh", None)).facts  # neither a value nor a flag: unknown
