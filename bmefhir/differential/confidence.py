"""Plain-language confidence bands for a ranked candidate: defined here, used by every renderer.

The words describe the probability a candidate holds in the ranking (after grouping and the
uniform share, combine.py); they are not a second model. Bands (docs/knowledge-model.md):

* the leading candidate: "leading, high confidence" from 0.80, "leading, moderate confidence"
  from 0.50, "leading, low confidence" below (the record does not settle the question);
* the others: "plausible alternative" from 0.15 (the threshold at which the work-up steps of a
  candidate fire, next_steps.yaml), "less likely" from 0.03, "unlikely" below.
"""

from __future__ import annotations

from typing import Final

LEADING_BANDS: Final[tuple[tuple[float, str], ...]] = (
    (0.80, "leading, high confidence"),
    (0.50, "leading, moderate confidence"),
    (0.0, "leading, low confidence"),
)
OTHER_BANDS: Final[tuple[tuple[float, str], ...]] = (
    (0.15, "plausible alternative"),
    (0.03, "less likely"),
    (0.0, "unlikely"),
)


def confidence_band(probability: float, leading: bool) -> str:
    """The band of one candidate; ``leading`` for the first of the ranking."""
    for bound, words in LEADING_BANDS if leading else OTHER_BANDS:
        if probability >= bound:
            return words
    raise AssertionError("unreachable: the last band starts at 0")  # pragma: no cover
