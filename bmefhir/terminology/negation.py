"""Negated mentions in free text ("no avascular necrosis", "fracture ruled out").

Keyword matching on ``CodeableConcept.text`` is a fallback for uncoded data, and a keyword inside a
negation would turn "no bone marrow oedema" into evidence *for* oedema. The check is medspaCy's ConText
(Harkema H et al. J Biomed Inform 2009;42:839-51) with the English rules of the report reader
(``bmefhir/reporttext/lexicons/en/context.yaml``), scopes cut to NegEx's five-word window (Chapman WW
et al. J Biomed Inform 2001;34:301-10): short coded-data text fields have no sentence structure to trust.
A mention negated, or named only as the question ("r/o", "rule out"), is not used (and said so), never
read as absent.
"""

from __future__ import annotations

from spacy.tokens import Doc

from bmefhir.reporttext.pipeline import negation_pipeline

__all__ = ["negation_cue"]

_WINDOW_WORDS = 5  # NegEx's scope: five words either side of the trigger
# A keyword under these is not evidence for its concept.
_NOT_EVIDENCE = frozenset({"NEGATED_EXISTENCE", "HYPOTHETICAL"})


def negation_cue(text: str, start: int, end: int) -> str | None:
    """The trigger that negates ``text[start:end]``, or None when the mention is affirmed."""
    nlp = negation_pipeline(_WINDOW_WORDS)
    doc: Doc = nlp.make_doc(text)
    for name, component in nlp.pipeline:
        if name != "medspacy_context":
            doc = component(doc)
    target = doc.char_span(start, end, label="TARGET", alignment_mode="expand")
    if target is None:
        return None
    doc.ents = (target,)
    doc = nlp.get_pipe("medspacy_context")(doc)
    cues = [m for m in doc.ents[0]._.modifiers if m.category.upper() in _NOT_EVIDENCE]
    if not cues:
        return None
    nearest = min(cues, key=lambda m: min(abs(m.modifier_span[0] - target.end), abs(target.start - m.modifier_span[1])))
    first, last = nearest.modifier_span
    return doc[first:last].text.strip(" ,:-") or None
