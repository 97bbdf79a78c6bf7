"""The conformance resources in profiles/ (FSH compiled by SUSHI, plus generators): valid, current, true to the code."""

from __future__ import annotations

import difflib
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from fhir.resources.R4B import get_fhir_model_class

from bmefhir import __version__
from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import CONDITION_CONCEPTS, FINDING_CONCEPTS, MEDICATION_CONCEPTS, OBSERVATION_CONCEPTS
from bmefhir.conformance import load_conformance_resources, profiles_dir
from bmefhir.render.content_hash import CONTENT_HASH_SYSTEM
from bmefhir.render.findings import FINDING_IDENTIFIER_SYSTEM, TEXT_FINDING_TAG
from bmefhir.render.ids import ASSESSMENT_SYSTEM, DEVICE_SYSTEM
from bmefhir.testing.prerequisites import unavailable

REPO = Path(__file__).resolve().parent.parent
PROFILES = REPO / "profiles"
ALL_JSON = sorted(PROFILES.rglob("*.json"))
BASE = "http://bmefhir.org/fhir"


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_profiles", REPO / "scripts" / "build_profiles.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def _read(name: str) -> dict:
    return json.loads((PROFILES / name).read_text(encoding="utf-8"))


def test_profiles_folder_is_populated():
    assert len(ALL_JSON) > 20


@pytest.mark.parametrize("path", ALL_JSON, ids=lambda p: p.name)
def test_every_file_parses_with_fhir_resources(path: Path):
    # R4B models read these R4 (4.0.1) resources: the elements used exist unchanged in R4B.
    data = json.loads(path.read_text(encoding="utf-8"))
    model = get_fhir_model_class(data["resourceType"])
    parsed = model.model_validate(data)
    assert parsed.id == data["id"]
    assert path.name == f"{data['resourceType']}-{data['id']}.json"


@pytest.fixture(scope="module")
def sushi_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """profiles/ rebuilt from the FSH (SUSHI) and the generators into a temporary folder."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        unavailable("node/npm not found: SUSHI (npm fsh-sushi) builds profiles/")
    if shutil.which("java") is None:
        unavailable("java not found: the FHIR core package SUSHI reads is assembled by ig/validator")
    project = tmp_path_factory.mktemp("sushi-project")
    try:
        resources = builder.build_resources(project)
    except builder.SushiError as exc:
        pytest.fail(str(exc), pytrace=False)
    out = tmp_path_factory.mktemp("profiles")
    builder.write(out, resources)
    return out, resources


def _diff(name: str, committed: bytes, fresh: bytes) -> str:
    lines = difflib.unified_diff(
        committed.decode().splitlines(), fresh.decode().splitlines(), f"profiles/{name}", f"rebuilt/{name}", lineterm=""
    )
    return "\n".join(list(lines)[:40])


@pytest.mark.slow
def test_generated_files_are_up_to_date(sushi_build: tuple[Path, list[dict]]):
    out, _ = sushi_build
    fresh = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.json")}
    committed = {p.relative_to(PROFILES): p.read_bytes() for p in ALL_JSON}
    missing = sorted(str(n) for n in set(fresh) - set(committed))
    extra = sorted(str(n) for n in set(committed) - set(fresh))
    assert (missing, extra) == ([], []), f"run scripts/build_profiles.py: not in profiles/ {missing}, not built {extra}"
    stale = [_diff(str(name), committed[name], data) for name, data in sorted(fresh.items()) if committed[name] != data]
    assert stale == [], "profiles/ is stale (run scripts/build_profiles.py):\n" + "\n".join(stale)


@pytest.mark.slow
def test_write_is_idempotent(sushi_build: tuple[Path, list[dict]], tmp_path: Path):
    _, resources = sushi_build
    first = {p: p.read_bytes() for p in builder.write(tmp_path, resources)}
    mtimes = {p: p.stat().st_mtime_ns for p in first}
    second = builder.write(tmp_path, resources)
    assert {p: p.read_bytes() for p in second} == first
    assert {p: p.stat().st_mtime_ns for p in second} == mtimes


@pytest.mark.slow
def test_sushi_output_is_the_compiled_fsh(sushi_build: tuple[Path, list[dict]]):
    # Everything but the two JSON-generated resources comes out of SUSHI: the profiles, the terminology,
    # the NamingSystems and the examples (FSH written by hand or generated from the code).
    _, resources = sushi_build
    kinds = {(r["resourceType"], r["id"]) for r in resources}
    assert ("StructureDefinition", "bmefhir-imaging-finding") in kinds
    assert ("ConceptMap", "bme-differential-to-snomed") in kinds
    assert ("CodeSystem", "imaging-finding") in kinds
    assert sum(1 for t, _ in kinds if t == "Observation") == len(FINDING_CONCEPTS)


@pytest.mark.slow
def test_a_fsh_error_fails_the_build_naming_file_and_line(tmp_path: Path):
    if shutil.which("node") is None or shutil.which("java") is None:
        unavailable("node or java not found: SUSHI cannot run")
    project = tmp_path / "bad"
    (project / "input" / "fsh").mkdir(parents=True)
    shutil.copy(REPO / "ig" / "fsh" / "sushi-config.yaml", project)
    (project / "input" / "fsh" / "bad.fsh").write_text(
        'Profile: Broken\nParent: Observation\n* status = "final"\n', encoding="utf-8"
    )
    run = subprocess.run(
        [str(REPO / "scripts" / "sushi.sh"), str(project), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    assert "bad.fsh" in run.stderr
    assert "Line: 3" in run.stderr
    assert "SUSHI reported errors" in run.stderr


def test_sushi_config_version_is_the_package_version():
    config = (REPO / "ig" / "fsh" / "sushi-config.yaml").read_text(encoding="utf-8")
    assert f"\nversion: {__version__}\n" in config


def test_sushi_is_pinned_in_the_lock_file():
    lock = json.loads((REPO / "ig" / "sushi" / "package-lock.json").read_text(encoding="utf-8"))
    manifest = json.loads((REPO / "ig" / "sushi" / "package.json").read_text(encoding="utf-8"))
    assert manifest["dependencies"]["fsh-sushi"] == lock["packages"]["node_modules/fsh-sushi"]["version"] == "3.21.0"


def test_every_identifier_and_tag_system_the_outputs_use_is_defined():
    # The FSH states the URLs bmefhir.render writes; they must stay the same.
    naming = {
        u["value"] for r in load_conformance_resources() if r["resourceType"] == "NamingSystem" for u in r["uniqueId"]
    }
    assert naming == {ASSESSMENT_SYSTEM, DEVICE_SYSTEM, FINDING_IDENTIFIER_SYSTEM}
    assert _read("CodeSystem-content-hash.json")["url"] == CONTENT_HASH_SYSTEM
    kinds = _read("CodeSystem-output-kind.json")
    assert kinds["url"] == TEXT_FINDING_TAG["system"]
    assert kinds["concept"] == [{"code": TEXT_FINDING_TAG["code"], "display": TEXT_FINDING_TAG["display"]}]


@pytest.mark.parametrize(
    ("value", "literal"),
    [("plain", '"plain"'), ('say "x"', '"say \\"x\\""'), ("a\\b", '"a\\\\b"')],
)
def test_fsh_string_escapes_quotes_and_backslashes(value: str, literal: str):
    assert builder.fsh.string(value) == literal


def test_fsh_code_is_quoted_only_when_needed():
    assert builder.fsh.code("femoral_head") == "#femoral_head"
    assert builder.fsh.code("a b") == '#"a b"'


def test_fsh_instance_writes_codes_as_codes():
    cm = {
        "resourceType": "ConceptMap",
        "id": "x",
        "status": "active",
        "experimental": False,
        "group": [{"target": "u"}],
    }
    text = builder.fsh.instance(cm, "definition")
    assert text.splitlines() == [
        "Instance: x",
        "InstanceOf: ConceptMap",
        "Usage: #definition",
        "* status = #active",
        "* experimental = false",
        '* group[0].target = "u"',
    ]


@pytest.mark.parametrize(
    ("cs_id", "keys"),
    [
        ("imaging-finding", set(FINDING_CONCEPTS)),
        ("clinical-observation", set(OBSERVATION_CONCEPTS)),
        ("medication-class", set(MEDICATION_CONCEPTS)),
        ("condition", set(CONDITION_CONCEPTS)),
        ("body-structure", set(STRUCTURES)),
        ("bme-differential", set(builder.FALLBACK_CANDIDATES)),
    ],
)
def test_code_system_has_exactly_the_source_keys(cs_id: str, keys: set[str]):
    cs = _read(f"CodeSystem-{cs_id}.json")
    codes = [c["code"] for c in cs["concept"]]
    assert len(codes) == len(set(codes))
    assert set(codes) == keys
    assert cs["count"] == len(keys)
    assert cs["url"] == f"{BASE}/CodeSystem/{cs_id}"


def test_differential_code_system_matches_input_conventions():
    doc = (REPO / "docs" / "input-conventions.md").read_text(encoding="utf-8")
    for code in builder.FALLBACK_CANDIDATES:
        assert f"`{code}`" in doc


def _verified_rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    text = (REPO / "docs" / "terminology-verification.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] == "http://snomed.info/sct":
            rows[cells[1]] = cells[3]
    return rows


def test_concept_map_targets_are_all_verified():
    rows = _verified_rows()
    cm = _read("ConceptMap-bme-differential-to-snomed.json")
    (group,) = cm["group"]
    assert group["target"] == "http://snomed.info/sct"
    targets = [t for e in group["element"] for t in e["target"] if "code" in t]
    assert targets
    for t in targets:
        assert rows.get(t["code"], "").startswith("yes"), t["code"]


def test_concept_map_covers_every_candidate_and_explains_caveats():
    cm = _read("ConceptMap-bme-differential-to-snomed.json")
    elements = cm["group"][0]["element"]
    assert [e["code"] for e in elements] == list(builder.FALLBACK_CANDIDATES)
    for e in elements:
        for t in e["target"]:
            # cmd-1: narrower and inexact need a comment; unmatched carries no code.
            if t["equivalence"] in ("narrower", "inexact", "unmatched"):
                assert t.get("comment")
            if t["equivalence"] == "unmatched":
                assert "code" not in t


def test_unverified_candidate_codes_are_not_emitted():
    cm_text = (PROFILES / "ConceptMap-bme-differential-to-snomed.json").read_text(encoding="utf-8")
    for refuted in ("128200000", "94222008", "239873007"):
        assert f'"{refuted}"' not in cm_text


def test_verified_snomed_reader_ignores_no_rows(tmp_path: Path):
    doc = tmp_path / "v.md"
    doc.write_text(
        "| system | code | display | verified | source |\n|---|---|---|---|---|\n"
        "| http://snomed.info/sct | 1 | A | yes | x |\n| http://snomed.info/sct | 2 | B | no | - |\n"
        "| http://snomed.info/sct | 3 | C | yes (IG source) | y |\n",
        encoding="utf-8",
    )
    assert builder.verified_snomed(doc) == frozenset({"1", "3"})


EXAMPLES = sorted((PROFILES / "examples").glob("Observation-*.json"))


def test_one_example_per_imaging_finding():
    assert len(EXAMPLES) == len(FINDING_CONCEPTS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_declares_profile_and_uses_a_finding_code(path: Path):
    obs = json.loads(path.read_text(encoding="utf-8"))
    assert obs["meta"]["profile"] == [f"{BASE}/StructureDefinition/bmefhir-imaging-finding"]
    (code,) = obs["code"]["coding"]
    assert code["system"] == f"{BASE}/CodeSystem/imaging-finding"
    assert code["code"] in FINDING_CONCEPTS
    assert code["display"] == FINDING_CONCEPTS[code["code"]]
    assert {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "imaging",
                "display": "Imaging",
            }
        ]
    } in obs["category"]
    assert obs["extension"][0]["url"] == f"{BASE}/StructureDefinition/laterality"


def test_structure_definitions_are_r4_constraints_with_ids_on_every_element():
    for r in load_conformance_resources():
        if r["resourceType"] != "StructureDefinition":
            continue
        assert r["fhirVersion"] == "4.0.1"
        assert r["derivation"] == "constraint"
        assert r["url"] == f"{BASE}/StructureDefinition/{r['id']}"
        for e in r["differential"]["element"]:
            assert e["id"].split(":")[0].startswith(e["path"].split(".")[0])
            assert "snapshot" not in r


def test_profile_ids_match_output_resources_doc():
    doc = (REPO / "docs" / "output-resources.md").read_text(encoding="utf-8")
    for rid in (
        "bmefhir-diagnostic-report",
        "bmefhir-clinical-impression",
        "bmefhir-risk-assessment",
        "bmefhir-provenance",
    ):
        assert rid in doc
        assert (PROFILES / f"StructureDefinition-{rid}.json").exists()


def test_load_order_is_terminology_then_profiles():
    order = [r["resourceType"] for r in load_conformance_resources()]
    ranks = [
        (
            "CodeSystem",
            "ValueSet",
            "ConceptMap",
            "NamingSystem",
            "StructureDefinition",
            "PlanDefinition",
            "CapabilityStatement",
        ).index(t)
        for t in order
    ]
    assert ranks == sorted(ranks)
    sds = [r for r in load_conformance_resources() if r["resourceType"] == "StructureDefinition"]
    assert sds[0]["id"] == "laterality"  # the extension before the profile that uses it


def test_profiles_dir_is_the_checkout_folder():
    assert profiles_dir() == PROFILES


def test_loader_names_a_bad_file(tmp_path: Path):
    (tmp_path / "CodeSystem-x.json").write_text('{"id": "x"}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"CodeSystem-x\.json"):
        load_conformance_resources(tmp_path)


def test_candidates_yaml_missing_a_candidate_is_a_clear_error(tmp_path: Path):
    kb = tmp_path / "candidates.yaml"
    kb.write_text("candidates:\n  - code: osteonecrosis\n    display: Osteonecrosis\n", encoding="utf-8")
    with pytest.raises(ValueError, match="candidates missing"):
        builder.load_candidates(kb)
