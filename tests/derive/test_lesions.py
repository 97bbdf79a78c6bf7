"""The lesion timeline: episodes, resolution, recurrence, migration, caveats."""

from __future__ import annotations

from datetime import date

from bmefhir.derive import Derived, Episode

from .builders import bme, cond, d, finding, obs, run, study


def lanes(derived: Derived) -> list[tuple[str, str | None, date, date | None]]:
    return [(e.structure, e.side, e.first_seen, e.resolved_on) for e in derived.timeline.episodes]


def episode_at(derived: Derived, index: int) -> Episode:
    return derived.timeline.episodes[index]


def test_consecutive_positives_form_one_episode_closed_by_the_first_absent() -> None:
    derived = run(
        bme("2024-01-10", "talus", "right"),
        bme("2024-02-10", "talus", "right"),
        bme("2024-04-10", "talus", "right", present=False),
        bme("2024-05-10", "talus", "right", present=False),
    )
    (episode,) = derived.timeline.episodes
    assert (episode.first_seen, episode.last_seen, episode.resolved_on) == (
        d("2024-01-10"),
        d("2024-02-10"),
        d("2024-04-10"),
    )
    assert episode.joint == "ankle"
    assert "Observation/bone_marrow_edema-talus-right-2024-04-10-False" in episode.evidence
    assert list(episode.evidence) == sorted(episode.evidence)
    assert derived.timeline.recurrences == ()


def test_positive_after_resolution_is_a_recurrence_at_the_same_lane() -> None:
    derived = run(
        bme("2023-01-10", "femoral_head", "left"),
        bme("2023-06-10", "femoral_head", "left", present=False),
        bme("2024-02-10", "femoral_head", "left"),
    )
    assert lanes(derived) == [
        ("femoral_head", "left", d("2023-01-10"), d("2023-06-10")),
        ("femoral_head", "left", d("2024-02-10"), None),
    ]
    assert derived.timeline.recurrences == ((0, 1),)
    assert derived.timeline.migrations == ()
    assert derived.facts["recurrence_same_site"].value is True


def seed_001() -> Derived:
    """RMO, right hip → right talus → right medial femoral condyle (seed 001)."""
    return run(
        bme("2023-01-10", "femoral_head", "right"),
        bme("2023-01-10", "femoral_neck", "right"),
        bme("2023-07-10", "talus", "right"),
        bme("2023-08-25", "medial_femoral_condyle", "right"),
        bme("2023-09-10", "hip", "right", present=False),
        bme("2023-11-25", "talus", "right", present=False),
        bme("2023-11-25", "medial_femoral_condyle", "right", present=False),
    )


def test_seed_001_hip_to_ankle_is_distant_proximal_to_distal_then_ankle_to_knee_adjacent() -> None:
    derived = seed_001()
    episodes = derived.timeline.episodes
    assert [e.structure for e in episodes] == ["femoral_head", "femoral_neck", "talus", "medial_femoral_condyle"]
    # The joint-level "hip: BME resolved" closes both hip structures.
    assert episodes[0].resolved_on == episodes[1].resolved_on == d("2023-09-10")
    first, second = derived.timeline.migrations
    assert episodes[first.from_episode].joint == "hip"
    assert episodes[first.to_episode].structure == "talus"
    assert (first.kind, first.proximal_to_distal, first.interval_days) == ("distant", True, 181)
    assert (episodes[second.from_episode].structure, episodes[second.to_episode].structure) == (
        "talus",
        "medial_femoral_condyle",
    )
    assert (second.kind, second.proximal_to_distal, second.interval_days) == ("adjacent_joint", False, 46)
    facts = derived.facts
    assert facts["migration_count"].value == 2.0
    assert facts["migration_adjacent_joint"].value is True
    assert facts["migration_same_joint"].value is False
    assert facts["migration_proximal_to_distal"].value is True
    assert facts["migration_interval_days_min"].value == 46.0
    assert facts["bme_all_resolved"].value is True


def test_seed_002_talus_to_distal_tibia_is_a_same_joint_migration() -> None:
    derived = run(
        bme("2023-01-10", "talus", "right"),
        bme("2023-05-10", "talus", "right", present=False),
        bme("2023-05-10", "distal_tibia", "right"),
        bme("2023-07-10", "ankle", "right", present=False),
    )
    assert lanes(derived) == [
        ("talus", "right", d("2023-01-10"), d("2023-05-10")),
        ("distal_tibia", "right", d("2023-05-10"), d("2023-07-10")),
    ]
    (migration,) = derived.timeline.migrations
    assert (migration.from_episode, migration.to_episode) == (0, 1)
    assert (migration.kind, migration.proximal_to_distal, migration.interval_days) == ("same_joint", None, 120)
    assert derived.facts["migration_same_joint"].value is True


def test_seed_003_left_sij_to_right_sij_is_contralateral() -> None:
    derived = run(
        bme("2023-03-01", "ilium", "left"),
        bme("2023-03-01", "sacrum", "left"),
        bme("2023-05-01", "sacroiliac_joint", "left", present=False),
        bme("2023-05-01", "sacrum", "right"),
        bme("2023-10-01", "sacroiliac_joint", "right", present=False),
    )
    (migration,) = derived.timeline.migrations
    source = episode_at(derived, migration.from_episode)
    target = episode_at(derived, migration.to_episode)
    assert source.side == "left"
    assert (target.structure, target.side) == ("sacrum", "right")
    assert migration.kind == "contralateral"
    assert migration.proximal_to_distal is None
    assert all(e.resolved_on is not None for e in derived.timeline.episodes)
    assert derived.facts["migration_contralateral"].value is True
    assert derived.facts["bme_sacroiliac_both_sides_of_joint"].value is True


def test_seed_004_simultaneous_bilateral_femoral_heads_are_not_a_migration() -> None:
    derived = run(
        bme("2024-05-20", "femoral_head", "bilateral"),
        bme("2024-05-20", "femoral_neck", "bilateral"),
    )
    assert [(e.structure, e.side) for e in derived.timeline.episodes] == [
        ("femoral_head", "left"),
        ("femoral_head", "right"),
        ("femoral_neck", "left"),
        ("femoral_neck", "right"),
    ]
    assert derived.timeline.migrations == ()
    facts = derived.facts
    assert facts["bme_bilateral_same_joint"].value is True
    assert facts["bme_femoral_head_neck_diffuse"].value is True
    assert "migration" not in facts  # one MRI: a migration could not have been seen
    assert [c.code for c in derived.timeline.caveats] == ["no_follow_up"] * 4


def test_later_episode_at_a_lane_already_involved_with_the_source_is_not_a_migration() -> None:
    derived = run(
        bme("2023-01-10", "femoral_head", "bilateral"),
        bme("2023-05-10", "femoral_head", "bilateral", present=False),
        bme("2023-09-10", "femoral_head", "right"),
    )
    assert derived.timeline.migrations == ()
    assert derived.timeline.recurrences == ((1, 2),)


def test_migration_source_must_be_active_or_resolved_within_a_year() -> None:
    derived = run(
        bme("2020-01-10", "femoral_head", "right"),
        bme("2020-05-10", "femoral_head", "right", present=False),
        bme("2023-01-10", "talus", "right"),
    )
    assert derived.timeline.migrations == ()


def test_joint_level_and_specific_structure_on_one_day_are_one_lesion() -> None:
    derived = run(
        bme("2024-01-10", "knee", "left", ref="Observation/knee"),
        bme("2024-01-10", "medial_femoral_condyle", "left", ref="Observation/mfc"),
        bme("2024-03-10", "knee", "left", present=False, ref="Observation/knee-clear"),
    )
    (episode,) = derived.timeline.episodes
    assert (episode.structure, episode.resolved_on) == ("medial_femoral_condyle", d("2024-03-10"))
    assert episode.evidence == ("Observation/knee", "Observation/knee-clear", "Observation/mfc")


def test_joint_level_absent_closes_only_its_own_side() -> None:
    derived = run(
        bme("2024-01-10", "femoral_head", "left"),
        bme("2024-01-10", "femoral_head", "right"),
        bme("2024-03-10", "hip", "left", present=False),
    )
    resolved = {e.side: e.resolved_on for e in derived.timeline.episodes}
    assert resolved == {"left": d("2024-03-10"), "right": None}


def test_t1_low_with_stir_high_counts_as_bme_when_no_explicit_finding() -> None:
    derived = run(
        finding("t1_low_signal", "2024-01-10", "talus", "right"),
        finding("stir_high_signal", "2024-01-10", "talus", "right"),
        finding("t1_low_signal", "2024-01-10", "calcaneus", "right"),  # T1 alone is not BME
    )
    assert [(e.structure, e.side) for e in derived.timeline.episodes] == [("talus", "right")]


def test_explicit_bme_finding_overrides_signal_equivalence() -> None:
    derived = run(
        finding("t1_low_signal", "2024-01-10", "talus", "right"),
        finding("t2_high_signal", "2024-01-10", "talus", "right"),
        bme("2024-01-10", "talus", "right", present=False),
    )
    assert derived.timeline.episodes == ()
    assert derived.facts["bme_present"].value is False


def test_undated_and_unsited_findings_are_skipped_with_a_caveat() -> None:
    derived = run(
        bme(None, "talus", "right", ref="Observation/undated"),
        bme("2024-01-10", None, ref="Observation/nosite"),
        bme("2024-01-10", "femoral_head", "right"),
    )
    assert len(derived.timeline.episodes) == 1
    caveats = {c.code: c for c in derived.timeline.caveats}
    assert caveats["undated_finding_skipped"].evidence == ("Observation/undated",)
    assert caveats["unsited_finding_skipped"].evidence == ("Observation/nosite",)
    assert "patient" not in caveats["undated_finding_skipped"].message.lower()


def test_findings_after_the_analysis_date_are_ignored() -> None:
    derived = run(bme("2024-01-10", "talus", "right"), bme("2025-01-10", "talus", "right", present=False))
    assert derived.timeline.episodes[0].resolved_on is None


def test_early_mri_and_radiograph_caveats_need_a_dated_onset() -> None:
    items = (
        bme("2024-01-02", "talus", "right", present=False),
        finding("periarticular_osteopenia", "2024-01-10", "ankle", "right", present=False, modality="DX"),
        study("2024-03-01", "MR"),
    )
    assert run(*items).timeline.caveats == ()
    derived = run(*items, cond("joint_pain", "2024-01-01"))
    codes = [c.code for c in derived.timeline.caveats]
    assert codes == ["mri_within_48h", "radiograph_before_3_weeks"]
    assert "Condition/joint_pain-2024-01-01" in derived.timeline.caveats[0].evidence


def test_sudden_onset_observation_dates_the_onset() -> None:
    derived = run(bme("2024-01-11", "talus", "right"), obs("sudden_onset_pain", True, "2024-01-10"))
    assert "mri_within_48h" in [c.code for c in derived.timeline.caveats]
