"""Imaging facts from the timeline and MRI morphology."""

from __future__ import annotations

from .builders import bme, finding, run


def test_region_flags_true_at_the_site_false_elsewhere_when_bme_known() -> None:
    facts = run(bme("2024-01-10", "medial_femoral_condyle", "left")).facts
    assert facts["bme_present"].value is True
    assert facts["bme_knee"].value is True
    assert facts["bme_lower_limb"].value is True
    assert facts["bme_subchondral_site"].value is True
    assert facts["bme_hip"].value is False
    assert facts["bme_ankle_foot"].value is False
    assert facts["bme_sacroiliac"].value is False
    assert facts["bme_episode_count"].value == 1.0
    assert facts["bme_joint_count"].value == 1.0


def test_no_imaging_leaves_imaging_facts_unknown() -> None:
    facts = run().facts
    assert not any(name.startswith(("bme_", "migration", "episode_")) for name in facts)


def test_negative_mri_sets_bme_present_false() -> None:
    facts = run(bme("2024-01-10", "hip", "left", present=False)).facts
    assert facts["bme_present"].value is False
    assert facts["bme_episode_count"].value == 0.0
    assert facts["bme_hip"].value is False
    assert "bme_resolved" not in facts


def test_head_without_neck_is_not_the_diffuse_pattern() -> None:
    facts = run(bme("2024-01-10", "femoral_head", "right"), bme("2024-01-10", "femoral_neck", "left")).facts
    assert facts["bme_femoral_head_neck_diffuse"].value is False
    assert facts["bme_bilateral_same_joint"].value is True  # hip, both sides, same MRI


def test_proximal_femur_counts_with_the_head_as_diffuse() -> None:
    facts = run(bme("2024-01-10", "femoral_head", "right"), bme("2024-01-10", "proximal_femur", "right")).facts
    assert facts["bme_femoral_head_neck_diffuse"].value is True
    assert facts["bme_bilateral_same_joint"].value is False


def test_sacrum_alone_is_not_both_sides_of_the_sij() -> None:
    facts = run(bme("2024-01-10", "sacrum", "right"), bme("2024-02-10", "ilium", "right")).facts
    assert facts["bme_sacroiliac"].value is True
    assert facts["bme_sacroiliac_both_sides_of_joint"].value is False


def test_multifocal_needs_three_joints_at_one_time() -> None:
    two = run(bme("2024-01-10", "femoral_head", "left"), bme("2024-01-10", "talus", "left")).facts
    assert two["bme_multifocal_simultaneous"].value is False
    three = run(
        bme("2024-01-10", "femoral_head", "left"),
        bme("2024-01-10", "talus", "left"),
        bme("2024-02-10", "medial_femoral_condyle", "right"),
        bme("2024-02-10", "talus", "left"),
    ).facts
    assert three["bme_multifocal_simultaneous"].value is False  # the hip was not re-imaged as still positive
    three_at_once = run(
        bme("2024-01-10", "femoral_head", "left"),
        bme("2024-01-10", "talus", "left"),
        bme("2024-01-10", "medial_femoral_condyle", "right"),
    ).facts
    assert three_at_once["bme_multifocal_simultaneous"].value is True


def test_resolution_duration_and_follow_up() -> None:
    facts = run(
        bme("2024-01-10", "talus", "right"),
        bme("2024-03-10", "talus", "right"),
        bme("2024-02-10", "femoral_head", "left"),
        bme("2024-05-10", "talus", "right", present=False),
    ).facts
    assert facts["bme_resolved"].value is True
    assert "bme_all_resolved" not in facts  # femoral head seen once: unknown
    assert facts["episode_duration_days_max"].value == 121.0
    assert facts["follow_up_mri_done"].value is True
    # A new site while the first is active is a migration, here to another limb.
    assert facts["migration"].value is True
    assert facts["migration_adjacent_joint"].value is False
    assert facts["migration_contralateral"].value is False


def test_persisting_bme_on_follow_up_means_not_resolved() -> None:
    facts = run(bme("2024-01-10", "talus", "right"), bme("2024-04-10", "talus", "right")).facts
    assert facts["bme_resolved"].value is False
    assert facts["bme_all_resolved"].value is False
    assert facts["migration"].value is False
    assert "recurrence_same_site" not in facts


def test_single_mri_leaves_course_facts_unknown() -> None:
    facts = run(bme("2024-01-10", "talus", "right")).facts
    assert facts["follow_up_mri_done"].value is False
    for name in ("bme_resolved", "bme_all_resolved", "migration", "recurrence_same_site"):
        assert name not in facts


def test_morphology_true_when_present_false_when_looked_for() -> None:
    facts = run(
        bme("2024-01-10", "femoral_head", "right"),
        finding("double_line_sign", "2024-01-10", "femoral_head", "right"),
        finding("joint_effusion", "2024-01-10", "hip", "right", present=False),
        finding("geographic_reticular_bme_trauma_pattern", "2024-01-10", "femoral_head", "right", present=False),
    ).facts
    assert facts["double_line_sign"].value is True
    assert facts["joint_effusion"].value is False
    assert facts["bone_contusion_pattern"].value is False
    assert "synovitis" not in facts
    assert facts["subchondral_changes_absent"].value is False


def test_subchondral_changes_absent_only_when_looked_for() -> None:
    silent = run(bme("2024-01-10", "femoral_head", "right")).facts
    assert "subchondral_changes_absent" not in silent
    looked = run(
        bme("2024-01-10", "femoral_head", "right"),
        finding("subchondral_low_signal_band", "2024-01-10", "femoral_head", "right", present=False),
    ).facts
    assert looked["subchondral_changes_absent"].value is True
    assert looked["subchondral_low_signal_band"].value is False


def test_contrast_mri_from_enhancement_findings() -> None:
    facts = run(
        bme("2024-01-10", "talus", "right"),
        finding("delayed_enhancement", "2024-01-10", "talus", "right"),
    ).facts
    assert facts["contrast_mri_done"].value is True
    assert facts["delayed_enhancement"].value is True
    assert "contrast_mri_done" not in run(bme("2024-01-10", "talus", "right")).facts


def test_follow_up_mri_every_site_needs_a_second_mri_of_each_affected_site() -> None:
    followed = run(bme("2024-01-10", "femoral_head", "right"), bme("2024-03-10", "femoral_head", "right")).facts
    assert followed["follow_up_mri_every_site"].value is True
    # BME migrated to the knee, seen once there: the knee still wants its follow-up.
    migrated = run(
        bme("2024-01-10", "talus", "right"),
        bme("2024-03-10", "talus", "right"),
        bme("2024-03-12", "medial_femoral_condyle", "right"),
    ).facts
    assert migrated["follow_up_mri_done"].value is True
    assert migrated["follow_up_mri_every_site"].value is False
    # Two joints on one day are not a follow-up of either.
    same_day = run(bme("2024-01-10", "femoral_head", None), bme("2024-01-10", "medial_femoral_condyle", None)).facts
    assert same_day["follow_up_mri_every_site"].value is False


def test_follow_up_mri_every_site_counts_lesions_without_coded_oedema() -> None:
    """Osteonecrosis stated on two MRIs of the hip (no BME finding) is a followed-up site."""
    facts = run(
        finding("osteonecrosis_reported", "2024-01-10", "femoral_head", "left"),
        finding("normal_study", "2024-01-10", "femoral_head", "right"),
        finding("osteonecrosis_reported", "2024-03-10", "femoral_head", "bilateral"),
    ).facts
    assert facts["follow_up_mri_every_site"].value is True
    once = run(finding("osteonecrosis_reported", "2024-01-10", "femoral_head", "left")).facts
    assert once["follow_up_mri_every_site"].value is False
    assert "follow_up_mri_every_site" not in run().facts
