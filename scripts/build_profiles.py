"""Generate bmefhir's FHIR R4 conformance resources into ``profiles/``.

The CodeSystems are built from the code's own vocabulary (``bmefhir.concepts``,
``bmefhir.anatomy`` and the differential candidates), so the published
artefacts cannot drift from what the adapter understands;
``tests/test_profiles.py`` regenerates them and compares byte for byte.

Usage::

    .venv/bin/python scripts/build_profiles.py            # writes profiles/
    .venv/bin/python scripts/build_profiles.py --out DIR  # writes elsewhere

Output files are ``{ResourceType}-{id}.json`` (examples under ``examples/``),
pretty-printed with sorted keys and a trailing newline. Nothing here reads a
clock: re-running is a no-op.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any, Final

import yaml

from bmefhir import __version__
from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import (
    CONDITION_CONCEPTS,
    FINDING_CONCEPTS,
    MEDICATION_CONCEPTS,
    OBSERVATION_CONCEPTS,
)

Json = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
BASE: Final = "http://bmefhir.org/fhir"
FHIR_CORE: Final = "http://hl7.org/fhir/StructureDefinition/"
SCT: Final = "http://snomed.info/sct"
LOINC: Final = "http://loinc.org"
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
PROV_TYPE: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ASSESSMENT_ID_SYSTEM: Final = f"{BASE}/sid/assessment"
PLAN_DEFINITION: Final = f"{BASE}/PlanDefinition/bme-differential"
PUBLISHER: Final = "bmefhir"
# CapabilityStatement.date is mandatory; a fixed publication date keeps the
# output reproducible. Bump it by hand when the statement changes.
CAPABILITY_DATE: Final = "2025-01-01"
CANDIDATES_YAML: Final = REPO / "bmefhir" / "differential" / "knowledge" / "candidates.yaml"
VERIFICATION_DOC: Final = REPO / "docs" / "terminology-verification.md"

# Used when the knowledge base's candidates.yaml is not there yet. The codes are
# fixed by docs/input-conventions.md; displays from the yaml win when present.
FALLBACK_CANDIDATES: Final[dict[str, str]] = {
    "transient_osteoporosis": "Transient osteoporosis",
    "regional_migratory_osteoporosis": "Regional migratory osteoporosis",
    "osteonecrosis": "Osteonecrosis",
    "subchondral_insufficiency_fracture": "Subchondral insufficiency fracture",
    "bone_marrow_reconversion": "Red bone marrow reconversion",
    "inflammatory_arthritis": "Inflammatory arthritis",
    "infection": "Infection (osteomyelitis or septic arthritis)",
    "neoplasm": "Neoplasm of bone or marrow",
    "crps": "Complex regional pain syndrome",
    "bone_contusion": "Bone contusion",
    "degenerative_bml": "Degenerative bone marrow lesion (osteoarthritis)",
}

# SNOMED CT targets of the differential ConceptMap. Every code here must be
# marked verified in docs/terminology-verification.md (a test checks it).
# Equivalence is read "target is <equivalence> than/to the source": a
# ``narrower`` target is only true of a patient when the subtype or site is
# confirmed, so the renderer emits it only then (see the comments).
SnomedTarget = tuple[str, str, str, str]  # code, display, equivalence, comment
SNOMED_MAP: Final[dict[str, tuple[SnomedTarget, ...]]] = {
    "osteonecrosis": (
        (
            "397758007",
            "Avascular necrosis of bone",
            "equivalent",
            "Osteonecrosis and avascular necrosis of bone name the same disorder.",
        ),
        (
            "444849002",
            "Avascular necrosis of bone of hip",
            "narrower",
            "Only when the lesion site is the hip (femoral head).",
        ),
    ),
    "subchondral_insufficiency_fracture": (
        (
            "702561005",
            "Insufficiency fracture",
            "wider",
            "No SNOMED CT concept for the subchondral subtype was found; the parent is always true.",
        ),
    ),
    "inflammatory_arthritis": (
        (
            "69896004",
            "Rheumatoid arthritis",
            "narrower",
            "Only when rheumatoid arthritis is the confirmed type of inflammatory arthritis.",
        ),
        ("90560007", "Gout", "narrower", "Only when gout is the confirmed type of inflammatory arthritis."),
        (
            "784332006",
            "Spondyloarthritis",
            "narrower",
            "Only when spondyloarthritis is the confirmed type of inflammatory arthritis.",
        ),
        (
            "9631008",
            "Ankylosing spondylitis",
            "narrower",
            "Only when ankylosing spondylitis is the confirmed type of inflammatory arthritis.",
        ),
    ),
    "infection": (
        (
            "60168000",
            "Osteomyelitis",
            "narrower",
            "Only when the infection involves bone; septic arthritis has no verified site-independent code.",
        ),
    ),
    "neoplasm": (
        (
            "126537000",
            "Neoplasm of bone",
            "inexact",
            "Overlaps: marrow infiltration by haematological neoplasms may not be classified as neoplasm of bone.",
        ),
        (
            "428281000",
            "Malignant neoplasm of bone",
            "narrower",
            "Only when the neoplasm is confirmed malignant (benign lesions such as osteoid osteoma also cause BME).",
        ),
        ("109989006", "Multiple myeloma", "narrower", "Only when multiple myeloma is confirmed."),
    ),
    "crps": (
        (
            "734947007",
            "Complex regional pain syndrome type I",
            "narrower",
            "Type I (no nerve lesion), the type associated with bone marrow edema.",
        ),
    ),
    "degenerative_bml": (
        ("239872002", "Osteoarthritis of hip", "narrower", "Only when the site is the hip."),
        ("239874001", "Osteoarthritis of ankle", "narrower", "Only when the site is the ankle."),
    ),
}
# Comments for targets the knowledge base adds (this script supplies the caveat).
KB_TARGET_COMMENTS: Final[dict[str, str]] = {
    "64859006": "Transient and regional migratory osteoporosis are localized and self-limiting; never emit "
    "'Osteoporosis' without the bme-differential code, or it reads as systemic osteoporosis.",
    "443165006": "Subchondral insufficiency fracture occurs in osteoporotic bone but is not always "
    "documented as osteoporotic.",
    "125605004": "Parent concept; always true of a subchondral insufficiency fracture.",
}
UNMAPPED_REASON: Final[dict[str, str]] = {
    "transient_osteoporosis": "No SNOMED CT concept for transient osteoporosis was verified; the parent "
    "'Osteoporosis' would misstate the patient's bone density.",
    "regional_migratory_osteoporosis": "No SNOMED CT concept was verified; 'Osteoporosis' would be misleading.",
    "bone_marrow_reconversion": "No SNOMED CT concept for red marrow reconversion exists or was verified.",
    "bone_contusion": "No site-independent SNOMED CT concept for bone contusion was verified.",
}

PRESENT_ABSENT: Final = (("52101004", "Present"), ("2667000", "Absent"))
LATERALITY: Final = (("7771000", "Left"), ("24028007", "Right"), ("51440002", "Right and left"))

# Our own laterality extension: the HL7 'observation-structureLaterality' is an
# Extensions-Pack (R5-era) extension, absent from the R4 core definitions that
# HAPI's R4 validator ships, and its context is Observation.bodySite only.
LATERALITY_EXT: Final = f"{BASE}/StructureDefinition/laterality"


# ---------------------------------------------------------------------------
# small helpers


def url(kind: str, rid: str) -> str:
    return f"{BASE}/{kind}/{rid}"


def pascal(rid: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", rid))


def fhir_id(key: str) -> str:
    """A concept key as a FHIR id ([A-Za-z0-9-.]{1,64}: underscores are not allowed)."""
    return key.replace("_", "-")


def coding(system: str, code: str, display: str | None = None) -> Json:
    c: Json = {"system": system, "code": code}
    if display is not None:
        c["display"] = display
    return c


def concept(system: str, code: str, display: str | None = None) -> Json:
    return {"coding": [coding(system, code, display)]}


def narrative(text: str) -> Json:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{escape(text)}</div>'}


def metadata(resource_type: str, rid: str, title: str, description: str) -> Json:
    return {
        "resourceType": resource_type,
        "id": rid,
        "text": narrative(f"{title}. {description}"),
        "url": url(resource_type, rid),
        "version": __version__,
        "name": pascal(rid),
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": description,
    }


# ---------------------------------------------------------------------------
# terminology


def verified_snomed(path: Path = VERIFICATION_DOC) -> frozenset[str]:
    """SNOMED CT codes marked verified (``yes``...) in docs/terminology-verification.md."""
    codes: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] == SCT and cells[3].startswith("yes"):
            codes.add(cells[1])
    return frozenset(codes)


def load_candidates(path: Path = CANDIDATES_YAML) -> dict[str, tuple[str, tuple[SnomedTarget, ...]]]:
    """Candidate code → (display, SNOMED CT codings) from the knowledge base when it exists.

    The knowledge base's SNOMED codings are merged into the ConceptMap; this
    script's own comments win for a code both name.
    """
    if not path.exists():
        return {code: (display, ()) for code, display in FALLBACK_CANDIDATES.items()}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = data.get("candidates", data) if isinstance(data, Mapping) else data
    found: dict[str, tuple[str, tuple[SnomedTarget, ...]]] = {}
    for item in items or []:
        code = item.get("code")
        if code not in FALLBACK_CANDIDATES:
            continue
        snomed = tuple(
            (
                str(c["code"]),
                str(c.get("display", "")),
                str(c.get("equivalence", "relatedto")),
                KB_TARGET_COMMENTS.get(str(c["code"]), "From the knowledge base (candidates.yaml)."),
            )
            for c in item.get("codings") or []
            if c.get("system") == SCT
        )
        found[code] = (str(item.get("display") or FALLBACK_CANDIDATES[code]), snomed)
    missing = set(FALLBACK_CANDIDATES) - set(found)
    if missing:
        raise ValueError(f"{path}: differential candidates missing: {sorted(missing)}")
    return {code: found[code] for code in FALLBACK_CANDIDATES}


def snomed_targets(code: str, from_kb: tuple[SnomedTarget, ...], verified: frozenset[str]) -> list[SnomedTarget]:
    """This script's targets plus the knowledge base's, verified codes only, no duplicates."""
    ours = SNOMED_MAP.get(code, ())
    seen = {t[0] for t in ours}
    merged = [*ours, *(t for t in from_kb if t[0] not in seen)]
    return [t for t in merged if t[0] in verified]


def code_systems(candidates: Mapping[str, str]) -> list[tuple[str, str, str, Mapping[str, str]]]:
    """(id, title, description, concepts) for every bmefhir CodeSystem."""
    return [
        (
            "imaging-finding",
            "bmefhir imaging findings",
            "Imaging findings bmefhir reasons about (keys of bmefhir.concepts.FINDING_CONCEPTS). "
            "SNOMED CT is used instead where a verified concept exists.",
            FINDING_CONCEPTS,
        ),
        (
            "clinical-observation",
            "bmefhir clinical observations",
            "Symptoms, examination findings and history items (keys of bmefhir.concepts.OBSERVATION_CONCEPTS); "
            "LOINC or SNOMED CT is used instead where a verified code exists.",
            OBSERVATION_CONCEPTS,
        ),
        (
            "medication-class",
            "bmefhir medication classes",
            "Medication classes (keys of bmefhir.concepts.MEDICATION_CONCEPTS); a fallback when neither "
            "RxNorm nor ATC is given.",
            MEDICATION_CONCEPTS,
        ),
        (
            "condition",
            "bmefhir conditions",
            "Conditions and problems (keys of bmefhir.concepts.CONDITION_CONCEPTS); a fallback when neither "
            "SNOMED CT nor ICD-10-CM is given.",
            CONDITION_CONCEPTS,
        ),
        (
            "body-structure",
            "bmefhir body structures",
            "Anatomical structures (keys of bmefhir.anatomy.STRUCTURES), used where SNOMED CT has no "
            "verified concept; SNOMED CT body structures are accepted too.",
            {key: s.display for key, s in STRUCTURES.items()},
        ),
        (
            "bme-differential",
            "Bone marrow edema differential diagnosis candidates",
            "The candidate diagnoses bmefhir ranks for a painful bone marrow edema pattern.",
            candidates,
        ),
    ]


def code_system(rid: str, title: str, description: str, concepts: Mapping[str, str]) -> Json:
    cs = metadata("CodeSystem", rid, title, description)
    cs |= {
        "caseSensitive": True,
        "valueSet": url("ValueSet", rid),
        "content": "complete",
        "count": len(concepts),
        "concept": [{"code": code, "display": display} for code, display in concepts.items()],
    }
    return cs


def value_set_all(rid: str, title: str) -> Json:
    vs = metadata("ValueSet", rid, f"{title} (all codes)", f"All codes of the CodeSystem {url('CodeSystem', rid)}.")
    vs["compose"] = {"include": [{"system": url("CodeSystem", rid)}]}
    return vs


def value_set_enumerated(rid: str, title: str, description: str, codes: Iterable[tuple[str, str]]) -> Json:
    vs = metadata("ValueSet", rid, title, description)
    vs["copyright"] = (
        "This value set includes content from SNOMED CT, which is copyright © 2002+ International Health "
        "Terminology Standards Development Organisation (IHTSDO)."
    )
    vs["compose"] = {"include": [{"system": SCT, "concept": [{"code": c, "display": d} for c, d in codes]}]}
    return vs


def concept_map(candidates: Mapping[str, tuple[str, tuple[SnomedTarget, ...]]], verified: frozenset[str]) -> Json:
    cm = metadata(
        "ConceptMap",
        "bme-differential-to-snomed",
        "bmefhir differential candidates to SNOMED CT",
        "Verified SNOMED CT concepts for the differential candidates. Equivalence is the target's relation "
        "to the candidate: 'narrower' and 'inexact' targets are true of a patient only under the condition "
        "in the comment; candidates without a verified concept are 'unmatched'.",
    )
    elements: list[Json] = []
    for code, (display, from_kb) in candidates.items():
        targets = snomed_targets(code, from_kb, verified)
        if targets:
            tgt = [{"code": c, "display": d, "equivalence": eq, "comment": note} for c, d, eq, note in targets]
        else:
            reason = UNMAPPED_REASON.get(code, "No verified SNOMED CT concept.")
            tgt = [{"equivalence": "unmatched", "comment": reason}]
        elements.append({"code": code, "display": display, "target": tgt})
    cm |= {
        "sourceCanonical": url("ValueSet", "bme-differential"),
        "group": [{"source": url("CodeSystem", "bme-differential"), "target": SCT, "element": elements}],
    }
    return cm


# ---------------------------------------------------------------------------
# StructureDefinitions


def el(path: str, *, slice_name: str | None = None, eid: str | None = None, **fields: Any) -> Json:
    """One differential element; ``eid`` defaults to the path (plus ``:slice``)."""
    e: Json = {"id": eid or (f"{path}:{slice_name}" if slice_name else path), "path": path}
    if slice_name:
        e["sliceName"] = slice_name
    e.update(fields)
    return e


def ref(*targets: str) -> list[Json]:
    return [{"code": "Reference", "targetProfile": [FHIR_CORE + t for t in targets]}]


def binding(strength: str, value_set: str, description: str | None = None) -> Json:
    b: Json = {"strength": strength, "valueSet": value_set}
    if description:
        b["description"] = description
    return b


def pattern_slicing(path: str = "$this") -> Json:
    return {"discriminator": [{"type": "pattern", "path": path}], "rules": "open"}


def profile(rid: str, base_type: str, title: str, description: str, elements: list[Json]) -> Json:
    sd = metadata("StructureDefinition", rid, title, description)
    sd |= {
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": base_type,
        "baseDefinition": FHIR_CORE + base_type,
        "derivation": "constraint",
        "differential": {"element": elements},
    }
    return sd


def identifier_slice(rtype: str) -> list[Json]:
    """Business identifier in http://bmefhir.org/fhir/sid/assessment (docs/output-resources.md)."""
    return [
        el(
            f"{rtype}.identifier",
            min=1,
            slicing={"discriminator": [{"type": "value", "path": "system"}], "rules": "open"},
        ),
        el(
            f"{rtype}.identifier",
            slice_name="assessment",
            min=1,
            max="1",
            short="bmefhir assessment identifier: {patient id}/{resource kind}",
        ),
        el(
            f"{rtype}.identifier.system",
            eid=f"{rtype}.identifier:assessment.system",
            min=1,
            fixedUri=ASSESSMENT_ID_SYSTEM,
        ),
        el(f"{rtype}.identifier.value", eid=f"{rtype}.identifier:assessment.value", min=1),
    ]


def laterality_extension() -> Json:
    sd = metadata(
        "StructureDefinition",
        "laterality",
        "Laterality",
        "Side of the body of the finding (SNOMED CT Left | Right | Right and left), for use where "
        "bodySite does not pre-coordinate laterality. bmefhir also reads HL7's "
        "observation-structureLaterality (Extensions Pack) on input.",
    )
    sd |= {
        "fhirVersion": "4.0.1",
        "kind": "complex-type",
        "abstract": False,
        "context": [
            {"type": "element", "expression": "Observation"},
            {"type": "element", "expression": "Observation.bodySite"},
        ],
        "type": "Extension",
        "baseDefinition": FHIR_CORE + "Extension",
        "derivation": "constraint",
        "differential": {
            "element": [
                el("Extension", short="Laterality of the body site", definition=sd["description"], max="1"),
                el("Extension.extension", max="0"),
                el("Extension.url", fixedUri=LATERALITY_EXT),
                el(
                    "Extension.value[x]",
                    min=1,
                    type=[{"code": "CodeableConcept"}],
                    binding=binding("required", url("ValueSet", "laterality")),
                ),
            ]
        },
    }
    return sd


def imaging_finding_profile() -> Json:
    rid = "bmefhir-imaging-finding"
    return profile(
        rid,
        "Observation",
        "bmefhir imaging finding",
        "An imaging finding (e.g. bone marrow edema of the left femoral head on MRI) as bmefhir "
        "reads it: see docs/input-conventions.md.",
        [
            el(
                "Observation",
                constraint=[
                    {
                        "key": "bmef-1",
                        "severity": "warning",
                        "human": "The finding should point at its ImagingStudy (partOf or derivedFrom), which gives "
                        "the modality.",
                        "expression": "partOf.exists() or derivedFrom.exists()",
                        "source": url("StructureDefinition", rid),
                    }
                ],
            ),
            el("Observation.extension", slicing={"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}),
            el(
                "Observation.extension",
                slice_name="laterality",
                min=0,
                max="1",
                type=[{"code": "Extension", "profile": [LATERALITY_EXT]}],
            ),
            el("Observation.partOf", type=ref("ImagingStudy")),
            el("Observation.category", min=1, slicing=pattern_slicing()),
            el(
                "Observation.category",
                slice_name="imaging",
                min=1,
                max="1",
                patternCodeableConcept=concept(OBS_CATEGORY, "imaging"),
            ),
            el(
                "Observation.code",
                binding=binding(
                    "extensible",
                    url("ValueSet", "imaging-finding"),
                    "bmefhir imaging-finding codes; SNOMED CT where a verified concept exists.",
                ),
            ),
            el("Observation.subject", min=1, type=ref("Patient")),
            el("Observation.effective[x]", min=1, type=[{"code": "dateTime"}], short="Study date"),
            el(
                "Observation.value[x]",
                type=[{"code": "CodeableConcept"}, {"code": "boolean"}],
                binding=binding(
                    "required",
                    url("ValueSet", "present-absent"),
                    "Present | Absent (absent = looked for and not seen).",
                ),
            ),
            el(
                "Observation.bodySite",
                min=1,
                binding=binding(
                    "preferred",
                    url("ValueSet", "body-structure"),
                    "bmefhir body-structure codes, or SNOMED CT body structures.",
                ),
            ),
            el("Observation.method", short="Sequence or technique (T1, T2 FS, STIR, contrast T1) as text"),
        ],
    )


def diagnostic_report_profile() -> Json:
    return profile(
        "bmefhir-diagnostic-report",
        "DiagnosticReport",
        "bmefhir diagnostic report",
        "The BME differential written back as a radiology DiagnosticReport (decision support).",
        [
            el("DiagnosticReport.text", min=1),
            *identifier_slice("DiagnosticReport"),
            el("DiagnosticReport.category", min=1, slicing=pattern_slicing()),
            el(
                "DiagnosticReport.category",
                slice_name="radiology",
                min=1,
                max="1",
                patternCodeableConcept=concept(LOINC, "LP29684-5"),
            ),
            el("DiagnosticReport.code", patternCodeableConcept=concept(LOINC, "18748-4")),
            el("DiagnosticReport.subject", min=1, type=ref("Patient")),
            el("DiagnosticReport.effective[x]", min=1, type=[{"code": "dateTime"}, {"code": "Period"}]),
            el("DiagnosticReport.issued", min=1),
            el("DiagnosticReport.result", type=ref("Observation")),
            el("DiagnosticReport.conclusion", min=1),
            el(
                "DiagnosticReport.conclusionCode",
                binding=binding(
                    "extensible",
                    url("ValueSet", "bme-differential"),
                    "Leading candidate(s); a verified SNOMED CT coding may accompany the bmefhir code.",
                ),
            ),
            el("DiagnosticReport.presentedForm", min=1),
        ],
    )


def clinical_impression_profile() -> Json:
    rid = "bmefhir-clinical-impression"
    return profile(
        rid,
        "ClinicalImpression",
        "bmefhir clinical impression",
        "The reasoning behind the BME differential: evidence groups, findings per leading "
        "candidate with the criteria and citations, red flags and next steps.",
        [
            el(
                "ClinicalImpression",
                constraint=[
                    {
                        "key": "bmef-2",
                        "severity": "error",
                        "human": "protocol names the bmefhir differential knowledge base (with its version).",
                        "expression": f"protocol.where($this.startsWith('{PLAN_DEFINITION}')).exists()",
                        "source": url("StructureDefinition", rid),
                    }
                ],
            ),
            *identifier_slice("ClinicalImpression"),
            el("ClinicalImpression.description", min=1),
            el("ClinicalImpression.subject", type=ref("Patient")),
            el("ClinicalImpression.effective[x]", min=1, type=[{"code": "dateTime"}]),
            el("ClinicalImpression.date", min=1),
            el("ClinicalImpression.protocol", min=1, short=f"{PLAN_DEFINITION}|{{knowledge base version}}"),
            el("ClinicalImpression.summary", min=1),
            el(
                "ClinicalImpression.finding.itemCodeableConcept",
                binding=binding("extensible", url("ValueSet", "bme-differential")),
            ),
            el("ClinicalImpression.prognosisReference", type=ref("RiskAssessment")),
        ],
    )


def risk_assessment_profile() -> Json:
    return profile(
        "bmefhir-risk-assessment",
        "RiskAssessment",
        "bmefhir risk assessment",
        "Ranked probabilities of the BME differential candidates.",
        [
            *identifier_slice("RiskAssessment"),
            el("RiskAssessment.method", min=1, short="Knowledge base and version, as text"),
            el("RiskAssessment.subject", type=ref("Patient")),
            el("RiskAssessment.occurrence[x]", min=1, type=[{"code": "dateTime"}]),
            el("RiskAssessment.prediction", min=1),
            el(
                "RiskAssessment.prediction.outcome",
                min=1,
                binding=binding("extensible", url("ValueSet", "bme-differential")),
            ),
            el("RiskAssessment.prediction.probability[x]", min=1, type=[{"code": "decimal"}]),
            el(
                "RiskAssessment.prediction.qualitativeRisk",
                min=1,
                binding=binding("required", "http://hl7.org/fhir/ValueSet/risk-probability"),
            ),
        ],
    )


def provenance_profile() -> Json:
    return profile(
        "bmefhir-provenance",
        "Provenance",
        "bmefhir provenance",
        "Audit trail of a bmefhir assessment: the software (Device) as author, the signing "
        "clinician as verifier, every input resource as a source entity.",
        [
            el("Provenance.target", type=ref("DiagnosticReport", "ClinicalImpression", "RiskAssessment")),
            el("Provenance.agent", slicing=pattern_slicing("type")),
            el("Provenance.agent", slice_name="author", min=1, max="1"),
            el(
                "Provenance.agent.type",
                eid="Provenance.agent:author.type",
                min=1,
                patternCodeableConcept=concept(PROV_TYPE, "author"),
            ),
            el("Provenance.agent.who", eid="Provenance.agent:author.who", type=ref("Device")),
            el("Provenance.agent", slice_name="verifier", min=0, max="1"),
            el(
                "Provenance.agent.type",
                eid="Provenance.agent:verifier.type",
                min=1,
                patternCodeableConcept=concept(PROV_TYPE, "verifier"),
            ),
            el(
                "Provenance.agent.who",
                eid="Provenance.agent:verifier.who",
                type=ref("Practitioner", "PractitionerRole"),
            ),
            el("Provenance.entity.role", fixedCode="source"),
        ],
    )


# ---------------------------------------------------------------------------
# CapabilityStatement

SEARCH_PARAMS: Final[dict[str, Json]] = {
    "patient": {
        "name": "patient",
        "type": "reference",
        "definition": "http://hl7.org/fhir/SearchParameter/clinical-patient",
    },
    "_lastUpdated": {
        "name": "_lastUpdated",
        "type": "date",
        "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
    },
    "_count": {"name": "_count", "type": "number", "documentation": "Result parameter: page size."},
}


def capability_statement() -> Json:
    def search(*names: str, category: str | None = None) -> list[Json]:
        params = [SEARCH_PARAMS[n] for n in names]
        if category:
            params.append({"name": "category", "type": "token", "definition": category})
        return sorted(params, key=lambda p: str(p["name"]))

    def read_only(rtype: str, params: list[Json], profile_id: str | None = None) -> Json:
        r: Json = {"type": rtype, "interaction": [{"code": "read"}, {"code": "search-type"}], "searchParam": params}
        if profile_id:
            r["supportedProfile"] = [url("StructureDefinition", profile_id)]
        return r

    def written(rtype: str, profile_id: str | None, *, read: bool = False) -> Json:
        codes = ["read", "search-type"] if read else []
        r: Json = {
            "type": rtype,
            "interaction": [{"code": c} for c in [*codes, "create", "update"]],
            "conditionalCreate": True,
            "conditionalUpdate": True,
        }
        if profile_id:
            r["supportedProfile"] = [url("StructureDefinition", profile_id)]
        return r

    clinical = ("_count", "_lastUpdated", "patient")
    dr = written("DiagnosticReport", "bmefhir-diagnostic-report", read=True)
    dr["searchParam"] = search(*clinical, category="http://hl7.org/fhir/SearchParameter/DiagnosticReport-category")
    resources = [
        read_only("Patient", search("_count", "_lastUpdated")),
        read_only(
            "Observation",
            search(*clinical, category="http://hl7.org/fhir/SearchParameter/Observation-category"),
            "bmefhir-imaging-finding",
        ),
        read_only("ImagingStudy", search(*clinical)),
        read_only("MedicationStatement", search(*clinical)),
        read_only("MedicationRequest", search(*clinical)),
        read_only("Condition", search(*clinical)),
        dr,
        written("ClinicalImpression", "bmefhir-clinical-impression"),
        written("RiskAssessment", "bmefhir-risk-assessment"),
        # R4 Provenance has no identifier: it is PUT at a logical id derived from the patient.
        {
            "type": "Provenance",
            "interaction": [{"code": "update"}],
            "supportedProfile": [url("StructureDefinition", "bmefhir-provenance")],
        },
        written("Device", None),
    ]
    cs = metadata(
        "CapabilityStatement",
        "bmefhir-client",
        "bmefhir client requirements",
        "What bmefhir needs from a FHIR R4 server: the reads and searches it uses to build a "
        "patient record, and the writes of its assessment (conditional update on the business "
        "identifier, in a transaction).",
    )
    cs |= {
        "date": CAPABILITY_DATE,
        "kind": "requirements",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "client",
                "documentation": "Reads patient data and writes one transaction Bundle per patient.",
                "resource": sorted(resources, key=lambda r: str(r["type"])),
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
    return cs


# ---------------------------------------------------------------------------
# examples


def example_observation(key: str) -> Json:
    display = FINDING_CONCEPTS[key]
    return {
        "resourceType": "Observation",
        "id": f"example-{fhir_id(key)}",
        "meta": {"profile": [url("StructureDefinition", "bmefhir-imaging-finding")]},
        "text": narrative(f"{display}: present, left femoral head (MRI, STIR)."),
        "extension": [{"url": LATERALITY_EXT, "valueCodeableConcept": concept(SCT, "7771000", "Left")}],
        "status": "final",
        "category": [concept(OBS_CATEGORY, "imaging", "Imaging")],
        "code": concept(url("CodeSystem", "imaging-finding"), key, display),
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2024-03-01",
        "valueCodeableConcept": concept(SCT, "52101004", "Present"),
        "bodySite": concept(url("CodeSystem", "body-structure"), "femoral_head", STRUCTURES["femoral_head"].display),
        "method": {"text": "STIR"},
        "partOf": [{"reference": "ImagingStudy/example"}],
    }


# ---------------------------------------------------------------------------


def build_resources() -> list[Json]:
    """Every conformance resource, in upload order (terminology before profiles)."""
    candidates = load_candidates()
    systems = code_systems({code: display for code, (display, _) in candidates.items()})
    out: list[Json] = [code_system(*spec) for spec in systems]
    out += [value_set_all(rid, title) for rid, title, _, _ in systems]
    out.append(
        value_set_enumerated(
            "present-absent",
            "Present or absent",
            "SNOMED CT qualifier values for a finding looked for and seen (Present) or not seen (Absent).",
            PRESENT_ABSENT,
        )
    )
    out.append(value_set_enumerated("laterality", "Laterality", "SNOMED CT laterality qualifier values.", LATERALITY))
    out.append(concept_map(candidates, verified_snomed()))
    out += [
        laterality_extension(),
        imaging_finding_profile(),
        diagnostic_report_profile(),
        clinical_impression_profile(),
        risk_assessment_profile(),
        provenance_profile(),
    ]
    out.append(capability_statement())
    return out


def render(resource: Json) -> str:
    return json.dumps(resource, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build(out_dir: Path) -> list[Path]:
    """Write all resources and examples under ``out_dir``; returns the files written."""
    files: dict[Path, Json] = {out_dir / f"{r['resourceType']}-{r['id']}.json": r for r in build_resources()}
    for key in FINDING_CONCEPTS:
        obs = example_observation(key)
        files[out_dir / "examples" / f"Observation-{obs['id']}.json"] = obs
    written: list[Path] = []
    for path, resource in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render(resource)
        # Leave unchanged files alone so re-runs do not touch mtimes.
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "profiles", help="output folder")
    args = parser.parse_args(argv)
    paths = build(args.out)
    print(f"{len(paths)} files in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
