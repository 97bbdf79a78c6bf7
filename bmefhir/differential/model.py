"""The differential's output: a ranked, explained list of candidates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a criterion comes from: a seed (file + section) or a published paper."""

    text: str  # "seed 000 §Table 1" or "Vande Berg BC et al. Radiology 1999;212:527-535"
    seed: str | None = None  # "000_0f527f03f388fe13.txt"
    doi: str | None = None
    pmid: str | None = None
    # A product label or guideline named in full (it has no DOI): "Reclast (zoledronic acid) injection,
    # US prescribing information (Novartis)". Used by contraindications.
    document: str | None = None


@dataclass(frozen=True, slots=True)
class CriterionHit:
    """A criterion that matched, and what it did to one candidate."""

    criterion_id: str
    title: str
    weight: float  # log-likelihood-ratio contribution to this candidate (+ for, - against)
    citation: Citation
    evidence: tuple[str, ...]  # resource references behind the facts it used
    facts: tuple[str, ...]  # fact names it looked at
    uncertain: bool = False  # a fact it used rests on hedged report text; the weight is already reduced


@dataclass(frozen=True, slots=True)
class CandidateResult:
    code: str
    display: str
    probability: float
    score: float  # prior + sum of weights (log-odds scale)
    supporting: tuple[CriterionHit, ...]
    opposing: tuple[CriterionHit, ...]


@dataclass(frozen=True, slots=True)
class RedFlag:
    """A must-not-miss alert, raised whatever the candidate's rank."""

    code: str  # the candidate it warns about
    criterion_id: str
    message: str
    citation: Citation
    evidence: tuple[str, ...]
    facts: tuple[str, ...] = ()  # fact names the criterion used
    uncertain: bool = False  # raised on hedged report text: still raised (must not miss), shown as uncertain


@dataclass(frozen=True, slots=True)
class NextStep:
    id: str
    text: str
    citation: Citation
    because: tuple[str, ...]  # criterion/fact names that triggered it
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WithholdReason:
    """A contraindication that matched the record, and the resources behind it."""

    contraindication_id: str
    reason: str  # plain words for the clinician: what was found and why the treatment is withheld
    citation: Citation
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WithheldStep:
    """A treatment step that would have been suggested, withheld because the record matched a contraindication."""

    id: str
    text: str
    drugs: tuple[str, ...]
    reasons: tuple[WithholdReason, ...]


@dataclass(frozen=True, slots=True)
class Differential:
    ranking: tuple[CandidateResult, ...]
    red_flags: tuple[RedFlag, ...]
    next_steps: tuple[NextStep, ...]
    knowledge_version: str
    insufficient_data: bool = False  # no BME imaging on record: the ranking is priors only
    withheld: tuple[WithheldStep, ...] = ()  # treatments not suggested, with the reason (safety.py)
