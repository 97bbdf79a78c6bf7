"""How matched criteria add up: correlated criteria are grouped and count with diminishing weight.

The criteria are log-likelihood ratios. Adding them is right only when they are conditionally
independent given the diagnosis, and many are not: CRP above 10, above 50 and above 100 mg/L are one
measurement; a double-line sign, a band-like T1 lesion and a thick subchondral band are three
readings of one necrotic segment. Summed as if independent they push probabilities to 0.99-1.00.

The rule (knowledge.yaml ``combination``; rationale and measurements in docs/knowledge-model.md):
within one group and one candidate, the supporting weights are sorted by size and the i-th counts
``ratio ** i`` of its weight (the strongest fully, the next half, ...); opposing weights likewise,
separately. A criterion without a ``group`` is its own group (counts fully). Finally the
probabilities are mixed with a small uniform share (``uncertainty``): the knowledge base does not
know every cause of BME, so no candidate is ever shown as certain (100 %) or impossible (0 %).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def diminishing(weights: Sequence[float], ratio: float) -> list[float]:
    """Effective weights in input order: per sign, the k-th largest in size counts ``ratio ** k``."""
    if len(weights) == 1:  # most groups: one criterion, which counts fully (0.0 unless it has a sign)
        w = weights[0]
        return [w * ratio**0 if w > 0 or w < 0 else 0.0]  # the same arithmetic as below
    out = [0.0] * len(weights)
    for sign in (1.0, -1.0):
        idx = sorted((i for i, w in enumerate(weights) if w * sign > 0), key=lambda i: (-abs(weights[i]), i))
        for rank, i in enumerate(idx):
            out[i] = weights[i] * ratio**rank
    return out


def probabilities(scores: Mapping[str, float], uncertainty: float, scale: float = 1.0) -> dict[str, float]:
    """Softmax of ``scale`` x scores mixed with ``uncertainty`` of a uniform distribution, rounded to 4 places."""
    top = max(scores.values())
    exps = {code: math.exp(scale * (s - top)) for code, s in scores.items()}
    total = sum(exps.values())
    share = uncertainty / len(scores)
    return {code: round((1.0 - uncertainty) * e / total + share, 4) for code, e in exps.items()}
