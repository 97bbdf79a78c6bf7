"""Negated mentions in free text ("no avascular necrosis", "fracture ruled out").

Keyword matching on ``CodeableConcept.text`` is a fallback for uncoded data, and
a keyword inside a negation would turn "no bone marrow oedema" into evidence *for*
oedema. This is a NegEx-style check (Chapman WW et al., "A simple algorithm for
identifying negated findings and diseases in discharge summaries", J Biomed
Inform 2001;34(5):301-10): a negation trigger up to five words before the mention,
or a post-negation phrase right after it, within the same clause. It is deliberately
small: the triggers below are the common ones in coded-data text fields, and a
match that is negated is simply not used (and said so), never read as absent.
"""

from __future__ import annotations

import re

__all__ = ["negation_cue"]

_WINDOW_WORDS = 5  # NegEx's scope: the five words before the mention

# Pre-mention triggers, longest first so that "no evidence of" is reported whole.
_PRE = re.compile(
    r"\b(?:no (?:evidence|sign|signs|history) of|negative for|absence of|free of|rule[sd]? out"
    r"|denie[sd]|without|not|no|r/o|excluded)\b",
    re.IGNORECASE,
)
# Pseudo-negations: "no change in osteonecrosis" affirms it (NegEx's pseudo-negation list).
_PSEUDO = re.compile(
    r"\b(?:no (?:interval )?(?:change|increase|decrease|further|significant change)|not only|not necessarily)\b",
    re.IGNORECASE,
)
# Post-mention phrases: "osteonecrosis ruled out", "fracture: not seen", "... is absent".
_POST = re.compile(
    r"^[\s,:-]*(?:(?:is|was|were|are|has been|have been)\s+)?"
    r"(?:absent|excluded|ruled out|not (?:seen|present|identified|demonstrated|found)|negative)\b",
    re.IGNORECASE,
)
# A clause ends at sentence punctuation or a contrasting conjunction; negation does not cross it.
_CLAUSE_END = re.compile(r"[.;:!?\n]|\b(?:but|however|although|except|yet)\b", re.IGNORECASE)


def negation_cue(text: str, start: int, end: int) -> str | None:
    """The trigger that negates ``text[start:end]``, or None when the mention is affirmed."""
    before = text[:start]
    ends = list(_CLAUSE_END.finditer(before))
    if ends:
        before = before[ends[-1].end() :]
    window = _PSEUDO.sub(" ", " ".join(before.split()[-_WINDOW_WORDS:]))
    found = list(_PRE.finditer(window))
    if found:
        return found[-1].group(0)
    post = _POST.match(text[end:])  # anchored: only a phrase right after the mention
    return post.group(0).strip(" ,:-") if post else None
