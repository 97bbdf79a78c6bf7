"""``warm_up`` (what ``bmefhir serve`` runs before it takes requests) exercises every part a first
call would load: the report reader in each language, validation, the differential."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

from bmefhir.normalize.parse import READ_TYPES, model_for, prepare
from bmefhir.pipeline import settle, warm_up
from bmefhir.reporttext.pipeline import pipeline


def test_warm_up_reads_a_report_in_each_language_and_loads_every_model() -> None:
    analysis = warm_up(datetime(2024, 6, 1, tzinfo=UTC))
    read = {(f.text.language, f.concept, f.present) for f in analysis.record.findings if f.text is not None}
    for language in ("en", "tr", "zh"):
        assert (language, "bone_marrow_edema", True) in read
        assert (language, "fracture_line", False) in read
    assert analysis.record.issues == ()  # its resources are valid FHIR: nothing to report
    assert analysis.differential.ranking  # the knowledge base was loaded and scored
    assert model_for.cache_info().currsize >= len(READ_TYPES)
    assert pipeline.cache_info().currsize >= 3
    assert prepare() >= 50  # every model's plan of validation in parts is built (normalize/parse.py)


def test_after_the_first_analysis_what_was_loaded_is_out_of_the_collectors_sight() -> None:
    warm_up(datetime(2024, 6, 1, tzinfo=UTC))
    frozen = gc.get_freeze_count()
    assert frozen > 100_000  # the models, pipelines and tables (about 250,000 objects)
    assert gc.get_threshold()[2] >= 100  # full collections made rarer
    assert gc.get_threshold()[0] >= 50_000  # young ones wait for a record's worth of objects
    settle()  # once per process: later calls freeze nothing more
    assert gc.get_freeze_count() == frozen
