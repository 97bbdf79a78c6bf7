"""Imaging facts: BME distribution and course (from the lesion timeline) and MRI morphology.

Region booleans (bme_hip, bme_knee, ...) are False when BME status is known
(found elsewhere, or looked for and absent) and no episode lies in that region:
the imaging work-up places the BME elsewhere. Morphology facts are True when a
finding is present anywhere, False when it was looked for and not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from functools import cache

from bmefhir.anatomy import STRUCTURES, lane_label
from bmefhir.derive.factset import FactSet
from bmefhir.derive.lesions import Lesions, group_of
from bmefhir.derive.model import Episode
from bmefhir.derive.recordindex import RecordIndex

LOWER_LIMB_JOINTS = frozenset({"hip", "knee", "ankle", "foot"})
REGION_FACTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("bme_hip", frozenset({"hip"})),
    ("bme_knee", frozenset({"knee"})),
    ("bme_ankle_foot", frozenset({"ankle", "foot"})),
    ("bme_sacroiliac", frozenset({"sacroiliac"})),
    ("bme_lower_limb", LOWER_LIMB_JOINTS),
)
# finding concept → fact (identical names except the contusion pattern).
MORPHOLOGY_FACTS: dict[str, str] = {
    concept: concept
    for concept in (
        "subchondral_low_signal_band",
        "subchondral_fracture_line",
        "double_line_sign",
        "band_like_t1_lesion",
        "sif_band",
        "osteonecrosis_reported",
        "subchondral_cyst",
        "crescent_sign",
        "articular_collapse",
        "marrow_reconversion_pattern",
        "marrow_replacement",
        "focal_enhancing_lesion",
        "focal_lesion",
        "lytic_lesion",
        "osteoid_osteoma_nidus",
        "cortical_destruction",
        "soft_tissue_mass",
        "periosteal_reaction",
        "metaphyseal_diaphyseal_lesion",
        "joint_effusion",
        "synovitis",
        "erosions",
        "periarticular_bme_both_sides",
        "cartilage_loss",
        "osteophytes",
        "meniscal_tear",
        "meniscal_extrusion",
        "abscess",
        "sinus_tract",
        "enthesitis",
        "fracture_line",
        "periarticular_osteopenia",
        "scintigraphy_diffuse_uptake",
        "scintigraphy_cold_spot",
        "scintigraphy_increased_uptake",
        "scintigraphy_decreased_uptake",
        "contrast_enhancement",
        "delayed_enhancement",
        "rim_enhancement",
        "histology_malignancy",
        "histology_osteonecrosis",
        "histology_osteomyelitis",
        "histology_fracture",
        "histology_marrow_edema",
    )
} | {"geographic_reticular_bme_trauma_pattern": "bone_contusion_pattern"}
# Vande Berg: absence of these subchondral changes predicts a transient lesion (seed 000 §MRI).
SUBCHONDRAL_CHANGES = (
    "subchondral_low_signal_band",
    "subchondral_fracture_line",
    "double_line_sign",
    "band_like_t1_lesion",
    "sif_band",
)
# Seen only on contrast-enhanced MRI: a reading of them (either way) means contrast was given.
CONTRAST_FINDINGS = ("delayed_enhancement", "focal_enhancing_lesion", "rim_enhancement", "contrast_enhancement")
# Findings that make BME episodes (bmefhir.derive.lesions) or say a study showed none.
BME_CONCEPTS = frozenset({"bone_marrow_edema", "t1_low_signal", "t2_high_signal", "stir_high_signal", "normal_study"})
_CONCEPT_OF_FACT = {fact: concept for concept, fact in MORPHOLOGY_FACTS.items()}
_TIMELINE_FACT_PREFIXES = ("bme_", "migration", "recurrence_", "episode_", "follow_up_mri")
# The registry's "at >= 3 unrelated sites" for bme_multifocal_simultaneous.
MULTIFOCAL_MIN_JOINTS = 3


def concepts_behind(fact: str) -> frozenset[str]:
    """The finding concepts an imaging fact is derived from (empty for non-imaging facts).

    Lets an explanation show the report phrases behind a fact, not every phrase of the report."""
    if fact in _CONCEPT_OF_FACT:
        return frozenset({_CONCEPT_OF_FACT[fact]})
    if fact == "subchondral_changes_absent":
        return frozenset(SUBCHONDRAL_CHANGES)
    if fact == "contrast_mri_done":
        return frozenset(CONTRAST_FINDINGS)
    if fact.startswith(_TIMELINE_FACT_PREFIXES):
        return BME_CONCEPTS
    return frozenset()


def _refs(episodes: Iterable[Episode]) -> list[str]:
    return [ref for e in episodes for ref in e.evidence]


@cache
def _label(structure: str, side: str | None) -> str:
    return lane_label(structure, side)


def _labels(episodes: Iterable[Episode]) -> str:
    return ", ".join(dict.fromkeys(_label(e.structure, e.side) for e in episodes))


def _site(e: Episode) -> tuple[str, str | None]:
    return (e.joint or e.structure, e.side)


def _overlap(a: Episode, b: Episode) -> bool:
    return a.first_seen <= b.last_seen and b.first_seen <= a.last_seen


class _Known:
    """Sets a boolean True with the matching episodes, else False with the BME-status evidence."""

    def __init__(self, facts: FactSet, base_refs: tuple[str, ...]) -> None:
        self.facts, self.base_refs = facts, base_refs

    def __call__(self, name: str, hits: list[Episode], note_false: str) -> None:
        if hits:
            self.facts.put(name, True, _refs(hits), _labels(hits))
        else:
            self.facts.put(name, False, self.base_refs, note_false)


def _pairs_on_same_day(
    lesions: Lesions, first: frozenset[str], second: frozenset[str], side_free: bool = False
) -> list[tuple[date, str | None]]:
    """(date, side) where a structure of ``first`` and one of ``second`` had BME together.

    ``side_free``: a side-less reading of ``second`` (a midline sacrum) pairs with either side.
    """
    hits = []
    for (d, side), structures in lesions.positive_sites.items():
        if structures & first:
            other = structures | (lesions.positive_sites.get((d, None), frozenset()) if side_free else frozenset())
            if other & second:
                hits.append((d, side))
    return sorted(hits, key=lambda h: (h[0], h[1] or ""))


def _distribution(lesions: Lesions, known: _Known) -> None:
    episodes = lesions.timeline.episodes
    for name, joints in REGION_FACTS:
        known(name, [e for e in episodes if e.joint in joints], "no BME episode in this region")
    known(
        "bme_subchondral_site",
        [e for e in episodes if (s := STRUCTURES.get(e.structure)) is not None and s.subchondral],
        "no BME at a subchondral site",
    )

    def dated(name: str, hits: list[tuple[date, str | None]], pick: Callable[[Episode], bool]) -> None:
        days = {d for d, _ in hits}
        matched = [e for e in episodes if pick(e) and any(e.first_seen <= d <= e.last_seen for d in days)]
        if hits:
            known.facts.put(name, True, _refs(matched), f"{_labels(matched)} on {hits[0][0].isoformat()}")
        else:
            known(name, [], "not seen together on one MRI")

    head_neck = _pairs_on_same_day(lesions, frozenset({"femoral_head"}), frozenset({"femoral_neck", "proximal_femur"}))
    dated("bme_femoral_head_neck_diffuse", head_neck, lambda e: e.joint == "hip")
    sij = _pairs_on_same_day(lesions, frozenset({"ilium"}), frozenset({"sacrum"}), side_free=True)
    dated("bme_sacroiliac_both_sides_of_joint", sij, lambda e: e.structure in ("ilium", "sacrum"))

    bilateral = [
        e
        for e in episodes
        if e.joint is not None
        and e.side in ("left", "right")
        and any(o.joint == e.joint and o.side not in (e.side, None) and _overlap(e, o) for o in episodes)
    ]
    known("bme_bilateral_same_joint", bilateral, "no same joint on both sides at one time")

    multifocal: list[Episode] = []
    for e in episodes:
        active = [o for o in episodes if o.first_seen <= e.first_seen <= o.last_seen]
        if len({_site(o) for o in active}) >= MULTIFOCAL_MIN_JOINTS:
            multifocal = active
            break
    known("bme_multifocal_simultaneous", multifocal, f"never {MULTIFOCAL_MIN_JOINTS}+ joints at one time")


def _course(lesions: Lesions, facts: FactSet) -> None:
    episodes = lesions.timeline.episodes
    resolved = [e for e in episodes if e.resolved_on is not None]
    persisting = [e for e in episodes if e.resolved_on is None and e.last_seen > e.first_seen]
    if resolved:
        facts.put("bme_resolved", True, _refs(resolved), "resolved: " + _labels(resolved))
    elif persisting:
        facts.put("bme_resolved", False, _refs(persisting), "persisting on follow-up: " + _labels(persisting))
    if len(resolved) == len(episodes):
        facts.put("bme_all_resolved", True, _refs(resolved), f"{len(resolved)} of {len(episodes)} resolved")
    elif persisting:
        facts.put("bme_all_resolved", False, _refs(persisting), "persisting on follow-up: " + _labels(persisting))
    longest = max(episodes, key=lambda e: ((e.resolved_on or e.last_seen) - e.first_seen).days)
    days = ((longest.resolved_on or longest.last_seen) - longest.first_seen).days
    facts.put("episode_duration_days_max", days, longest.evidence, f"{_label(longest.structure, longest.side)}")

    affected = {_site(e) for e in episodes}
    followed = [
        site
        for site in affected
        if len(lesions.mri_dates.get(site, frozenset()) | lesions.mri_dates.get((site[0], None), frozenset())) > 1
    ]
    facts.put(
        "follow_up_mri_done",
        bool(followed),
        _refs(e for e in episodes if _site(e) in followed) or _refs(episodes),
        "repeat MRI of an affected site" if followed else "one MRI per affected site",
    )

    timeline = lesions.timeline
    recurrences = [episodes[later] for _, later in timeline.recurrences]
    if recurrences:
        facts.put("recurrence_same_site", True, _refs(recurrences), "recurred: " + _labels(recurrences))
    elif resolved:
        facts.put("recurrence_same_site", False, _refs(resolved), "no BME after resolution at the same site")

    migrations = timeline.migrations
    if not migrations and not followed:
        return  # one MRI per site: a migration could not have been seen
    refs = [r for m in migrations for r in m.evidence] or _refs(episodes)
    facts.put("migration", bool(migrations), refs, f"{len(migrations)} migration(s)")
    facts.put("migration_count", len(migrations), refs, f"{len(migrations)} migration(s)")
    for name, kind in (
        ("migration_adjacent_joint", "adjacent_joint"),
        ("migration_same_joint", "same_joint"),
        ("migration_contralateral", "contralateral"),
    ):
        hits = [m for m in migrations if m.kind == kind]
        facts.put(name, bool(hits), [r for m in hits for r in m.evidence] or refs, f"{len(hits)} {kind}")
    directed = [m for m in migrations if m.proximal_to_distal is not None]
    if directed:
        # The first comparable migration gives the direction (seed 001: hip → ankle, then ankle → knee).
        first = directed[0]
        a, b = episodes[first.from_episode], episodes[first.to_episode]
        facts.put(
            "migration_proximal_to_distal",
            bool(first.proximal_to_distal),
            first.evidence,
            f"{_label(a.structure, a.side)} → {_label(b.structure, b.side)}",
        )
    if migrations:
        shortest = min(migrations, key=lambda m: (m.interval_days, m.to_episode))
        facts.put(
            "migration_interval_days_min",
            shortest.interval_days,
            shortest.evidence,
            f"{shortest.interval_days} d between first sightings",
        )


def _morphology(index: RecordIndex, bme_present: bool, facts: FactSet) -> None:
    today = index.today
    for concept in index.findings.keys() & MORPHOLOGY_FACTS.keys():
        seen = [f for f in index.findings[concept] if f.date is None or f.date <= today]
        present = [f for f in seen if f.present]
        chosen = present or seen
        if chosen:
            dates = [f.date for f in chosen if f.date is not None]
            when = min(dates).isoformat() if dates else "undated"
            # Hedged text ("cannot exclude a double-line sign") is a weaker "present", never an "absent".
            hedged = bool(present) and all(f.uncertain for f in present)
            note = f"{concept} {'present' if present else 'absent'}{' (uncertain)' if hedged else ''} {when}" + (
                f" (+{len(chosen) - 1})" if len(chosen) > 1 else ""
            )
            facts.put(MORPHOLOGY_FACTS[concept], bool(present), [f.ref for f in chosen], note, uncertain=hedged)
    contrast = [f.ref for c in CONTRAST_FINDINGS for f in index.findings.get(c, ())]
    contrast += [s.ref for s in index.record.studies if s.contrast]  # "with contrast" in the study description
    if contrast:
        facts.put("contrast_mri_done", True, sorted(set(contrast)), "contrast-enhanced MRI on record")
    if bme_present:
        changes = [facts.get(name) for name in SUBCHONDRAL_CHANGES]
        found = [f for f in changes if f is not None and f.value is True]
        ruled_out = [f for f in changes if f is not None and f.value is False]
        if found:
            facts.put(
                "subchondral_changes_absent",
                False,
                [r for f in found for r in f.evidence],
                "subchondral change present",
                uncertain=all(f.uncertain for f in found),
            )
        elif ruled_out:
            facts.put(
                "subchondral_changes_absent",
                True,
                [r for f in ruled_out for r in f.evidence],
                "subchondral changes looked for and absent",
            )


def _every_site_followed(index: RecordIndex, lesions: Lesions, facts: FactSet) -> None:
    """``follow_up_mri_every_site``: every affected site has been imaged by MRI on more than one date.

    Affected sites are those of the BME episodes and of every positive MRI finding (an osteonecrosis
    band or statement without coded oedema included). A follow-up MRI already answers what the
    follow-up step asks (does the lesion regress or declare itself); a site seen once, such as the
    joint BME has just migrated to, still wants one.
    """
    today = index.today
    lanes: dict[tuple[str, str | None], list[str]] = {}
    for e in lesions.timeline.episodes:
        lanes.setdefault(_site(e), []).extend(e.evidence)
    for f in index.record.findings:
        if not (f.present and f.modality == "MR" and f.site is not None and f.date is not None and f.date <= today):
            continue
        if f.concept == "normal_study" or f.uncertain:
            continue
        group = group_of(f.site.structure)
        for side in ("left", "right") if f.site.side == "bilateral" else (f.site.side,):
            lanes.setdefault((group, side), []).append(f.ref)
    if not lanes:
        return

    def dates(lane: tuple[str, str | None]) -> frozenset[date]:
        joint, side = lane
        if side is None:  # a side-less reading pairs with MRIs of either side
            return frozenset(d for (j, _s), ds in lesions.mri_dates.items() if j == joint for d in ds)
        return lesions.mri_dates.get(lane, frozenset()) | lesions.mri_dates.get((joint, None), frozenset())

    once = sorted((lane for lane in lanes if len(dates(lane)) < 2), key=lambda ln: (ln[0], ln[1] or ""))
    refs = sorted({r for lane in (once or lanes) for r in lanes[lane]})
    note = (
        "imaged once: " + ", ".join(_label(j, s) for j, s in once)
        if once
        else f"{len(lanes)} affected site(s), each imaged by MRI more than once"
    )
    facts.put("follow_up_mri_every_site", not once, refs, note)


def derive_imaging(index: RecordIndex, lesions: Lesions, facts: FactSet) -> None:
    _every_site_followed(index, lesions, facts)
    episodes = lesions.timeline.episodes
    normal_mri = [
        f.ref
        for f in index.findings.get("normal_study", ())
        if f.present and f.modality in (None, "MR") and (f.date is None or f.date <= index.today)
    ]
    if episodes:
        base = tuple(sorted(set(_refs(episodes))))
        facts.put("bme_present", True, base, _labels(episodes))
    elif lesions.absent_refs or normal_mri:
        base = tuple(sorted({*lesions.absent_refs, *normal_mri}))
        facts.put("bme_present", False, base, "MRI without BME")
    else:
        _morphology(index, False, facts)
        return
    facts.put("bme_episode_count", len(episodes), base, f"{len(episodes)} episode(s)")
    joints = {_site(e) for e in episodes}
    facts.put("bme_joint_count", len(joints), base, f"{len(joints)} joint(s)")
    _distribution(lesions, _Known(facts, base))
    if episodes:
        _course(lesions, facts)
    _morphology(index, bool(episodes), facts)
