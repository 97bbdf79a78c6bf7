"""The body map: a skeleton outline with each bone marrow edema site marked (pure: timeline in, SVG out).

Front view, the patient facing the reader (their right on the reader's left, marked R and L).
Each episode is a numbered ring at its joint and side, numbered in the order the sites were
first seen; a bilateral episode is marked on both sides, a site of unknown side on the midline.
A migration is an arrow from one site's ring to the next. The SVG is ``role="img"`` with a
``<title>`` and a ``<desc>`` listing the sites in order and the migrations, so a screen reader
reads what the picture shows. No scripts, no external references, no inline styles (the CSP
forbids them); every text is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Final

from bmefhir.anatomy import lane_label, structure
from bmefhir.derive.model import Episode, LesionTimeline

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MapSite", "body_map_svg", "map_sites"]

WIDTH: Final = 220
HEIGHT: Final = 400
MID: Final = WIDTH / 2
RING: Final = 9.0  # marker radius
_STACK: Final = 15.0  # how far a second marker at the same place moves outward

# Where each joint sits, as (reader's-left x for the patient's right side, y). The left side mirrors it.
_JOINTS: Final[dict[str, tuple[float, float]]] = {
    "shoulder": (78, 78),
    "elbow": (60, 140),
    "wrist": (48, 196),
    "hand": (42, 218),
    "spine": (MID, 130),
    "sacroiliac": (99, 202),
    "hip": (88, 222),
    "knee": (86, 300),
    "ankle": (84, 366),
    "foot": (76, 384),
}
# Structures outside a joint (diaphyses, regions), placed along their bone.
_STRUCTURES: Final[dict[str, tuple[float, float]]] = {
    "femoral_shaft": (88, 262),
    "tibial_shaft": (85, 332),
    "tibia": (85, 332),
    "pelvis": (MID, 214),
}
_MIDLINE: Final = frozenset({"spine"})


@dataclass(frozen=True, slots=True)
class MapSite:
    """One episode as the map shows it: its order number, where, and what the reader is told."""

    order: int  # 1 = first seen
    episode: int  # index into LesionTimeline.episodes
    label: str  # "Left femoral head"
    first_seen: str
    last_seen: str
    resolved_on: str | None
    points: tuple[tuple[float, float], ...]  # one per side drawn (two for bilateral); () if not placeable

    def text(self) -> str:
        seen = self.first_seen if self.first_seen == self.last_seen else f"{self.first_seen} to {self.last_seen}"
        resolved = f", resolved by {self.resolved_on}" if self.resolved_on else ""
        placed = "" if self.points else " (not shown: no place on the map)"
        return f"{self.order}. {self.label}, BME {seen}{resolved}{placed}"


def _anchor(ep: Episode) -> tuple[float, float] | None:
    if ep.structure in _STRUCTURES:
        return _STRUCTURES[ep.structure]
    joint = ep.joint
    if joint is None:
        try:
            joint = structure(ep.structure).joint
        except KeyError:
            return None
    return _JOINTS.get(joint) if joint else None


def _sides(ep: Episode, anchor: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    x, y = anchor
    if x == MID or ep.joint in _MIDLINE:
        return ((MID, y),)
    right, left = (x, y), (WIDTH - x, y)
    if ep.side == "right":
        return (right,)
    if ep.side == "left":
        return (left,)
    if ep.side == "bilateral":
        return (right, left)
    return ((MID, y),)  # side not recorded: on the midline at the joint's height


def map_sites(timeline: LesionTimeline) -> tuple[MapSite, ...]:
    """The episodes in the order they were first seen, each with where the map marks it."""
    order = sorted(range(len(timeline.episodes)), key=lambda i: (timeline.episodes[i].first_seen, i))
    taken: dict[tuple[float, float], int] = {}
    sites: list[MapSite] = []
    for n, i in enumerate(order, 1):
        ep = timeline.episodes[i]
        anchor = _anchor(ep)
        points: list[tuple[float, float]] = []
        for x, y in _sides(ep, anchor) if anchor else ():
            k = taken.get((x, y), 0)
            taken[(x, y)] = k + 1
            outward = -1.0 if x < MID else 1.0
            points.append((x + outward * _STACK * k, y - 4.0 * k) if k else (x, y))
        sites.append(
            MapSite(
                order=n,
                episode=i,
                label=lane_label(ep.structure, ep.side)
                + ("" if ep.side or ep.joint in _MIDLINE else " (side not recorded)"),
                first_seen=ep.first_seen.isoformat(),
                last_seen=ep.last_seen.isoformat(),
                resolved_on=ep.resolved_on.isoformat() if ep.resolved_on else None,
                points=tuple(points),
            )
        )
    return tuple(sites)


def _skeleton() -> list[str]:
    """A plain outline: skull, spine, ribcage, pelvis, limbs (bones as lines between the joints)."""
    r_sh, r_el, r_wr, r_ha = _JOINTS["shoulder"], _JOINTS["elbow"], _JOINTS["wrist"], _JOINTS["hand"]
    r_hip, r_kn, r_an, r_ft = _JOINTS["hip"], _JOINTS["knee"], _JOINTS["ankle"], _JOINTS["foot"]
    hx, hy = r_hip

    def limb(*pts: tuple[float, float]) -> str:
        right = " ".join(f"{x:.0f},{y:.0f}" for x, y in pts)
        left = " ".join(f"{WIDTH - x:.0f},{y:.0f}" for x, y in pts)
        return f'<polyline class="bone" points="{right}"/><polyline class="bone" points="{left}"/>'

    def wing(sign: float) -> str:  # an iliac wing: from the sacrum out along the crest, down to the hip socket
        def x(dx: float) -> float:
            return MID + sign * dx

        reach = MID - hx
        return (
            f'<path d="M{x(6):.0f},194 C{x(22):.0f},182 {x(36):.0f},188 {x(36):.0f},202 '
            f'C{x(36):.0f},212 {x(reach + 2):.0f},{hy - 6:.0f} {x(reach):.0f},{hy:.0f}"/>'
        )

    return [
        '<g class="skeleton" fill="none" stroke="#9aa0a6" stroke-width="3" stroke-linecap="round" '
        'stroke-linejoin="round">',
        f'<ellipse cx="{MID}" cy="34" rx="17" ry="21"/>',
        f'<line x1="{MID}" y1="56" x2="{MID}" y2="194"/>',  # spine
        f'<path d="M{r_sh[0]:.0f},{r_sh[1]:.0f} Q{MID},68 {WIDTH - r_sh[0]:.0f},{r_sh[1]:.0f}"/>',  # clavicles
        f'<path d="M86,96 Q{MID},84 134,96 M84,112 Q{MID},100 136,112 M86,128 Q{MID},118 134,128"/>',  # ribs
        wing(-1),
        wing(1),
        f'<path d="M{MID - 7},194 L{MID + 7},194 L{MID},214 Z"/>',  # sacrum
        f'<path d="M{hx:.0f},{hy:.0f} Q{MID},{hy + 18:.0f} {WIDTH - hx:.0f},{hy:.0f}"/>',  # pubic arch
        limb(r_sh, r_el, r_wr, r_ha),
        limb(r_hip, r_kn, r_an, r_ft),
        "</g>",
    ]


def _arrow(a: tuple[float, float], b: tuple[float, float], label: str) -> str:
    """A curved arrow from ring ``a`` to ring ``b``, bent away from the midline (or upward) so it
    does not hide the bone it follows; close rings get a hump over them."""
    (xa, ya), (xb, yb) = a, b
    length = math.hypot(xb - xa, yb - ya)
    if length < 60:  # close rings (one joint, or the two sacroiliac joints): a hump clear of the rings between
        sx, sy, ex, ey = xa, ya - RING, xb, yb - RING - 2
        cx, cy = (xa + xb) / 2, min(ya, yb) - RING - 26
    else:
        ux, uy = (xb - xa) / length, (yb - ya) / length
        sx, sy, ex, ey = xa + ux * RING, ya + uy * RING, xb - ux * (RING + 2), yb - uy * (RING + 2)
        mx, my = (sx + ex) / 2, (sy + ey) / 2
        px, py = -uy, ux
        outward = px * (mx - MID) >= 0 if abs(px) > 0.3 else py <= 0  # away from the midline, or upward
        sign = 1.0 if outward else -1.0
        bend = max(24.0, min(40.0, length / 3))
        cx, cy = mx + sign * px * bend, my + sign * py * bend
    return (
        f'<path class="migration" d="M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}" fill="none" '
        f'stroke="#7a1f9c" stroke-width="2.5" marker-end="url(#bm-arrow)"><title>{escape(label)}</title></path>'
    )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _migration_texts(timeline: LesionTimeline, sites: Sequence[MapSite]) -> list[tuple[int, int, str]]:
    by_episode = {s.episode: s for s in sites}
    out = []
    for mig in timeline.migrations:
        a, b = by_episode.get(mig.from_episode), by_episode.get(mig.to_episode)
        if a is None or b is None:
            continue
        p2d = mig.proximal_to_distal
        direction = "" if p2d is None else ", proximal to distal" if p2d else ", distal to proximal"
        kind = mig.kind.replace("_", " ")
        text = (
            f"Migration {a.order} → {b.order}: {a.label} to {_lower_first(b.label)} after "
            f"{mig.interval_days} days ({kind}{direction})"
        )
        out.append((a.episode, b.episode, text))
    return out


def body_map_svg(timeline: LesionTimeline) -> str:
    sites = map_sites(timeline)
    migrations = _migration_texts(timeline, sites)
    if sites:
        desc = "Sites in the order first seen: " + "; ".join(s.text() for s in sites) + "."
        if migrations:
            desc += " " + "; ".join(text for _a, _b, text in migrations) + "."
    else:
        desc = "No bone marrow edema site on record."
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="body-map" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="bm-title bm-desc" font-family="sans-serif" font-size="12">',
        '<title id="bm-title">Body map: bone marrow edema sites, numbered in the order first seen, '
        "arrows for migrations</title>",
        f'<desc id="bm-desc">{escape(desc)}</desc>',
        '<defs><marker id="bm-arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7a1f9c"/></marker></defs>',
        '<text class="side" x="8" y="16" fill="#5f6368" font-weight="bold" aria-hidden="true">R</text>',
        f'<text class="side" x="{WIDTH - 16}" y="16" fill="#5f6368" font-weight="bold" aria-hidden="true">L</text>',
    ]
    out += _skeleton()
    first_point = {s.episode: s.points[0] for s in sites if s.points}
    for a, b, text in migrations:
        if a in first_point and b in first_point:
            out.append(_arrow(first_point[a], first_point[b], text))
    for s in sites:
        for x, y in s.points:
            out.append(
                f'<g class="site" data-order="{s.order}"><title>{escape(s.text())}</title>'
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RING}" fill="#c0392b" stroke="#fff" stroke-width="1.5"/>'
                f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" fill="#fff" font-weight="bold" '
                f'font-size="11">{s.order}</text></g>'
            )
    if not sites:
        out.append(f'<text x="{MID}" y="{HEIGHT - 6}" text-anchor="middle" fill="#5f6368">No BME site on record</text>')
    out.append("</svg>")
    return "".join(out)
