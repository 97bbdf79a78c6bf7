"""Lines read as units, and the memo of what each line reads (bmefhir/reporttext/lines.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bmefhir.reporttext import Reading, read_report
from bmefhir.reporttext import lines as memo
from bmefhir.testing.examples import list_text_examples, load_bundle
from bmefhir.testing.report_corpus import load_corpus


@pytest.fixture(autouse=True)
def _default_memo() -> Iterator[None]:
    memo.set_memo_lines(memo.MEMO_LINES)
    yield
    memo.set_memo_lines(memo.MEMO_LINES)


def _example_texts() -> list[tuple[str, str | None]]:
    """The report texts of the text-only examples with their language, where their resources give one."""
    out: list[tuple[str, str | None]] = []
    for case in list_text_examples():
        for entry in load_bundle(case.name, text=True).get("entry", []):
            resource = entry.get("resource", {})
            if isinstance(resource.get("conclusion"), str):
                out.append((resource["conclusion"], resource.get("language")))
    return out


def _texts() -> list[tuple[str, str | None]]:
    texts = [(p.text, p.language) for p in load_corpus()] + _example_texts()
    # Reports that repeat lines of each other and of themselves, in other orders, with and without a hint.
    joined = [(a + "\n" + b + "\n" + a, None) for (a, _), (b, _) in zip(texts[::7], texts[3::7], strict=False)]
    return texts + joined + [(t, None) for t, _ in texts[::5]]


def _read_all(texts: list[tuple[str, str | None]]) -> list[Reading]:
    return [read_report(text, language) for text, language in texts]


def test_the_memo_changes_no_reading() -> None:
    texts = _texts()
    assert len(texts) > 400
    memo.set_memo_lines(0)
    without = _read_all(texts)
    memo.set_memo_lines(memo.MEMO_LINES)
    cold = _read_all(texts)  # lines met again later in the list are read from the memo
    assert memo.memo_size() > 500
    warm = _read_all(texts)  # every line from the memo
    assert cold == without
    assert warm == without
    assert sum(len(r.mentions) for r in without) > 1000


def test_a_line_reads_the_same_alone_and_in_a_report() -> None:
    memo.set_memo_lines(0)
    report = "MRI RIGHT HIP\nFindings:\nNo joint effusion.\nEdema of the femoral head.\nImpression: AVN?"
    whole = read_report(report, "en")
    memo.set_memo_lines(memo.MEMO_LINES)
    for line in report.splitlines(keepends=True):
        read_report(line, "en")  # each line remembered on its own, as the first line of its text
    assert memo.memo_size() == 5
    assert read_report(report, "en") == whole
    assert memo.memo_size() == 5  # every line came from the memo
    assert [(m.concept, m.assertion, m.section) for m in whole.mentions] == [
        ("joint_effusion", "negated", "findings"),
        ("bone_marrow_edema", "affirmed", "findings"),
        ("osteonecrosis_reported", "hypothetical", "impression"),
    ]


def test_the_memo_holds_no_report_text() -> None:
    memo.clear_memo()
    text = "Findings: Zorblaxian edema of the left talus.\nNo effusion of the Quarkwell joint."
    assert read_report(text, "en").mentions
    held = list(memo._memo.items())
    assert held
    assert all(isinstance(key, bytes) and len(key) == 16 for key, _ in held)  # digests, not the lines
    assert "zorblax" not in repr(held).lower()
    assert "quarkwell" not in repr(held).lower()


def test_the_memo_is_bounded_and_keeps_the_recent_lines() -> None:
    memo.set_memo_lines(4)
    for i in range(10):
        read_report(f"Edema of the talus number {i}.", "en")
    assert memo.memo_size() == 4
    read_report("Edema of the talus number 9.", "en")  # remembered: nothing new
    assert memo.memo_size() == 4
    memo.set_memo_lines(0)
    read_report("Edema of the talus.\nNo effusion.", "en")
    assert memo.memo_size() == 0
