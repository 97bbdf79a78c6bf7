"""The code tables load, validate, and map the codes terminology.md lists."""

from __future__ import annotations

from typing import Any

import pytest

from bmefhir import anatomy, concepts, terminology
from bmefhir.terminology.load import load_tables, read_packaged

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
BMEFHIR = "http://bmefhir.org/fhir/CodeSystem/"


def test_public_surface_is_pinned():
    assert set(terminology.__all__) >= {"concept_for", "concept_for_text", "convert", "laterality", "is_verified"}


@pytest.mark.parametrize(
    ("system", "keys", "group"),
    [
        (BMEFHIR + "imaging-finding", concepts.FINDING_CONCEPTS, "finding"),
        (BMEFHIR + "clinical-observation", concepts.OBSERVATION_CONCEPTS, "observation"),
        (BMEFHIR + "body-structure", anatomy.STRUCTURES, "structure"),
        (BMEFHIR + "medication-class", concepts.MEDICATION_CONCEPTS, "medication"),
        (BMEFHIR + "condition", concepts.CONDITION_CONCEPTS, "condition"),
    ],
)
def test_every_bmefhir_codesystem_key_maps_to_itself(system, keys, group):
    for key in keys:
        m = terminology.concept_for(system, key)
        assert m is not None, key
        assert (m.concept, m.group, m.verified) == (key, group, True)


@pytest.mark.parametrize(
    ("system", "code", "group", "concept"),
    [
        (LOINC, "1988-5", "lab", "crp"),
        (LOINC, "62292-8", "lab", "vitamin_d_25oh"),
        (LOINC, "14927-8", "lab", "triglycerides"),
        (LOINC, "38267-1", "observation", "dxa_t_score"),
        (LOINC, "72166-2", "observation", "smoking_current"),
        (SCT, "401201003", "observation", "pack_years"),
        (SCT, "312894000", "finding", "periarticular_osteopenia"),
        (SCT, "312894000", "condition", "osteopenia"),
        (SCT, "444849002", "condition", "osteonecrosis"),
        (SCT, "24136001", "structure", "hip"),
        (RXNORM, "8640", "medication", "glucocorticoid"),
        (ICD10CM, "M87.859", "condition", "osteonecrosis"),
    ],
)
def test_exact_codes(system, code, group, concept):
    m = terminology.concept_for(system, code, group)
    assert m is not None
    assert (m.group, m.concept, m.match) == (group, concept, "exact")


@pytest.mark.parametrize(
    ("code", "concept"),
    [
        ("M87.051", "osteonecrosis"),
        ("M87051", "osteonecrosis"),  # dots are optional
        ("m86.9", "osteomyelitis"),
        ("C79.51", "bone_metastasis"),
        ("C50.911", "malignancy"),
        ("C90.00", "multiple_myeloma"),
        ("D57.1", "sickle_cell_disease"),
        ("D64.9", "anaemia"),
        ("I50.9", "heart_failure"),
        ("N18.3", "renal_disease"),
        ("M06.9", "rheumatoid_arthritis"),
        ("M05.79", "rheumatoid_arthritis"),
        ("M45.9", "spondyloarthritis"),
        ("M46.1", "spondyloarthritis"),
        ("M10.9", "gout"),
        ("M16.11", "osteoarthritis"),
        ("M17.0", "osteoarthritis"),
        ("E03.9", "hypothyroidism"),
        ("E55.9", "vitamin_d_deficiency"),
        ("F10.10", "alcohol_abuse"),
        ("O26.89", "pregnancy"),
        ("Z3A.32", "pregnancy"),
        ("S72.001A", "fracture"),
        ("S80.01XA", "trauma"),
    ],
)
def test_icd10cm_prefix_families(code, concept):
    m = terminology.concept_for(ICD10CM, code, "condition")
    assert m is not None, code
    assert m.concept == concept
    assert not terminology.is_verified(ICD10CM, code) or code == "M87.859"


def test_icd10_prefix_does_not_match_unrelated_family():
    assert terminology.concept_for(ICD10CM, "M86") is not None
    assert terminology.concept_for(ICD10CM, "M88.0") is None  # Paget disease: not mapped
    assert terminology.concept_for(ICD10CM, "E11.9", "condition").concept == "diabetes"  # type: ignore[union-attr]
    assert terminology.concept_for(ICD10CM, "J45.909") is None


@pytest.mark.parametrize(
    ("code", "concept", "drug"),
    [
        ("H02AB07", "glucocorticoid", "prednisone"),
        ("H02AB13", "glucocorticoid", None),  # deflazacort: class via H02AB
        ("M05BA04", "bisphosphonate", "alendronic acid"),
        ("M05BA99", "bisphosphonate", None),
        ("L01XA01", "chemotherapy", None),
        ("M01AE01", "nsaid", None),
        ("A11CC05", "vitamin_d", "colecalciferol"),
        ("H03AA01", "levothyroxine", "levothyroxine"),
    ],
)
def test_atc_codes_and_prefixes(code, concept, drug):
    m = terminology.concept_for(ATC, code, "medication")
    assert m is not None
    assert (m.concept, m.drug) == (concept, drug)


def test_atc_h02_is_not_all_glucocorticoid():
    # H02AA are mineralocorticoids: only the H02AB group maps to glucocorticoid.
    assert terminology.concept_for(ATC, "H02AA02", "medication") is None


def test_system_aliases_and_unknowns():
    assert terminology.concept_for("urn:oid:2.16.840.1.113883.6.90", "M87.0", "condition") is not None
    assert terminology.concept_for(LOINC, "0000-0") is None
    assert terminology.concept_for(None, "1988-5") is None
    assert terminology.concept_for("http://example.org/local", "1988-5") is None


def test_verified_flags_follow_terminology_md():
    assert terminology.is_verified(LOINC, "1988-5")
    assert terminology.is_verified(SCT, "7771000")  # laterality left
    assert terminology.is_verified("http://dicom.nema.org/resources/ontology/DCM", "MR")
    assert terminology.is_verified(SCT, "449868002")  # smoking answer
    assert not terminology.is_verified(SCT, "69896004")  # RA candidate
    assert not terminology.is_verified(ATC, "H02AB07")  # prednisone ATC candidate
    assert not terminology.is_verified(ATC, "H02AB99")  # matched by verified prefix, but not itself listed
    assert not terminology.is_verified("http://dicom.nema.org/resources/ontology/DCM", "US")


@pytest.mark.parametrize(
    ("text", "group", "concept"),
    [
        ("Bone marrow edema, medial femoral condyle", "finding", "bone_marrow_edema"),
        ("bone marrow oedema", "finding", "bone_marrow_edema"),
        ("STIR hyperintensity", "finding", "stir_high_signal"),
        ("Double-line sign", "finding", "double_line_sign"),
        ("double line sign on T2", "finding", "double_line_sign"),
        ("Transient osteoporosis of the hip", "condition", "transient_osteoporosis"),
        ("Prednisone 5 MG Oral Tablet", "medication", "glucocorticoid"),
        ("Methylprednisolone 4 mg", "medication", "glucocorticoid"),
        ("Left femoral head", "structure", "femoral_head"),
    ],
)
def test_text_fallback(text, group, concept):
    m = terminology.concept_for_text(text, group)
    assert m is not None
    assert (m.concept, m.match, m.verified) == (concept, "text", False)


def test_text_fallback_is_word_bounded():
    m = terminology.concept_for_text("methylprednisolone", "medication")
    assert m is not None
    assert m.drug == "methylprednisolone"
    h = terminology.concept_for_text("hydrocortisone cream", "medication")
    assert h is not None
    assert h.drug == "hydrocortisone"
    assert terminology.concept_for_text("subtle stirring artefact", "finding") is None
    assert terminology.concept_for_text("", "finding") is None


def test_laterality_codes_and_text():
    assert terminology.laterality(SCT, "7771000") == "left"
    assert terminology.laterality(SCT, "24028007") == "right"
    assert terminology.laterality(SCT, "51440002") == "bilateral"
    assert terminology.laterality(SCT, "419161000") == "left"
    assert terminology.laterality(SCT, "12345") is None
    assert terminology.laterality_for_text("Right knee") == "right"
    assert terminology.laterality_for_text("both hips, left worse") == "bilateral"
    assert terminology.laterality_for_text("knee") is None


def test_routes_and_prednisone_factors():
    assert terminology.route(SCT, "26643006") == "oral"
    assert terminology.route(None, None, "Intra-articular injection") == "intra-articular"
    assert terminology.route(None, None, "IV pulse") == "intravenous"
    assert terminology.prednisone_equivalent("dexamethasone") == pytest.approx(5 / 0.75, rel=1e-3)
    assert terminology.prednisone_equivalent("hydrocortisone") == pytest.approx(5 / 20)
    assert terminology.prednisone_equivalent("alendronate") is None


# --- load-time validation --------------------------------------------------------------------


def _reader_with(file: str, patch: dict[str, Any]):
    def read(name: str) -> dict[str, Any]:
        data = read_packaged(name)
        return {**data, **patch} if name == file else data

    return read


def test_packaged_tables_validate():
    t = load_tables(read_packaged)
    assert t.exact
    assert t.prefixes
    assert t.units


def test_unknown_concept_is_a_load_error_naming_file_and_row():
    bad = {"codes": [{"system": "loinc", "code": "1-1", "concept": "not_a_concept", "verified": True}]}
    with pytest.raises(
        terminology.TerminologyError, match=r"labs\.yaml: codes\[0\]: unknown lab concept 'not_a_concept'"
    ):
        load_tables(_reader_with("labs.yaml", bad))


def test_unknown_structure_and_system_are_load_errors():
    bad_site = {"codes": [{"system": "sct", "code": "1", "concept": "knee", "verified": False}]}
    with pytest.raises(terminology.TerminologyError, match="unknown condition concept 'knee'"):
        # "knee" is a structure, not a condition
        load_tables(_reader_with("conditions.yaml", bad_site | {"prefixes": []}))
    bad_system = {"codes": [{"system": "nope", "code": "1", "concept": "crp", "verified": True}]}
    with pytest.raises(terminology.TerminologyError, match="unknown system 'nope'"):
        load_tables(_reader_with("labs.yaml", bad_system))


def test_missing_verified_flag_is_a_load_error():
    bad = {"codes": [{"system": "loinc", "code": "1-1", "concept": "crp"}]}
    with pytest.raises(terminology.TerminologyError, match="'verified' must be true or false"):
        load_tables(_reader_with("labs.yaml", bad))
