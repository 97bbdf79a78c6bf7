"""Anatomical structures bmefhir reasons about, and how they relate.

Lesion timelines need more than codes: which joint a bone belongs to, which
joints are adjacent, and the proximal-to-distal order of a limb (regional
migratory osteoporosis usually moves proximal → distal to the nearest joint;
seeds 001 §discussion, 000 Table 1). Structures are bmefhir keys; the SNOMED CT
body-structure codes that map to them live in ``bmefhir.terminology``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Relation = Literal["same_structure", "same_joint", "adjacent_joint", "contralateral", "distant"]


@dataclass(frozen=True, slots=True)
class Structure:
    key: str
    display: str
    joint: str | None  # the joint (lane group) it belongs to; None for diaphyses, spine levels
    region: Literal["epiphysis", "metaphysis", "diaphysis", "joint", "axial", "region"] = "epiphysis"
    subchondral: bool = False  # weight-bearing subchondral bone (SIF, osteonecrosis sites)


# Joints in each chain, proximal first. Adjacent = neighbours in a chain.
LIMB_CHAINS: dict[str, tuple[str, ...]] = {
    "lower": ("hip", "knee", "ankle", "foot"),
    "upper": ("shoulder", "elbow", "wrist", "hand"),
    "axial": ("spine", "sacroiliac"),
}
# The sacroiliac joint transmits load to the hip; treat them as neighbours.
EXTRA_ADJACENT: frozenset[frozenset[str]] = frozenset({frozenset({"sacroiliac", "hip"})})

JOINT_DISPLAY: dict[str, str] = {
    "hip": "Hip",
    "knee": "Knee",
    "ankle": "Ankle",
    "foot": "Foot",
    "shoulder": "Shoulder",
    "elbow": "Elbow",
    "wrist": "Wrist",
    "hand": "Hand",
    "spine": "Spine",
    "sacroiliac": "Sacroiliac joint",
}
WEIGHT_BEARING_JOINTS = frozenset({"hip", "knee", "ankle", "foot", "sacroiliac"})

_S = Structure
STRUCTURES: dict[str, Structure] = {
    s.key: s
    for s in (
        _S("hip", "Hip joint", "hip", "joint"),
        _S("femoral_head", "Femoral head", "hip", subchondral=True),
        _S("femoral_neck", "Femoral neck", "hip", "metaphysis"),
        _S("acetabulum", "Acetabulum", "hip", subchondral=True),
        _S("proximal_femur", "Proximal femur", "hip", "metaphysis"),
        _S("femoral_shaft", "Femoral shaft", None, "diaphysis"),
        _S("knee", "Knee joint", "knee", "joint"),
        _S("medial_femoral_condyle", "Medial femoral condyle", "knee", subchondral=True),
        _S("lateral_femoral_condyle", "Lateral femoral condyle", "knee", subchondral=True),
        _S("femoral_condyle", "Femoral condyle", "knee", subchondral=True),
        _S("distal_femur", "Distal femur", "knee", "metaphysis"),
        _S("tibial_plateau", "Tibial plateau", "knee", subchondral=True),
        _S("medial_tibial_plateau", "Medial tibial plateau", "knee", subchondral=True),
        _S("lateral_tibial_plateau", "Lateral tibial plateau", "knee", subchondral=True),
        _S("proximal_tibia", "Proximal tibia", "knee", "metaphysis"),
        _S("patella", "Patella", "knee"),
        _S("tibial_shaft", "Tibial shaft", None, "diaphysis"),
        _S("tibia", "Tibia", None, "region"),
        _S("ankle", "Ankle joint", "ankle", "joint"),
        _S("talus", "Talus", "ankle", subchondral=True),
        _S("distal_tibia", "Distal tibia", "ankle", "metaphysis"),
        _S("distal_fibula", "Distal fibula", "ankle", "metaphysis"),
        _S("foot", "Foot", "foot", "region"),
        _S("calcaneus", "Calcaneus", "foot"),
        _S("navicular", "Navicular", "foot"),
        _S("cuboid", "Cuboid", "foot"),
        _S("cuneiform", "Cuneiform", "foot"),
        _S("metatarsal", "Metatarsal", "foot"),
        _S("shoulder", "Shoulder joint", "shoulder", "joint"),
        _S("humeral_head", "Humeral head", "shoulder", subchondral=True),
        _S("elbow", "Elbow joint", "elbow", "joint"),
        _S("wrist", "Wrist joint", "wrist", "joint"),
        _S("scaphoid", "Scaphoid", "wrist"),
        _S("lunate", "Lunate", "wrist"),
        _S("hand", "Hand", "hand", "region"),
        _S("sacroiliac_joint", "Sacroiliac joint", "sacroiliac", "joint"),
        _S("sacrum", "Sacrum", "sacroiliac", "axial"),
        _S("ilium", "Ilium", "sacroiliac", "axial"),
        _S("spine", "Spine", "spine", "axial"),
        _S("vertebra", "Vertebral body", "spine", "axial"),
        _S("pelvis", "Pelvis", None, "region"),
    )
}


def structure(key: str) -> Structure:
    return STRUCTURES[key]


def joint_of(key: str) -> str | None:
    s = STRUCTURES.get(key)
    return s.joint if s else None


def chain_position(joint: str) -> tuple[str, int] | None:
    """(chain name, index from proximal) of a joint, or None."""
    for name, chain in LIMB_CHAINS.items():
        if joint in chain:
            return name, chain.index(joint)
    return None


def adjacent(joint_a: str, joint_b: str) -> bool:
    if frozenset({joint_a, joint_b}) in EXTRA_ADJACENT:
        return True
    a, b = chain_position(joint_a), chain_position(joint_b)
    return a is not None and b is not None and a[0] == b[0] and abs(a[1] - b[1]) == 1


def proximal_to_distal(joint_a: str, joint_b: str) -> bool | None:
    """True if b is distal to a in the same limb, False if proximal, None if not comparable."""
    a, b = chain_position(joint_a), chain_position(joint_b)
    if a is None or b is None or a[0] != b[0] or a[1] == b[1]:
        return None
    return b[1] > a[1]


def relation(struct_a: str, side_a: str | None, struct_b: str, side_b: str | None) -> Relation:
    """How lesion site b relates to site a (used for migration classification)."""
    ja, jb = joint_of(struct_a), joint_of(struct_b)
    sides_differ = (
        side_a is not None and side_b is not None and side_a != side_b and "bilateral" not in (side_a, side_b)
    )
    if sides_differ:
        return "contralateral" if ja is not None and ja == jb else "distant"
    if struct_a == struct_b:
        return "same_structure"
    if ja is not None and ja == jb:
        return "same_joint"
    if ja is not None and jb is not None and adjacent(ja, jb):
        return "adjacent_joint"
    return "distant"


def lane_label(struct_key: str, side: str | None) -> str:
    s = STRUCTURES.get(struct_key)
    name = s.display if s else struct_key.replace("_", " ")
    return f"{side.capitalize()} {name.lower()}" if side else name
