"""Collecting facts: a checked builder and a tri-state vote.

Every fact name is checked against the registry when it is set, so a typo is
an error in derive, not a fact the knowledge base silently never sees.
Evidence is stored sorted and de-duplicated so output is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from bmefhir.derive.model import Fact, FactValue
from bmefhir.derive.registry import FACTS

_MAX_NOTES = 3  # keep notes short: the evidence refs carry the full list


class Votes:
    """Evidence for and against one boolean fact; "for" wins, silence means unknown."""

    __slots__ = ("no_notes", "no_refs", "yes_notes", "yes_refs")

    def __init__(self) -> None:
        self.yes_refs: list[str] = []
        self.yes_notes: list[str] = []
        self.no_refs: list[str] = []
        self.no_notes: list[str] = []

    def yes(self, ref: str, note: str) -> None:
        self.yes_refs.append(ref)
        self.yes_notes.append(note)

    def no(self, ref: str, note: str) -> None:
        self.no_refs.append(ref)
        self.no_notes.append(note)

    def vote(self, value: bool, ref: str, note: str) -> None:
        if value:
            self.yes(ref, note)
        else:
            self.no(ref, note)

    def merge(self, other: Votes) -> None:
        self.yes_refs += other.yes_refs
        self.yes_notes += other.yes_notes
        self.no_refs += other.no_refs
        self.no_notes += other.no_notes


def join_notes(notes: Iterable[str]) -> str:
    """Sorted, de-duplicated, at most a few: the same facts give the same note in any input order."""
    if isinstance(notes, list) and len(notes) == 1:
        return str(notes[0])
    unique = sorted({n for n in notes if n})
    extra = len(unique) - _MAX_NOTES
    text = "; ".join(unique[:_MAX_NOTES])
    return f"{text}; +{extra} more" if extra > 0 else text


_BOOL_FACTS = frozenset(name for name, spec in FACTS.items() if spec.kind == "bool")
_NUMBER_FACTS = frozenset(name for name, spec in FACTS.items() if spec.kind == "number")


def _kind_error(name: str, value: FactValue) -> Exception:
    if name not in FACTS:
        return KeyError(f"fact {name!r} is not in bmefhir.derive.registry.FACTS")
    return TypeError(f"fact {name!r} is {FACTS[name].kind}, got {type(value).__name__}")


class FactSet:
    """The facts derived so far, keyed by registry name."""

    __slots__ = ("_facts",)

    def __init__(self) -> None:
        self._facts: dict[str, Fact] = {}

    def put(
        self, name: str, value: FactValue, refs: Iterable[str] = (), note: str = "", *, uncertain: bool = False
    ) -> None:
        """Set a fact. ``refs`` in any order; a tuple is taken as already sorted and unique
        (episode and fact evidence are), which keeps the hot path free of re-sorting.
        ``uncertain``: the value rests only on hedged report text."""
        if value.__class__ is bool:
            if name not in _BOOL_FACTS:
                raise _kind_error(name, value)
        elif name in _NUMBER_FACTS:
            value = float(value)
        else:
            raise _kind_error(name, value)
        evidence = refs if isinstance(refs, tuple) else tuple(sorted(set(refs)))
        self._facts[name] = Fact(value, evidence, note, uncertain)

    def decide(self, name: str, votes: Votes) -> None:
        """Set ``name`` True if anything says yes, False if only noes, else leave it unknown."""
        if votes.yes_refs:
            self.put(name, True, votes.yes_refs, join_notes(votes.yes_notes))
        elif votes.no_refs:
            self.put(name, False, votes.no_refs, join_notes(votes.no_notes))

    def mark_uncertain(self, refs: frozenset[str]) -> None:
        """Facts that hold only on evidence from ``refs`` (unconfirmed diagnoses) count as uncertain,
        like hedged report text; evidence from anything else keeps a fact certain."""
        if not refs:
            return
        for name, fact in self._facts.items():
            if fact.value is True and not fact.uncertain and fact.evidence and refs.issuperset(fact.evidence):
                self._facts[name] = replace(fact, uncertain=True)

    def get(self, name: str) -> Fact | None:
        return self._facts.get(name)

    def value(self, name: str) -> FactValue | None:
        fact = self._facts.get(name)
        return None if fact is None else fact.value

    def is_true(self, name: str) -> bool:
        fact = self._facts.get(name)
        return fact is not None and fact.value is True

    def __contains__(self, name: object) -> bool:
        return name in self._facts

    def ordered(self) -> dict[str, Fact]:
        """The facts in registry order, so output does not depend on derivation order."""
        facts = self._facts
        return {name: facts[name] for name in FACTS if name in facts}
