"""The lesion timeline as a server-rendered SVG (pure: analysis in, markup out).

One lane per bone/joint and side; each BME episode is a bar from first to last
positive MRI, a resolution is a dashed tail ending in a ring, a migration is an
arrow from one episode's start to the next with its interval in days.
Medication exposures (glucocorticoids first) are bands in their own lanes,
abnormal labs are diamonds on a lab lane. No scripts, no external references,
no inline styles (the CSP forbids them): presentation attributes and CSS classes.
Every text from the record is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import TYPE_CHECKING, Final

from bmefhir.anatomy import lane_label

if TYPE_CHECKING:
    from bmefhir.pipeline import Analysis

__all__ = ["timeline_svg"]

WIDTH: Final = 900
LABEL_W: Final = 190
RIGHT_PAD: Final = 24
LANE_H: Final = 34
TOP: Final = 30
BAR_H: Final = 14
MAX_LABS: Final = 24
_KEY_EXPOSURES: Final = ("glucocorticoid",)


@dataclass(frozen=True, slots=True)
class _Axis:
    start: date
    end: date

    def x(self, day: date) -> float:
        span = max((self.end - self.start).days, 1)
        return LABEL_W + (day - self.start).days / span * (WIDTH - LABEL_W - RIGHT_PAD)


def _axis(dates: list[date], today: date) -> _Axis:
    if not dates:
        return _Axis(today - timedelta(days=365), today)
    lo, hi = min(dates), max(dates)
    pad = max((hi - lo).days // 20, 7)
    return _Axis(lo - timedelta(days=pad), hi + timedelta(days=pad))


def timeline_svg(analysis: Analysis) -> str:
    timeline = analysis.derived.timeline
    episodes = timeline.episodes
    exposures = sorted(
        (e for e in analysis.derived.exposures if e.start is not None),
        key=lambda e: (e.concept not in _KEY_EXPOSURES, e.concept, e.drug, e.start or date.min),
    )
    labs = [
        lab for lab in analysis.record.labs if lab.date is not None and (lab.high_flag or lab.coded_value == "positive")
    ]
    labs = sorted(labs, key=lambda lab: (lab.date or date.min, lab.concept))[:MAX_LABS]
    today = analysis.now.date()

    dates: list[date] = []
    for ep in episodes:
        dates += [ep.first_seen, ep.last_seen] + ([ep.resolved_on] if ep.resolved_on else [])
    for ex in exposures:
        dates += [d for d in (ex.start, ex.end) if d is not None]
    dates += [lab.date for lab in labs if lab.date is not None]
    axis = _axis(dates, today)

    lanes: list[tuple[str, str | None]] = list(dict.fromkeys(ep.lane for ep in episodes))
    exposure_lanes = list(dict.fromkeys((ex.concept, ex.drug) for ex in exposures))
    n_lanes = len(lanes) + len(exposure_lanes) + (1 if labs else 0)
    height = TOP + max(n_lanes, 1) * LANE_H + 28

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="tl-title" preserveAspectRatio="xMinYMin meet" font-family="sans-serif" '
        'font-size="13">',
        '<title id="tl-title">Lesion timeline: bone marrow edema episodes per site, migrations, '
        "medication exposures and abnormal labs</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7a1f9c"/></marker></defs>',
    ]
    out += _grid(axis, height)
    if not n_lanes:
        out.append(
            f'<text x="{LABEL_W}" y="{TOP + 20}" fill="#444">No bone marrow edema imaging, exposures or '
            "abnormal labs on record.</text>"
        )

    lane_y: dict[tuple[str, str | None], float] = {}
    for i, lane in enumerate(lanes):
        top = float(TOP + i * LANE_H)
        lane_y[lane] = top
        out.append(_lane_label(top, lane_label(lane[0], lane[1])))
    centers: list[tuple[float, float]] = []
    for ep in episodes:
        y = lane_y[ep.lane] + LANE_H / 2
        x1, x2 = axis.x(ep.first_seen), axis.x(ep.last_seen)
        x2 = max(x2, x1 + 4)
        centers.append((x1, y))
        title = f"BME {lane_label(ep.structure, ep.side)}: {ep.first_seen.isoformat()} to {ep.last_seen.isoformat()}"
        out.append(
            f'<rect class="episode" x="{x1:.1f}" y="{y - BAR_H / 2:.1f}" width="{x2 - x1:.1f}" height="{BAR_H}" '
            f'rx="3" fill="#c0392b"><title>{escape(title)}</title></rect>'
        )
        if ep.resolved_on:
            xr = axis.x(ep.resolved_on)
            out.append(
                f'<line x1="{x2:.1f}" y1="{y:.1f}" x2="{xr:.1f}" y2="{y:.1f}" stroke="#2e7d32" stroke-width="2" '
                'stroke-dasharray="4 3"/>'
                f'<circle class="resolved" cx="{xr:.1f}" cy="{y:.1f}" r="6" fill="#fff" stroke="#2e7d32" '
                f'stroke-width="2.5"><title>Resolved by {ep.resolved_on.isoformat()}</title></circle>'
            )
    for mig in timeline.migrations:
        if not (0 <= mig.from_episode < len(centers) and 0 <= mig.to_episode < len(centers)):
            continue
        (xa, ya), (xb, yb) = centers[mig.from_episode], centers[mig.to_episode]
        bend = 18 if yb >= ya else -18
        mid_x, mid_y = (xa + xb) / 2, (ya + yb) / 2
        out.append(
            f'<path class="migration" d="M{xa:.1f},{ya:.1f} Q{mid_x + bend:.1f},{mid_y:.1f} {xb:.1f},{yb:.1f}" '
            'fill="none" stroke="#7a1f9c" stroke-width="2" marker-end="url(#arrow)"/>'
            f'<text x="{mid_x + bend + 4:.1f}" y="{mid_y + 4:.1f}" fill="#7a1f9c" font-weight="bold">'
            f"{mig.interval_days} d</text>"
        )

    base = TOP + len(lanes) * LANE_H
    for j, (concept, drug) in enumerate(exposure_lanes):
        y = base + j * LANE_H
        key = concept in _KEY_EXPOSURES
        out.append(_lane_label(y, f"{drug} ({concept.replace('_', ' ')})"))
        for ex in exposures:
            if (ex.concept, ex.drug) != (concept, drug) or ex.start is None:
                continue
            x1, x2 = axis.x(ex.start), axis.x(ex.end or today)
            route = f", {ex.route}" if ex.route else ""
            until = ex.end.isoformat() if ex.end else "ongoing"
            out.append(
                f'<rect class="exposure" x="{x1:.1f}" y="{y + 8:.1f}" width="{max(x2 - x1, 3):.1f}" '
                f'height="{LANE_H - 16}" fill="{"#e67e22" if key else "#5d8aa8"}" fill-opacity="0.55">'
                f"<title>{escape(f'{ex.drug}{route}: {ex.start.isoformat()} to {until}')}</title></rect>"
            )
    if labs:
        lab_y = base + len(exposure_lanes) * LANE_H + LANE_H / 2
        out.append(_lane_label(lab_y - LANE_H / 2, "Abnormal labs"))
        for lab in labs:
            if lab.date is None:
                continue
            x = axis.x(lab.date)
            value = f" {lab.value:g}" if lab.value is not None else ""
            unit = f" {lab.unit}" if lab.unit and value else ""
            label = f"{lab.concept.replace('_', ' ')}{value}{unit} ({lab.date.isoformat()})"
            out.append(
                f'<path class="lab" d="M{x:.1f},{lab_y - 7:.1f} l7,7 l-7,7 l-7,-7 z" fill="#1f4e9c">'
                f"<title>{escape(label)}</title></path>"
            )
    out.append("</svg>")
    return "".join(out)


def _lane_label(y: float, text: str) -> str:
    short = text if len(text) <= 28 else text[:27] + "…"
    return (
        f'<line x1="0" y1="{y + LANE_H:.1f}" x2="{WIDTH}" y2="{y + LANE_H:.1f}" stroke="#e3e3e3"/>'
        f'<text class="lane" x="6" y="{y + LANE_H / 2 + 4:.1f}" fill="#222">{escape(short)}'
        f"<title>{escape(text)}</title></text>"
    )


def _grid(axis: _Axis, height: int) -> list[str]:
    """Vertical month or year ticks with labels along the top."""
    span = (axis.end - axis.start).days
    step_months = 1 if span <= 400 else 3 if span <= 1200 else 12
    out = []
    year, month = axis.start.year, axis.start.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        if (month - 1) % step_months:
            continue
        tick = date(year, month, 1)
        if tick > axis.end:
            break
        x = axis.x(tick)
        label = str(year) if step_months == 12 or month == 1 else tick.strftime("%b")
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - 24}" stroke="#eee"/>'
            f'<text x="{x + 2:.1f}" y="{TOP - 10}" fill="#666" font-size="11">{label}</text>'
        )
    out.append(
        f'<text x="6" y="{height - 8}" fill="#666" font-size="11">{axis.start.isoformat()} – {axis.end.isoformat()}'
        "</text>"
    )
    return out
