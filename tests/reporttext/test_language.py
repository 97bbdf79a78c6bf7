"""Language detection without a hint on short texts (lingua's full mode among three candidates, models loaded
lazily: ``bmefhir.reporttext.language``): English and Turkish are read, other languages are "not ours"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bmefhir.reporttext import language, read_report

SAMPLES = yaml.safe_load(Path(__file__).with_name("language_samples.yaml").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _detect_every_time() -> Iterator[None]:
    language.set_detections(0)  # no remembered answers: each call below detects
    yield
    language.set_detections(language.DETECTIONS)


def _samples(group: str) -> list[tuple[str, str]]:
    return [(lang, text) for lang, texts in SAMPLES[group].items() for text in texts]


@pytest.mark.parametrize(("lang", "text"), _samples("not_ours"))
def test_a_short_text_in_a_language_we_do_not_read_is_not_ours(lang: str, text: str) -> None:
    assert len(text) < 120  # the short-text path (the full mode)
    assert language.detect_latin(text) is None, lang


def test_a_short_german_report_is_not_read() -> None:
    r = read_report("Befund: Knochenmarködem im Femurkopf rechts.")
    assert (r.language, r.mentions) == ("und", ())
    assert r.problems


def test_a_short_english_and_turkish_report_are_read_in_their_language() -> None:
    en = read_report("MRI left hip: bone marrow edema of the femoral head.")
    tr = read_report("Sol kalça MRG: femur başında kemik iliği ödemi.")
    assert (en.language, tr.language) == ("en", "tr")
    assert [m.concept for m in en.mentions] == ["bone_marrow_edema"]
    assert [m.concept for m in tr.mentions] == ["bone_marrow_edema"]


def test_short_english_and_turkish_samples_are_recognised() -> None:
    found = [(lang, language.detect_latin(text)) for lang, text in _samples("ours")]
    wrong = [(lang, text) for (lang, got), (_, text) in zip(found, _samples("ours"), strict=True) if got != lang]
    # At most one miss in 16 one-line texts ("No fracture line." is too short for lingua's full mode over the 16
    # candidates as well: benchmarks/language_detection.py); none read as the other language we read.
    assert len(wrong) <= 1, wrong
    assert not any(got in ("en", "tr") and got != lang for lang, got in found)


def test_a_turkish_text_without_turkish_only_letters_is_turkish() -> None:
    assert language.detect_latin("Talusta yaygın ödem mevcut.") == "tr"
    assert language.detect_latin("Subkondral kemik ödemi.") == "tr"


def test_a_text_too_short_for_any_trigram_is_no_language() -> None:
    assert language.detect_latin("No") is None
    assert read_report("No").language == "und"


def test_a_long_text_is_read_by_the_trigram_pass() -> None:
    long_en = "MRI of the left hip. Findings: diffuse bone marrow edema of the femoral head and neck. " * 2
    long_de = "MRT der linken Hüfte. Befund: ausgedehntes Knochenmarködem des Femurkopfes und des Halses. " * 2
    assert (language.detect_latin(long_en), language.detect_latin(long_de)) == ("en", None)
