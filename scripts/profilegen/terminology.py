"""Terminology that follows the code: the CodeSystems of its own vocabulary and the ConceptMap to SNOMED CT.

The ValueSets are FSH (ig/fsh/input/fsh/valuesets.fsh); ``fsh.code_system`` writes these CodeSystems as FSH.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import yaml

from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import CONDITION_CONCEPTS, FINDING_CONCEPTS, MEDICATION_CONCEPTS, OBSERVATION_CONCEPTS

from .common import REPO, SCT, Json, metadata, url

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
