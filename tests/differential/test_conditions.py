"""The condition language: tri-state semantics and which facts a match used."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmefhir.derive.model import Fact
from bmefhir.differential.conditions import Condition, compile_condition


def _compile(data: object) -> Condition:
    errors: list[str] = []
    cond = compile_condition(data, "test", errors)
    assert not errors
    assert cond is not None
    return cond


FACTS = {"fever": Fact(True, ("Observation/t",)), "trauma": Fact(False), "age_years": Fact(70.0)}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"fact": "fever", "is": True}, True),
        ({"fact": "trauma", "is": False}, True),
        ({"fact": "trauma", "is": True}, False),
        ({"fact": "allodynia", "is": False}, False),  # unknown is not False
        ({"fact": "allodynia", "is": "not_true"}, True),  # unknown counts as not true
        ({"fact": "trauma", "is": "not_true"}, True),
        ({"fact": "fever", "is": "not_true"}, False),
        ({"fact": "age_years", "is": "known"}, True),
        ({"fact": "age_years", "ge": 70}, True),
        ({"fact": "age_years", "gt": 70}, False),
        ({"fact": "age_years", "lt": 80}, True),
        ({"fact": "age_years", "le": 69.9}, False),
        ({"fact": "crp_mg_l", "lt": 10}, False),  # unknown number never compares
        ({"not": {"fact": "crp_mg_l", "is": "known"}}, True),
    ],
)
def test_leaf_semantics(data: object, expected: bool) -> None:
    assert _compile(data).matches(FACTS)[0] is expected


def test_all_uses_every_child_and_any_only_matching_children() -> None:
    both = _compile({"all": [{"fact": "fever", "is": True}, {"fact": "age_years", "ge": 60}]})
    assert both.matches(FACTS) == (True, ("fever", "age_years"))
    either = _compile({"any": [{"fact": "fever", "is": True}, {"fact": "trauma", "is": True}]})
    assert either.matches(FACTS) == (True, ("fever",))


def test_failed_match_uses_nothing() -> None:
    cond = _compile({"all": [{"fact": "fever", "is": True}, {"fact": "trauma", "is": True}]})
    assert cond.matches(FACTS) == (False, ())


def test_not_reports_the_facts_it_looked_at() -> None:
    cond = _compile({"not": {"fact": "trauma", "is": True}})
    assert cond.matches(FACTS) == (True, ("trauma",))


def test_round_trip_to_data() -> None:
    data = {"all": [{"fact": "fever", "is": "true"}, {"not": {"fact": "age_years", "lt": 18.0}}]}
    assert _compile(data).to_data() == data


def test_required_facts_of_each_form() -> None:
    from bmefhir.differential.conditions import required_facts

    assert required_facts(_compile({"fact": "fever", "is": True})) == {"fever"}
    assert required_facts(_compile({"fact": "fever", "is": "not_true"})) == set()
    assert required_facts(_compile({"fact": "age_years", "ge": 70})) == {"age_years"}
    both = {"all": [{"fact": "fever", "is": True}, {"fact": "age_years", "ge": 70}]}
    assert required_facts(_compile(both)) == {"fever", "age_years"}
    either = {
        "any": [
            {"fact": "fever", "is": True},
            {"all": [{"fact": "fever", "is": False}, {"fact": "trauma", "is": True}]},
        ]
    }
    assert required_facts(_compile(either)) == {"fever"}
    assert required_facts(_compile({"not": {"fact": "fever", "is": True}})) == set()


def _fact_sets() -> st.SearchStrategy[dict[str, Fact]]:
    from bmefhir.derive.registry import FACTS as REGISTRY

    def fact(name: str) -> st.SearchStrategy[Fact]:
        if REGISTRY[name].kind == "bool":
            return st.builds(Fact, st.booleans())
        return st.builds(Fact, st.floats(min_value=-1e4, max_value=1e4, allow_nan=False))

    names = sorted(REGISTRY)
    return st.lists(st.sampled_from(names), unique=True, max_size=60).flatmap(
        lambda chosen: st.fixed_dictionaries({n: fact(n) for n in chosen})
    )


@settings(max_examples=400, deadline=None)
@given(_fact_sets())
def test_a_criterion_missing_a_required_fact_cannot_match(facts: dict[str, Fact]) -> None:
    """The engine skips criteria whose required facts are not all present: never one that would match."""
    from bmefhir.differential.knowledge_base import load_knowledge

    for crit in load_knowledge().criteria:
        if not facts.keys() >= crit.requires:
            assert crit.when.matches(facts)[0] is False, crit.id
