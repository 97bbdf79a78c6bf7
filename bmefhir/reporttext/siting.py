"""Which site and side a finding is stated for (docs/report-text.md "Sites and sides")."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

from bmefhir.anatomy import STRUCTURES
from bmefhir.record import Side

# Findings of a joint as a whole: a bone named with them stands for its joint ("femoral head edema and
# joint effusion" → hip effusion). seed 000 §Table 1 (effusion, synovitis, cartilage anomalies of the joint).
JOINT_LEVEL: Final = frozenset(
    {"joint_effusion", "synovitis", "meniscal_tear", "meniscal_extrusion", "periarticular_bme_both_sides"}
)
# Findings of the joint's bones that, stated without a site, belong to the report's joint ("Marginal osteophytes.").
JOINT_DEFAULT: Final = JOINT_LEVEL | {"cartilage_loss", "osteophytes", "erosions", "subchondral_cyst"}
# A broader structure is dropped when a part of it is named for the same finding (the most specific wins).
_PARTS: Final[dict[str, frozenset[str]]] = {
    "tibia": frozenset(
        {
            "distal_tibia",
            "proximal_tibia",
            "tibial_plateau",
            "medial_tibial_plateau",
            "lateral_tibial_plateau",
            "tibial_shaft",
        }
    ),
    "tibial_plateau": frozenset({"medial_tibial_plateau", "lateral_tibial_plateau"}),
    "femoral_condyle": frozenset({"medial_femoral_condyle", "lateral_femoral_condyle"}),
    "sacroiliac_joint": frozenset({"sacrum", "ilium"}),
    # A pelvic study covers the hips: "Pelvis grafisinde sağ femur başında ...", "骨盆正位片：右侧股骨头 ...".
    "pelvis": frozenset({"sacrum", "ilium", "acetabulum", "sacroiliac_joint", "hip", "femoral_head", "femoral_neck"}),
    "spine": frozenset({"vertebra"}),
}


class PlaceSpan(NamedTuple):  # a NamedTuple: a report makes dozens, and a frozen dataclass is ~5x slower to make
    """A site or side word in a sentence (token offsets into the doc, char offsets into the text)."""

    kind: str  # "SITE", "SIDE", "MODALITY"
    value: str  # "femoral_head+femoral_neck", "left", "MR"
    start: int
    end: int
    start_char: int
    end_char: int


class SitedPlace(NamedTuple):
    structure: str
    side: Side | None
    span: PlaceSpan


@functools.cache  # STRUCTURES is fixed; every report asks for the joints of the structures it names
def joint_structure(key: str) -> str:
    """The joint structure a bone belongs to ("talus" → "ankle"), or the key itself."""
    joint = STRUCTURES[key].joint
    if joint is None:
        return key
    for s in STRUCTURES.values():
        if s.joint == joint and s.region in ("joint", "region") and (s.key == joint or s.region == "joint"):
            return s.key
    return key


def bind_sides(places: Sequence[PlaceSpan]) -> tuple[list[SitedPlace], list[PlaceSpan]]:
    """Sites with the side word that qualifies them (just before, or right after), and the unbound sides."""
    if not places:
        return [], []
    sites = [p for p in places if p.kind == "SITE"]
    sides = [p for p in places if p.kind == "SIDE"]
    if not sides:
        return [SitedPlace(key, None, site) for site in sites for key in site.value.split("+")], []
    used: set[int] = set()
    out: list[SitedPlace] = []
    for site in sites:
        side: PlaceSpan | None = None
        before = [s for s in sides if 0 <= site.start - s.end <= 3 and not _site_between(sites, s.end, site.start)]
        after = [s for s in sides if 0 <= s.start - site.end <= 1 and not any(0 <= t.start - s.end <= 3 for t in sites)]
        if before:
            side = max(before, key=lambda s: s.end)
        elif after:
            side = after[0]
        if side is not None:
            used.add(id(side))
        for key in site.value.split("+"):
            out.append(SitedPlace(key, _side(side.value) if side else None, site))
    free = [s for s in sides if id(s) not in used]
    return out, free


def share_side(places: Sequence[SitedPlace]) -> list[SitedPlace]:
    """A site named without a side takes the side of the nearest sited site named with it ("the iliac and
    sacral sides of the left SIJ"; "her iki sakroiliak eklemin iliak ve sakral yüzlerinde")."""
    sited = [p for p in places if p.side is not None]
    out: list[SitedPlace] = []
    for p in places:
        if p.side is None and sited:
            nearest = min(sited, key=lambda q: abs(q.span.start - p.span.start))
            p = SitedPlace(p.structure, nearest.side, p.span)
        out.append(p)
    return out


def most_specific(places: Iterable[SitedPlace]) -> list[SitedPlace]:
    """Drop a structure when a part of it is also named (hip with femoral head; tibia with distal tibia)."""
    places = list(places)
    keys = {p.structure for p in places}
    out: list[SitedPlace] = []
    seen: set[tuple[str, Side | None]] = set()
    for p in places:
        s = STRUCTURES[p.structure]
        if keys & _PARTS.get(p.structure, frozenset()):
            continue
        # A joint, or a region of one (the foot), gives way to a bone of it that is named ("the 2nd metatarsal").
        if (s.region == "joint" or (s.region == "region" and s.joint is not None)) and any(
            k != p.structure and STRUCTURES[k].joint == s.joint and STRUCTURES[k].region != "joint" for k in keys
        ):
            continue
        if (p.structure, p.side) not in seen:
            seen.add((p.structure, p.side))
            out.append(p)
    return out


def _site_between(sites: Sequence[PlaceSpan], start: int, end: int) -> bool:
    return any(start <= s.start < end for s in sites)


def side_of(span: PlaceSpan) -> Side:
    return _side(span.value)


def _side(value: str) -> Side:
    if value == "left":
        return "left"
    if value == "right":
        return "right"
    return "bilateral"
