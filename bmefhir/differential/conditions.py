"""The ``when`` language of the knowledge base, compiled once into evaluators.

Grammar (YAML)::

    {fact: NAME, is: true | false | known | not_true}
    {fact: NAME, gt | ge | lt | le: NUMBER}
    {all: [COND, ...]}   {any: [COND, ...]}   {not: COND}

Facts are tri-state (value or absent): ``is: false`` needs the record to say no,
``not_true`` also matches when the fact is unknown. Conditions are parsed and
type-checked against the fact registry at load time; ``matches`` is then pure.

``matches(facts)`` returns ``(matched, used)`` where ``used`` names the facts
that made the result: for ``all`` every child, for ``any`` the children that
matched. Their evidence is what a hit cites.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from bmefhir.derive.model import Fact
from bmefhir.derive.registry import FACTS, FactSpec

Used = tuple[str, ...]
_NONE: Final[Used] = ()

IsState = Literal["true", "false", "known", "not_true"]
CompareOp = Literal["gt", "ge", "lt", "le"]
_IS_STATES: Final[dict[str, IsState]] = {
    "true": "true",
    "false": "false",
    "known": "known",
    "not_true": "not_true",
}
_OPS: Final[tuple[CompareOp, ...]] = ("gt", "ge", "lt", "le")


class Condition(Protocol):
    def matches(self, facts: Mapping[str, Fact]) -> tuple[bool, Used]: ...

    def fact_names(self) -> tuple[str, ...]: ...

    def to_data(self) -> object: ...


@dataclass(frozen=True, slots=True)
class FactIs:
    fact: str
    state: IsState

    def matches(self, facts: Mapping[str, Fact]) -> tuple[bool, Used]:
        f = facts.get(self.fact)
        if f is None:
            return (self.state == "not_true", _NONE)
        value = f.value
        if self.state == "known":
            ok = True
        elif self.state == "true":
            ok = value is True
        elif self.state == "false":
            ok = value is False
        else:  # not_true
            ok = value is not True
        return (ok, (self.fact,))

    def fact_names(self) -> tuple[str, ...]:
        return (self.fact,)

    def to_data(self) -> object:
        return {"fact": self.fact, "is": self.state}


@dataclass(frozen=True, slots=True)
class FactCompare:
    fact: str
    op: CompareOp
    threshold: float

    def matches(self, facts: Mapping[str, Fact]) -> tuple[bool, Used]:
        f = facts.get(self.fact)
        if f is None or isinstance(f.value, bool):
            return (False, _NONE)
        v, t = f.value, self.threshold
        if self.op == "gt":
            ok = v > t
        elif self.op == "ge":
            ok = v >= t
        elif self.op == "lt":
            ok = v < t
        else:
            ok = v <= t
        return (ok, (self.fact,))

    def fact_names(self) -> tuple[str, ...]:
        return (self.fact,)

    def to_data(self) -> object:
        return {"fact": self.fact, self.op: self.threshold}


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Condition, ...]

    def matches(self, facts: Mapping[str, Fact]) -> tuple[bool, Used]:
        used: Used = _NONE
        for item in self.items:
            ok, u = item.matches(facts)
            if not ok:
                return (False, _NONE)
            used += u
        return (True, used)

    def fact_names(self) -> tuple[str, ...]:
        return tuple(n for i in self.items for n in i.fact_names())

    def to_data(self) -> object:
        return {"all": [i.to_data() for i in self.items]}


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Condition, ...]

    def matches(self, facts: Mapping[str, Fact]) -> tuple[bool, Used]:
        matched = False
        used: Used = _NONE
        for item in self.items:
            ok, u = item.matches(facts)
            if ok:
                matched = True
                used += u
        return (matched, used)

    def fact_names(self) -> tuple[str, ...]:
        return tuple(n for i in self.items for n in i.fact_names())

    def to_data(self) -> object:
        return {"any": [i.to_data() for i in self.items]}


@dataclass(frozen=True, slots=True)
class NotOf:
    item: Condition

    def matches(self, facts: Mapping[str, Fact]) -> tuple[bool, Used]:
        ok, _ = self.item.matches(facts)
        if ok:
            return (False, _NONE)
        # The facts that were looked at (and found wanting) still explain the result.
        return (True, tuple(n for n in self.item.fact_names() if n in facts))

    def fact_names(self) -> tuple[str, ...]:
        return self.item.fact_names()

    def to_data(self) -> object:
        return {"not": self.item.to_data()}


def required_facts(condition: Condition) -> frozenset[str]:
    """Facts without which ``condition`` cannot match: a leaf needs its fact (except ``not_true``, which
    an unknown fact satisfies), ``all`` every child's, ``any`` only those all its children need, ``not``
    none. The engine skips a criterion whose required facts are not all on record without evaluating
    it (most criteria, for a small record): the same result, as ``matches`` would return False."""
    if isinstance(condition, FactIs):
        return frozenset() if condition.state == "not_true" else frozenset((condition.fact,))
    if isinstance(condition, FactCompare):
        return frozenset((condition.fact,))
    if isinstance(condition, AllOf):
        return frozenset().union(*(required_facts(i) for i in condition.items))
    if isinstance(condition, AnyOf):
        return frozenset.intersection(*(required_facts(i) for i in condition.items))
    return frozenset()  # NotOf, or a condition type this function does not know: always evaluated


def compile_condition(
    data: object,
    where: str,
    errors: list[str],
    registry: Mapping[str, FactSpec] = FACTS,
) -> Condition | None:
    """Parse and type-check one ``when`` tree; append problems to ``errors``.

    ``where`` prefixes each message (file, criterion id, path in the tree).
    Returns None when the tree is malformed.
    """
    if not isinstance(data, Mapping):
        errors.append(f"{where}: malformed condition: expected a mapping, got {type(data).__name__}")
        return None
    keys = set(data)
    for combinator in ("all", "any"):
        if combinator in keys:
            if keys != {combinator}:
                errors.append(f"{where}: malformed condition: '{combinator}' must stand alone")
                return None
            items = data[combinator]
            if not isinstance(items, list) or not items:
                errors.append(f"{where}: malformed condition: '{combinator}' needs a non-empty list")
                return None
            compiled = [
                compile_condition(item, f"{where}.{combinator}[{i}]", errors, registry) for i, item in enumerate(items)
            ]
            if any(c is None for c in compiled):
                return None
            children = tuple(c for c in compiled if c is not None)
            return AllOf(children) if combinator == "all" else AnyOf(children)
    if "not" in keys:
        if keys != {"not"}:
            errors.append(f"{where}: malformed condition: 'not' must stand alone")
            return None
        inner = compile_condition(data["not"], f"{where}.not", errors, registry)
        return None if inner is None else NotOf(inner)
    if "fact" in keys:
        return _compile_leaf(data, where, errors, registry)
    errors.append(f"{where}: malformed condition: expected one of fact/all/any/not, got {sorted(keys)}")
    return None


def _compile_leaf(
    data: Mapping[str, object], where: str, errors: list[str], registry: Mapping[str, FactSpec]
) -> Condition | None:
    name = data["fact"]
    if not isinstance(name, str):
        errors.append(f"{where}: malformed condition: fact name must be a string")
        return None
    tests = set(data) - {"fact"}
    if len(tests) != 1:
        errors.append(f"{where}: malformed condition on '{name}': give exactly one of is/gt/ge/lt/le")
        return None
    (test,) = tests
    spec = registry.get(name)
    if spec is None:
        errors.append(f"{where}: unknown fact '{name}' (not in bmefhir.derive.registry.FACTS)")
        return None
    raw = data[test]
    if test == "is":
        # YAML turns true/false into booleans; accept both spellings.
        state = {True: "true", False: "false"}.get(raw, raw) if isinstance(raw, bool) else raw
        checked = _IS_STATES.get(state) if isinstance(state, str) else None
        if checked is None:
            errors.append(f"{where}: malformed condition on '{name}': 'is' must be true/false/known/not_true")
            return None
        if checked != "known" and spec.kind != "bool":
            errors.append(f"{where}: type mismatch: '{name}' is a number fact; use gt/ge/lt/le or 'known'")
            return None
        return FactIs(name, checked)
    if test in _OPS:
        if spec.kind != "number":
            errors.append(f"{where}: type mismatch: '{name}' is a bool fact; numeric '{test}' does not apply")
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            errors.append(f"{where}: malformed condition on '{name}': '{test}' needs a number")
            return None
        return FactCompare(name, _OPS[_OPS.index(test)], float(raw))
    errors.append(f"{where}: malformed condition on '{name}': unknown test '{test}'")
    return None
