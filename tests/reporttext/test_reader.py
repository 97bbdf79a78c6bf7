"""The report reader on realistic sentences (the seeds' own imaging descriptions), per language."""

from __future__ import annotations

import pytest

from bmefhir.record import Site
from bmefhir.reporttext import Mention, Reading, read_report
from bmefhir.reporttext.model import MAX_QUOTE_CHARS
from bmefhir.reporttext.reader import MAX_TEXT_CHARS


def found(reading: Reading, concept: str) -> list[Mention]:
    return [m for m in reading.mentions if m.concept == concept]


def one(reading: Reading, concept: str) -> Mention:
    hits = found(reading, concept)
    assert len(hits) == 1, (concept, hits)
    return hits[0]


def sites(reading: Reading, concept: str) -> set[tuple[str, str | None]]:
    return {(m.site.structure, m.site.side) for m in found(reading, concept) if m.site is not None}


def assert_quotes_are_spans(text: str, reading: Reading) -> None:
    for m in reading.mentions:
        assert text[m.start : m.end] == m.quote
        assert 0 < len(m.quote) <= MAX_QUOTE_CHARS


# --- English (seeds 002, 003) ---------------------------------------------------------------------

EN_TALUS = (
    "MRI right ankle. Findings: Low signal on T1 and high signal on STIR in the head and neck of the talus, "
    "consistent with bone marrow edema. No fracture line. No joint effusion."
)


def test_english_affirmed_and_negated_with_site_and_title_side() -> None:
    r = read_report(EN_TALUS)
    assert r.language == "en"
    assert r.modality == "MR"
    for concept in ("t1_low_signal", "stir_high_signal", "bone_marrow_edema"):
        m = one(r, concept)
        assert (m.assertion, m.site, m.section) == ("affirmed", Site("talus", "right"), "findings")
    assert one(r, "fracture_line").assertion == "negated"
    effusion = one(r, "joint_effusion")
    assert (effusion.assertion, effusion.site) == ("negated", Site("ankle", "right"))
    assert_quotes_are_spans(EN_TALUS, r)


def test_english_sections_history_hypothesis_and_resolution() -> None:
    text = (
        "MRI PELVIS\nClinical information: low back pain. Evaluate for stress fracture.\n"
        "Technique: T1 and fat-suppressed T2 images; bone marrow edema protocol.\n"
        "Comparison: prior MRI showed bone marrow edema of the left sacroiliac joint.\n"
        "Findings: The previously seen edema of the left sacroiliac joint has resolved. Bone marrow edema of "
        "the sacral side of the right sacroiliac joint. Possible subchondral fracture of the sacrum.\n"
        "Impression: Migration of bone marrow edema, suggestive of regional migratory osteoporosis."
    )
    r = read_report(text)
    by_section = {(m.section, m.concept, m.assertion) for m in r.mentions}
    assert ("clinical_information", "fracture_line", "hypothetical") in by_section
    assert not [m for m in r.mentions if m.section == "technique"]
    assert ("comparison", "bone_marrow_edema", "historical") in by_section
    edema = [m for m in found(r, "bone_marrow_edema") if m.section == "findings"]
    assert {(m.site, m.assertion) for m in edema} == {
        (Site("sacroiliac_joint", "left"), "negated"),
        (Site("sacrum", "right"), "affirmed"),
    }
    assert one(r, "subchondral_fracture_line").assertion == "uncertain"
    assert_quotes_are_spans(text, r)


@pytest.mark.parametrize(
    ("sentence", "assertion"),
    [
        ("The previously seen edema of the talus persists.", "affirmed"),
        ("Bone marrow edema of the talus is again seen.", "affirmed"),
        ("On the prior MRI there was bone marrow edema of the talus.", "historical"),
        ("History of avascular necrosis of the femoral head.", "historical"),
        ("Bone marrow edema of the talus, consistent with transient osteoporosis.", "affirmed"),
        ("Osteonecrosis of the femoral head cannot be excluded.", "uncertain"),
        ("Findings suspicious for osteonecrosis of the femoral head.", "uncertain"),
        ("r/o avascular necrosis of the femoral head.", "hypothetical"),
        ("The bone marrow edema of the talus is no longer seen.", "negated"),
        ("No evidence of bone marrow edema in the femoral head.", "negated"),
    ],
)
def test_english_assertions(sentence: str, assertion: str) -> None:
    r = read_report(sentence, "en-US")
    assert r.mentions, sentence
    assert {m.assertion for m in r.mentions} == {assertion}


def test_english_multi_site_and_bilateral() -> None:
    r = read_report("Bone marrow edema of the talus and distal tibia. Bilateral femoral head osteonecrosis.", "en")
    assert sites(r, "bone_marrow_edema") == {("talus", None), ("distal_tibia", None)}
    assert len({m.quote for m in found(r, "bone_marrow_edema")}) == 1  # one quote shared by both sites
    assert sites(r, "osteonecrosis_reported") == {("femoral_head", "bilateral")}


def test_english_side_binds_to_its_own_site() -> None:
    r = read_report("Bone marrow edema of the right femoral head and the left medial femoral condyle.", "en")
    assert sites(r, "bone_marrow_edema") == {("femoral_head", "right"), ("medial_femoral_condyle", "left")}


def test_english_head_and_neck_is_two_sites() -> None:
    r = read_report("Diffuse bone marrow edema of the femoral head and neck.", "en")
    assert sites(r, "bone_marrow_edema") == {("femoral_head", None), ("femoral_neck", None)}


def test_english_hard_wrapped_lines_read_as_one_sentence() -> None:
    r = read_report("MRI RIGHT KNEE\nFindings: Marginal erosions of the lateral tibial\nplateau.", "en")
    assert sites(r, "erosions") == {("lateral_tibial_plateau", "right")}


# --- Turkish (seeds 000, 001) ---------------------------------------------------------------------


def test_turkish_seed_001_ankle_and_resolution() -> None:
    text = (
        "Sağ ayak bileği MRG. Bulgular: T2 sekansta talusta belirgin ödem ve intensite artışı izlendi. "
        "Eklem efüzyonu saptanmadı. Sağ femur başı ve boyun bölgesindeki kemik iliği ödeminin tamamen "
        "gerilediği izlendi."
    )
    r = read_report(text, "tr-TR")
    assert r.language == "tr"
    assert r.modality == "MR"
    edema = found(r, "bone_marrow_edema")
    assert {(m.site, m.assertion) for m in edema} == {
        (Site("talus", "right"), "affirmed"),
        (Site("femoral_head", "right"), "negated"),
        (Site("femoral_neck", "right"), "negated"),
    }
    assert one(r, "t2_high_signal").site == Site("talus", "right")
    assert one(r, "joint_effusion").assertion == "negated"
    assert_quotes_are_spans(text, r)


@pytest.mark.parametrize(
    ("sentence", "assertion"),
    [
        ("Femur medial kondilde yaygın kemik iliği ödemi izlenmektedir.", "affirmed"),
        ("Sol femur başında kemik iliği ödemi izlenmedi.", "negated"),
        ("Sol femur başında kemik iliği ödemi görülmemiştir.", "negated"),
        ("Sol femur başında subkondral kırık dışlanamaz.", "uncertain"),
        ("Görünüm sol femur başında osteonekrozu düşündürür.", "uncertain"),
        ("Olası sol femur başı osteonekrozu.", "uncertain"),
        ("Altı ay önce yapılan MRG'de sağ femur başında kemik iliği ödemi mevcuttu.", "historical"),
        ("Talustaki kemik iliği ödemi kaybolmuş.", "negated"),
    ],
)
def test_turkish_assertions(sentence: str, assertion: str) -> None:
    r = read_report(sentence, "tr")
    assert r.mentions, sentence
    assert {m.assertion for m in r.mentions} == {assertion}


def test_turkish_sections_and_both_sides() -> None:
    text = "Klinik bilgi: AVN ön tanısı.\nBulgular: Her iki sakroiliak eklemde kemik iliği ödemi izlendi."
    r = read_report(text, "tr")
    assert one(r, "osteonecrosis_reported").assertion == "hypothetical"
    edema = one(r, "bone_marrow_edema")
    assert (edema.site, edema.assertion, edema.section) == (
        Site("sacroiliac_joint", "bilateral"),
        "affirmed",
        "findings",
    )


def test_turkish_suffixed_site_words() -> None:
    r = read_report("Sağ femur başının ve talusun kemik iliği ödemi.", "tr")
    assert sites(r, "bone_marrow_edema") == {("femoral_head", "right"), ("talus", "right")}


# --- Chinese (seed 004) ---------------------------------------------------------------------------


def test_chinese_seed_004_reconversion_bilateral() -> None:
    text = "双侧髋关节MRI。股骨头、颈骨质信号欠均匀。诊断意见：考虑股骨头、颈骨髓逆转换。"
    r = read_report(text)
    assert r.language == "zh"
    recon = found(r, "marrow_reconversion_pattern")
    assert {(m.site, m.assertion) for m in recon} == {
        (Site("femoral_head", "bilateral"), "affirmed"),
        (Site("femoral_neck", "bilateral"), "affirmed"),
        (Site("femoral_head", "bilateral"), "uncertain"),
        (Site("femoral_neck", "bilateral"), "uncertain"),
    }
    assert {m.section for m in recon if m.assertion == "uncertain"} == {"impression"}
    assert_quotes_are_spans(text, r)


@pytest.mark.parametrize(
    ("sentence", "assertion"),
    [
        ("右侧股骨头骨髓水肿。", "affirmed"),
        ("右侧股骨头未见骨髓水肿。", "negated"),
        ("左侧股骨头骨髓水肿已消失。", "negated"),
        ("右侧股骨头坏死不除外。", "uncertain"),
        ("疑似右侧股骨头坏死。", "uncertain"),
        ("既往右侧股骨头坏死病史。", "historical"),
        ("右侧股骨头仍见骨髓水肿。", "affirmed"),
    ],
)
def test_chinese_assertions(sentence: str, assertion: str) -> None:
    r = read_report(sentence, "zh-CN")
    assert r.mentions, sentence
    assert {m.assertion for m in r.mentions} == {assertion}


def test_chinese_signals_and_comma_scope() -> None:
    r = read_report("右侧股骨头见片状T1WI低信号、T2WI压脂高信号，未见骨折线，关节腔少量积液。", "zh-Hans")
    assert one(r, "t1_low_signal").site == Site("femoral_head", "right")
    assert one(r, "t2_high_signal").assertion == "affirmed"
    assert one(r, "fracture_line").assertion == "negated"
    effusion = one(r, "joint_effusion")
    assert (effusion.assertion, effusion.site) == ("affirmed", Site("hip", "right"))  # the comma ends 未见


# --- language, mixed text, limits -----------------------------------------------------------------


def test_mixed_english_report_with_chinese_impression() -> None:
    text = "MRI RIGHT HIP. Findings: Diffuse bone marrow edema of the femoral head. Impression: 右侧股骨头骨髓水肿。"
    r = read_report(text)
    languages = {m.language for m in found(r, "bone_marrow_edema")}
    assert languages == {"en", "zh"}
    zh = next(m for m in r.mentions if m.language == "zh")
    assert zh.section == "impression"
    assert zh.site == Site("femoral_head", "right")
    assert_quotes_are_spans(text, r)


def test_an_unsupported_language_is_not_read() -> None:
    r = read_report("MRT rechtes Sprunggelenk: ausgeprägtes Knochenmarködem im Talus, kein Gelenkerguss.")
    assert r.language == "und"
    assert not r.mentions
    assert r.problems


def test_an_unsupported_hint_is_not_read() -> None:
    r = read_report("Bone marrow edema of the talus.", "de-DE")
    assert (r.language, r.mentions) == ("und", ())
    assert r.problems
    assert "Bone" not in r.problems[0]


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text_is_a_problem_not_an_error(text: str) -> None:
    r = read_report(text)
    assert (r.language, r.mentions) == ("und", ())
    assert r.problems == ("report text is empty",)


def test_huge_text_is_truncated_with_a_problem() -> None:
    sentence = "Bone marrow edema of the right talus. "
    text = sentence * (MAX_TEXT_CHARS // len(sentence) + 50)
    r = read_report(text, "en")
    assert any("longer than" in p for p in r.problems)
    assert r.mentions
    assert max(m.end for m in r.mentions) <= MAX_TEXT_CHARS


@pytest.mark.parametrize(
    "text",
    [
        "Bone marrow edema of the talus.\ud800 No effusion.",
        "Bone\x00 marrow edema\x1b of the talus.\x7f",
        "\ufeff骨髓水肿\u200b。\udfff",
        "ödem" * 3 + "\u0301\u0301",
        "🦴 bone marrow edema 🦴 of the talus",
    ],
)
def test_odd_characters_never_raise_and_keep_offsets(text: str) -> None:
    r = read_report(text)
    assert_quotes_are_spans(text, r)
    assert all(isinstance(p, str) for p in r.problems)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Bone marrow edema of the right femoral head, consistent with transient osteoporosis.", "en"),
        ("Sağ femur başında kemik iliği ödemi; geçici osteoporoz ile uyumludur.", "tr"),
        ("右侧股骨头骨髓水肿，考虑一过性骨质疏松。", "zh"),
    ],
)
def test_a_diagnosis_named_in_the_impression_is_not_a_finding(text: str, language: str) -> None:
    r = read_report(text, language)
    assert {m.concept for m in r.mentions} == {"bone_marrow_edema"}


# --- clinical questions, structure terms, composite findings (general rules, any wording) --------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Sağ kalça MRG\nKlinik bilgi\nSağ kalça ağrısı, kontrol. AVN?\nBulgular\nKemik iliği ödemi izlenmedi.", "tr"),
        ("MRI LEFT HIP\nINDICATION\nHip pain. AVN?\nFINDINGS\nNo bone marrow edema.", "en"),
        ("Bulgular: Femur başında sinyal normaldir. Avasküler nekroz?", "tr"),
        ("影像所见：双侧股骨头信号未见异常。股骨头坏死？", "zh"),
    ],
)
def test_clinical_question_is_hypothetical(text: str, language: str) -> None:
    """A header on a line of its own (an HTML heading made text) and a trailing "?" make the question hypothetical."""
    assert {m.assertion for m in found(read_report(text, language), "osteonecrosis_reported")} == {"hypothetical"}


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("右侧股骨头软骨下见凸向关节面的带状低信号。", "zh"),
        ("Sağ femur başında eklem yüzeyine paralel subkondral kırık hattı izlendi.", "tr"),
        ("A subchondral fracture line parallel to the articular surface of the femoral head.", "en"),
    ],
)
def test_articular_surface_named_is_not_collapse(text: str, language: str) -> None:
    assert found(read_report(text, language), "articular_collapse") == []


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("右侧股骨头关节面完整。", "zh"),
        ("Kemik konturları korunmuştur.", "tr"),
        ("The articular surface is intact.", "en"),
    ],
)
def test_articular_surface_stated_intact_is_collapse_negated(text: str, language: str) -> None:
    assert {m.assertion for m in found(read_report(text, language), "articular_collapse")} == {"negated"}


def test_chinese_subchondral_fracture_line_is_not_also_a_fracture_line() -> None:
    reading = read_report("右侧股骨头外上部软骨下见与关节面平行的线样低信号骨折线。", "zh")
    assert one(reading, "subchondral_fracture_line").assertion == "affirmed"
    assert found(reading, "fracture_line") == []
    assert found(reading, "articular_collapse") == []


# --- Turkish morphology, siting and composites (docs/report-text.md "Choices") ---------------------------------------


@pytest.mark.parametrize(
    ("word", "stem"),
    [("kırığı", "kırık"), ("yırtığının", "yırtık"), ("yoğunluğu", "yoğunluk"), ("ödemi", "öt"), ("talus", None)],
)
def test_turkish_hardened_stem(word: str, stem: str | None) -> None:
    from bmefhir.reporttext.components import turkish_hardened

    assert turkish_hardened(word) == stem


def test_turkish_softened_consonant_reads_the_stem_but_yogun_is_not_yok() -> None:
    reading = read_report("L1 vertebra korpusunda akut kompresyon kırığı ve yoğun kemik iliği ödemi izlendi.", "tr")
    assert one(reading, "fracture_line").assertion == "affirmed"
    assert {m.assertion for m in found(reading, "bone_marrow_edema")} == {"affirmed"}


@pytest.mark.parametrize(
    ("sentence", "assertion"),
    [
        ("Sol iliak kemikte kontrastlanmayan fokal lezyon izlendi.", "negated"),
        ("Lezyon kontrast sonrası belirgin kontrastlanmaktadır.", "affirmed"),
    ],
)
def test_turkish_negative_suffix_on_the_finding_verb(sentence: str, assertion: str) -> None:
    reading = read_report(sentence, "tr")
    concept = "focal_enhancing_lesion" if "lezyon izlendi" in sentence else "contrast_enhancement"
    assert one(reading, concept).assertion == assertion


def test_turkish_capital_stir_and_edema_on_stir() -> None:
    text = "SOL AYAK BİLEĞİ MRG\nBulgular: Distal tibiada STIR görüntülerde yüksek sinyal izlendi."
    reading = read_report(text, "tr")
    assert sites(reading, "stir_high_signal") == {("distal_tibia", "left")}


def test_turkish_leading_site_list_and_head_final_sites() -> None:
    reading = read_report("Kalkaneus, küboid ve naviküler kemiklerde kemik iliği ödemi izlendi.", "tr")
    assert {s for s, _ in sites(reading, "bone_marrow_edema")} == {"calcaneus", "cuboid", "navicular"}
    text = "Sol kalçada asetabulum ve femur başında osteofitler ile asetabulumda subkondral kistler."
    reading = read_report(text, "tr")
    assert sites(reading, "subchondral_cyst") == {("acetabulum", "left")}
    assert sites(reading, "osteophytes") == {("acetabulum", "left"), ("femoral_head", "left")}


def test_title_joint_is_the_joint_of_whole_joint_findings() -> None:
    text = "MRI RIGHT ANKLE\nFindings: Edema of the talus, navicular and cuneiform. Small joint effusion."
    reading = read_report(text)
    assert sites(reading, "joint_effusion") == {("ankle", "right")}


def test_another_side_in_the_next_clause_is_its_own_statement() -> None:
    reading = read_report("右侧股骨头骨髓水肿，左侧股骨头未见异常。", "zh")
    assert sites(reading, "bone_marrow_edema") == {("femoral_head", "right")}


def test_sif_band_over_commas_is_one_finding_and_joint_restatement_is_read_once() -> None:
    text = (
        "SOL DİZ MRG\nBulgular: Femur medial kondilinde eklem yüzeyine doğru konveks, düzensiz ve kesintili subkondral "
        "hipointens bant izlendi. Femur medial kondilinde yaygın kemik iliği ödemi mevcuttur.\n"
        "Sonuç: Sol dizde kemik iliği ödemi."
    )
    reading = read_report(text, "tr")
    assert found(reading, "sif_band")
    assert not found(reading, "subchondral_low_signal_band")
    assert sites(reading, "bone_marrow_edema") == {("medial_femoral_condyle", "left")}


def test_no_focal_lesion_is_negated() -> None:
    assert one(read_report("MRI hip. No focal lesion.", "en"), "focal_lesion").assertion == "negated"
