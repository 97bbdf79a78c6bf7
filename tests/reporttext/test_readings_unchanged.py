"""Every reading of the corpus and the example texts is the one committed in ``readings.json``.

The reader's speed work must not change what it reads (docs/report-text.md "Speed"): each of ~840 readings (the
348 corpus passages and the 44 report texts of the text-only examples, each with its language hint and without, odd
and mixed texts, example texts joined two by two) is compared, mention by mention through a digest of the whole
``Reading``, with the line memo on and off. A change that means to read differently (a lexicon entry, a rule)
rewrites the file, and the corpus test (``test_corpus.py``) judges whether the new readings are right:

    PYTHONPATH=. .venv/bin/python tests/reporttext/test_readings_unchanged.py --update
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmefhir.normalize import build_record
from bmefhir.reporttext import Reading, read_report
from bmefhir.reporttext import lines as memo
from bmefhir.testing.examples import list_text_examples, load_bundle
from bmefhir.testing.report_corpus import load_corpus

DIGESTS = Path(__file__).with_name("readings.json")
# Odd inputs: empty, repeated lines, an unsupported language, mixed scripts, bad characters, bare headers.
_ODD = (
    "",
    "   ",
    "MRI right hip. " * 50,
    "Befund: Knochenmarködem im Femurkopf rechts.",
    "Impression: 右侧股骨头骨髓水肿。 No effusion.",
    "Bulgular:\nSağ femur başında ödem.\nSonuç: AVN?",
    "\x00bad\ud800 text edema of the talus",
    "FINDINGS\nEdema of the left talus.\nIMPRESSION\nBME.",
)
_HINTS = (None, "en", "tr", "zh", "de")


def _inputs() -> list[tuple[str, str, str | None]]:
    """(key, text, language hint) of every reading compared."""
    examples: list[tuple[str, str, str | None]] = []
    for case in list_text_examples():
        texts: list[tuple[str, str | None]] = []

        def record(text: str, language: str | None, texts: list[tuple[str, str | None]] = texts) -> Reading:
            texts.append((text, language))
            return read_report(text, language)

        build_record([load_bundle(case.name, text=True)], read=record)  # the texts as the record reads them
        examples += [(f"example {case.name} #{i}", text, hint) for i, (text, hint) in enumerate(texts)]
    corpus = [(f"corpus {p.id}", p.text, p.language) for p in load_corpus()]
    out: list[tuple[str, str, str | None]] = []
    for key, text, hint in examples + corpus:
        out += [(f"{key} hint {hint}", text, hint), (f"{key} no hint", text, None)]
    out += [(f"odd {i} hint {hint}", text, hint) for i, text in enumerate(_ODD) for hint in _HINTS]
    out += [  # two reports as one text: lines of one met before the other's
        (f"joined {examples[i][0]} + #{i + 1}", examples[i][1] + "\n\n" + examples[i + 1][1], None)
        for i in range(0, len(examples) - 1, 3)
    ]
    return out


def _digest(reading: Reading) -> str:
    return hashlib.sha256(repr(reading).encode("utf-8", "surrogatepass")).hexdigest()[:20]


def _read(inputs: list[tuple[str, str, str | None]]) -> dict[str, str]:
    return {key: _digest(read_report(text, hint)) for key, text, hint in inputs}


@pytest.fixture(autouse=True)
def _default_memo() -> Iterator[None]:
    memo.set_memo_lines(memo.MEMO_LINES)
    yield
    memo.set_memo_lines(memo.MEMO_LINES)


@pytest.fixture(scope="module")
def inputs() -> list[tuple[str, str, str | None]]:
    found = _inputs()
    assert len(found) > 800
    assert len({key for key, _, _ in found}) == len(found)
    return found


@pytest.mark.parametrize("memo_lines", [memo.MEMO_LINES, 0], ids=["memo", "no memo"])
def test_every_reading_is_the_committed_one(inputs: list[tuple[str, str, str | None]], memo_lines: int) -> None:
    expected = json.loads(DIGESTS.read_text(encoding="utf-8"))
    memo.set_memo_lines(memo_lines)  # also empties it: lines met again within the inputs come from the memo
    got = _read(inputs)
    assert got.keys() == expected.keys(), "inputs changed: rewrite readings.json (see the module docstring)"
    changed = sorted(key for key in got if got[key] != expected[key])
    assert not changed, f"{len(changed)} readings changed, first: {changed[:5]}"


def test_the_digest_sees_a_changed_mention() -> None:
    reading = read_report("MRI right hip. Edema of the femoral head.", "en")
    assert reading.mentions
    first = reading.mentions[0]
    shorter = dataclasses.replace(first, end=first.end - 1, quote=first.quote[:-1])
    assert _digest(dataclasses.replace(reading, mentions=(shorter, *reading.mentions[1:]))) != _digest(reading)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit(__doc__)
    DIGESTS.write_text(json.dumps(_read(_inputs()), indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {DIGESTS}")
