"""The lesion timeline: BME episodes per lane (structure, side), resolutions,
recurrences and migrations, with the caveats that limit what imaging can show.

Rules (seeds 000-003):
- BME evidence is a ``bone_marrow_edema`` finding or, where none was reported
  for that site and date, T1 low signal together with T2 or STIR high signal.
- A "bilateral" finding is read as one finding on each side.
- On one date and side, a joint-level finding ("hip") and a specific one
  ("femoral_head") describe the same lesion: the specific structure is kept.
  An absent finding at joint level closes the episodes of every structure of
  that joint on that side; an absent finding without a side closes all sides.
- Within a lane, consecutive positives form an episode; the first later
  absent finding resolves it; a positive after that starts a new episode
  (a recurrence).
- Each episode has at most one migration source: the most recent earlier
  episode at another lane that was active or resolved within a year.
  Episodes first seen on the same date are simultaneous, not a migration.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from bmefhir.anatomy import STRUCTURES, joint_of, lane_label, proximal_to_distal, relation
from bmefhir.derive.model import Caveat, Episode, LesionTimeline, Migration, MigrationKind
from bmefhir.derive.recordindex import RecordIndex
from bmefhir.derive.registry import THRESHOLDS
from bmefhir.record import Side

BME = "bone_marrow_edema"
T1_LOW = "t1_low_signal"
FLUID_HIGH = ("t2_high_signal", "stir_high_signal")
# RMO: the next joint is usually affected ~6 months later, range 3 months to
# 4 years (seed 001 §discussion); a source must be active or resolved within
# this many days, so unrelated episodes years apart are not chained.
MIGRATION_WINDOW_DAYS = 365
MRI_MODALITIES = frozenset({"MR"})
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX"})
# Closer relations win ties between equally recent migration sources.
_RELATION_RANK: dict[str, int] = {"same_joint": 3, "adjacent_joint": 2, "contralateral": 1, "distant": 0}

# Structure → its joint, or the structure itself when it belongs to none (for grouping).
_GROUP: dict[str, str] = {key: s.joint or key for key, s in STRUCTURES.items()}
_JOINT_LEVEL = frozenset(key for key, s in STRUCTURES.items() if s.region == "joint" or key == s.joint)

Lane = tuple[str, str | None]  # as Episode.lane
SidedLane = tuple[str, Side | None]
ReadingKey = tuple[date, str, Side | None]  # (date, structure, side)


@dataclass(slots=True)
class _Reading:
    present: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Lesions:
    """The timeline plus what the imaging facts need that episodes do not keep."""

    timeline: LesionTimeline
    positive_sites: dict[tuple[date, Side | None], frozenset[str]]  # structures with BME per date/side
    absent_refs: tuple[str, ...]  # explicit "no BME" readings
    mri_dates: dict[Lane, frozenset[date]]  # MRI dates per (joint or structure, side)

    @property
    def first_seen(self) -> date | None:
        episodes = self.timeline.episodes
        return min(e.first_seen for e in episodes) if episodes else None


def is_joint_level(structure: str) -> bool:
    return structure in _JOINT_LEVEL


def _sides(side: Side | None) -> tuple[Side | None, ...]:
    return ("left", "right") if side == "bilateral" else (side,)


def group_of(structure: str) -> str:
    """The joint of a structure, or the structure itself when it has none."""
    return _GROUP.get(structure, structure)


def _collect(
    index: RecordIndex, undated: list[str], unsited: list[str], hedged: list[str]
) -> dict[ReadingKey, _Reading]:
    today = index.today
    readings: defaultdict[ReadingKey, _Reading] = defaultdict(_Reading)
    for f in index.findings.get(BME, ()):
        if f.uncertain:
            # "Possible marrow edema" is not a lesion the timeline can date and follow; it is shown as a caveat.
            hedged.append(f.ref)
        elif f.date is None:
            undated.append(f.ref)
        elif f.site is None:
            unsited.append(f.ref)
        elif f.date <= today:
            for side in _sides(f.site.side):
                reading = readings[(f.date, f.site.structure, side)]
                (reading.present if f.present else reading.absent).append(f.ref)

    def positives(concepts: tuple[str, ...]) -> dict[ReadingKey, list[str]]:
        found: defaultdict[ReadingKey, list[str]] = defaultdict(list)
        for concept in concepts:
            for f in index.findings.get(concept, ()):
                if f.present and not f.uncertain and f.date is not None and f.site is not None and f.date <= today:
                    for side in _sides(f.site.side):
                        found[(f.date, f.site.structure, side)].append(f.ref)
        return found

    t1 = positives((T1_LOW,))
    if t1:
        fluid = positives(FLUID_HIGH)
        for key in t1.keys() & fluid.keys():
            if key not in readings:  # an explicit BME finding at this site and date wins
                readings[key].present.extend(t1[key] + fluid[key])
    return readings


def _fold_joint_level(readings: dict[ReadingKey, _Reading]) -> None:
    """Drop a joint-level positive where a specific structure of that joint is positive the same day."""
    specific: defaultdict[tuple[date, str, Side | None], list[_Reading]] = defaultdict(list)
    for (d, structure, side), reading in readings.items():
        joint = joint_of(structure)
        if reading.present and joint is not None and not is_joint_level(structure):
            specific[(d, joint, side)].append(reading)
    for (d, structure, side), reading in readings.items():
        if reading.present and is_joint_level(structure):
            targets = specific.get((d, group_of(structure), side))
            if targets:
                for target in targets:
                    target.present.extend(reading.present)
                reading.present = []


def _lane_events(
    readings: dict[ReadingKey, _Reading],
) -> dict[SidedLane, dict[date, _Reading]]:
    lanes: defaultdict[SidedLane, dict[date, _Reading]] = defaultdict(dict)
    by_structure: defaultdict[str, list[SidedLane]] = defaultdict(list)
    by_joint: defaultdict[str, list[SidedLane]] = defaultdict(list)
    for (d, structure, side), reading in readings.items():
        if reading.present:
            lane = (structure, side)
            if lane not in lanes:
                by_structure[structure].append(lane)
                joint = joint_of(structure)
                if joint is not None:
                    by_joint[joint].append(lane)
            lanes[lane].setdefault(d, _Reading()).present.extend(reading.present)
    for (d, structure, side), reading in readings.items():
        if not reading.absent:
            continue
        candidates = by_joint.get(joint_of(structure) or "", []) if is_joint_level(structure) else []
        for lane in (*by_structure.get(structure, ()), *candidates):
            if side is None or lane[1] is None or lane[1] == side:
                lanes[lane].setdefault(d, _Reading()).absent.extend(reading.absent)
    return lanes


def _episodes(lanes: dict[SidedLane, dict[date, _Reading]]) -> list[Episode]:
    episodes: list[Episode] = []
    for (structure, side), by_date in lanes.items():
        joint = joint_of(structure)
        first: date | None = None
        last = date.min
        refs: list[str] = []
        for d in sorted(by_date):
            reading = by_date[d]
            if reading.present:  # a positive wins over an absent reading on the same day
                if first is None:
                    first, refs = d, []
                last = d
                refs += reading.present
            elif first is not None:
                refs += reading.absent
                episodes.append(Episode(structure, side, joint, first, last, d, tuple(sorted(set(refs)))))
                first = None
        if first is not None:
            episodes.append(Episode(structure, side, joint, first, last, None, tuple(sorted(set(refs)))))
    episodes.sort(key=lambda e: (e.first_seen, e.joint or "", e.structure, e.side or ""))
    return episodes


def _recurrences(episodes: list[Episode]) -> list[tuple[int, int]]:
    previous: dict[Lane, int] = {}
    pairs: list[tuple[int, int]] = []
    for i, episode in enumerate(episodes):
        j = previous.get(episode.lane)
        if j is not None:
            pairs.append((j, i))
        previous[episode.lane] = i
    return pairs


def _active_on(episode: Episode, day: date) -> bool:
    return episode.first_seen <= day <= episode.last_seen


def _migrations(episodes: list[Episode]) -> list[Migration]:
    by_lane: defaultdict[Lane, list[Episode]] = defaultdict(list)
    for episode in episodes:
        by_lane[episode.lane].append(episode)
    migrations: list[Migration] = []
    for j, b in enumerate(episodes):
        best: tuple[tuple[date, int, int], int, MigrationKind] | None = None
        # Episodes are sorted by first_seen: walk back from the most recent source.
        for i in range(j - 1, -1, -1):
            a = episodes[i]
            if best is not None and a.first_seen < best[0][0]:
                break  # only equally recent sources can still compete
            if a.first_seen >= b.first_seen or a.lane == b.lane:
                continue
            if (b.first_seen - (a.resolved_on or a.last_seen)).days > MIGRATION_WINDOW_DAYS:
                continue
            # B's lane already had BME when A began: A did not move there.
            if any(_active_on(other, a.first_seen) for other in by_lane[b.lane]):
                continue
            kind = relation(a.structure, a.side, b.structure, b.side)
            if kind == "same_structure":
                continue  # the same bone with and without a side: one lesion, not a move
            same_joint_side = a.joint == b.joint and (a.side == b.side or None in (a.side, b.side))
            if same_joint_side and (is_joint_level(a.structure) or is_joint_level(b.structure)):
                continue  # "hip" then "femoral head": a more precise report, not a move
            rank = (a.first_seen, _RELATION_RANK[kind], i)
            if best is None or rank > best[0]:
                best = (rank, i, kind)
        if best is not None:
            _, i, kind = best
            a = episodes[i]
            direction = proximal_to_distal(a.joint, b.joint) if a.joint and b.joint else None
            migrations.append(
                Migration(
                    i,
                    j,
                    (b.first_seen - a.first_seen).days,
                    kind,
                    direction,
                    tuple(sorted(set(a.evidence) | set(b.evidence))),
                )
            )
    return migrations


def _imaging_dates(index: RecordIndex, modalities: frozenset[str]) -> dict[date, list[str]]:
    dates: defaultdict[date, list[str]] = defaultdict(list)
    for f in index.record.findings:
        if f.date is not None and f.modality in modalities:
            dates[f.date].append(f.ref)
    for study in index.record.studies:
        if study.date is not None and modalities.intersection(study.modalities):
            dates[study.date].append(study.ref)
    return dates


def _early_imaging_caveats(index: RecordIndex, onsets: list[tuple[date, str]]) -> list[Caveat]:
    if not onsets:
        return []
    onset_days = [d for d, _ in onsets]
    caveats: list[Caveat] = []
    checks = (
        (
            MRI_MODALITIES,
            THRESHOLDS["mri_early_hours"][0] / 24,
            "mri_within_48h",
            "MRI on {d} was within 48 h of symptom onset ({o}); BME may not show yet",
        ),
        (
            RADIOGRAPH_MODALITIES,
            THRESHOLDS["radiograph_osteopenia_weeks"][0] * 7,
            "radiograph_before_3_weeks",
            "Radiograph on {d} was within 3 weeks of symptom onset ({o}); osteopenia cannot show yet",
        ),
    )
    for modalities, limit_days, code, message in checks:
        for d, refs in sorted(_imaging_dates(index, modalities).items()):
            k = bisect_right(onset_days, d)
            if k and (d - onset_days[k - 1]).days < limit_days:
                onset_day, onset_ref = onsets[k - 1]
                text = message.format(d=d.isoformat(), o=onset_day.isoformat())
                caveats.append(Caveat(code, text, tuple(sorted({*refs, onset_ref}))))
    return caveats


def _mri_dates(index: RecordIndex, readings: dict[ReadingKey, _Reading]) -> dict[Lane, frozenset[date]]:
    dates: defaultdict[Lane, set[date]] = defaultdict(set)
    for d, structure, side in readings:
        dates[(group_of(structure), side)].add(d)
    for f in index.record.findings:
        if f.modality == "MR" and f.date is not None and f.site is not None:
            group = group_of(f.site.structure)
            for side in ("left", "right") if f.site.side == "bilateral" else (f.site.side,):
                dates[(group, side)].add(f.date)
    return {key: frozenset(v) for key, v in dates.items()}


def build_lesions(index: RecordIndex, onsets: list[tuple[date, str]]) -> Lesions:
    """``onsets``: dated symptom onsets (date, ref), sorted, for the early-imaging caveats."""
    undated: list[str] = []
    unsited: list[str] = []
    hedged: list[str] = []
    readings = _collect(index, undated, unsited, hedged)
    _fold_joint_level(readings)
    episodes = _episodes(_lane_events(readings))

    caveats: list[Caveat] = []
    if undated:
        caveats.append(
            Caveat(
                "undated_finding_skipped",
                f"{len(undated)} BME finding(s) without a date could not be placed on the timeline",
                tuple(sorted(undated)),
            )
        )
    if unsited:
        caveats.append(
            Caveat(
                "unsited_finding_skipped",
                f"{len(unsited)} BME finding(s) without a body site could not be placed on the timeline",
                tuple(sorted(unsited)),
            )
        )
    if hedged:
        caveats.append(
            Caveat(
                "uncertain_finding_skipped",
                f"{len(hedged)} BME mention(s) hedged in the report text (e.g. 'cannot exclude') were not placed "
                "on the timeline",
                tuple(sorted(set(hedged))),
            )
        )
    for e in episodes:
        if e.resolved_on is None and e.first_seen == e.last_seen:
            caveats.append(
                Caveat(
                    "no_follow_up",
                    f"{lane_label(e.structure, e.side)}: BME on one MRI only ({e.first_seen.isoformat()}); "
                    "resolution unknown",
                    e.evidence,
                )
            )
    caveats += _early_imaging_caveats(index, onsets)

    positive_sites: defaultdict[tuple[date, Side | None], set[str]] = defaultdict(set)
    absent_refs: list[str] = []
    for (d, structure, side), reading in readings.items():
        if reading.present:
            positive_sites[(d, side)].add(structure)
        absent_refs += reading.absent
    timeline = LesionTimeline(
        tuple(episodes), tuple(_migrations(episodes)), tuple(_recurrences(episodes)), tuple(caveats)
    )
    return Lesions(
        timeline,
        {key: frozenset(v) for key, v in positive_sites.items()},
        tuple(sorted(set(absent_refs))),
        _mri_dates(index, readings),
    )
