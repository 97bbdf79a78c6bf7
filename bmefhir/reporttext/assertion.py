"""A finding's assertion from its section and its ConText modifiers (docs/report-text.md "Assertion")."""

from __future__ import annotations

from collections.abc import Iterable

from bmefhir.record import Assertion

# Sections whose statements are not findings of this study.
NOT_READ_SECTIONS = frozenset({"technique"})


def assertion_for(section: str, categories: Iterable[str]) -> Assertion:
    """Negation wins (a resolved finding is absent even when "previously seen"); then the clinical question;
    then "history of"/"on the prior study" unless the finding is stated again now ("persists", "unchanged");
    then hedges (Panicek & Hricak AJR 2016;207:2-3: "possible", "cannot exclude" are not "consistent with")."""
    cats = set(categories)
    if section == "comparison":
        return "historical"
    if section == "clinical_information":
        return "historical" if "HISTORICAL" in cats else "hypothetical"
    if "NEGATED_EXISTENCE" in cats:
        return "negated"
    if "HYPOTHETICAL" in cats:
        return "hypothetical"
    if "HISTORICAL" in cats and "PERSISTENT" not in cats:
        return "historical"
    if "POSSIBLE_EXISTENCE" in cats:
        return "uncertain"
    return "affirmed"
