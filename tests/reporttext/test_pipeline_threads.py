"""A language's spaCy pipeline is built once however many threads ask for it at once (a fresh sync pool's workers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# In a fresh process, so that no pipeline is cached yet. The builder is counted, not replaced.
_SCRIPT = """
import threading
from bmefhir.reporttext import pipeline as p
built = []
build = p.build_pipeline
def counting(lexicon):
    built.append(lexicon)
    return build(lexicon)
p.build_pipeline = counting
start = threading.Barrier(4)
def ask():
    start.wait()
    ask.results.append(p.pipeline("en"))
ask.results = []
threads = [threading.Thread(target=ask) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(built), len({id(nlp) for nlp in ask.results}), len(ask.results))
"""


def test_threads_asking_at_once_share_one_build():
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=REPO, capture_output=True, text=True, check=True, timeout=300
    )
    builds, distinct, answers = (int(n) for n in done.stdout.split())
    assert (builds, distinct, answers) == (1, 1, 4)
