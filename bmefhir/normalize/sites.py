"""Body sites and laterality: CodeableConcept / Coding / text → ``Site``."""

from __future__ import annotations

from bmefhir import terminology
from bmefhir.normalize.context import Context
from bmefhir.normalize.fhirjson import JSON, codings, extension_value, obj, texts
from bmefhir.record import Side, Site

LATERALITY_EXT = "http://hl7.org/fhir/StructureDefinition/observation-structureLaterality"


def structure_of(cc: JSON | None) -> tuple[str | None, Side | None]:
    """(structure key, side implied by the code) from codings, then from text / displays."""
    for c in codings(cc):
        m = terminology.concept_for(c.system, c.code, "structure")
        if m is not None:
            return m.concept, m.site.side if m.site else None
    for text in texts(cc):
        m = terminology.concept_for_text(text, "structure")
        if m is not None:
            return m.concept, None
    return None, None


def side_of(cc: JSON | None) -> Side | None:
    """Laterality from laterality codings inside ``cc`` or a side word in its text / displays."""
    for c in codings(cc):
        side = terminology.laterality(c.system, c.code)
        if side is not None:
            return side
    for text in texts(cc):
        side = terminology.laterality_for_text(text)
        if side is not None:
            return side
    return None


def read_site(ctx: Context, ref: str, element: str, body_site: JSON | None) -> Site | None:
    """Site from a bodySite; an unrecognised body site is reported, not guessed."""
    if body_site is None:
        return None
    structure, side = structure_of(body_site)
    if structure is None:
        ctx.note(
            "warning",
            "code-invalid",
            ref,
            element,
            "body site not recognised (no known SNOMED CT, body-structure code or keyword)",
        )
        return None
    return Site(structure, side or side_of(body_site))


def extension_side(ctx: Context, ref: str, resource: JSON) -> Side | None:
    """Side from the observation-structureLaterality extension; an unknown code is reported."""
    ext = extension_value(resource, LATERALITY_EXT)
    if ext is None:
        return None
    value = obj(ext, "valueCodeableConcept")
    side = side_of(value)
    if side is None:
        ctx.note(
            "warning",
            "code-invalid",
            ref,
            f"{resource.get('resourceType')}.extension('{LATERALITY_EXT}')",
            "laterality not recognised (expected SNOMED CT 7771000, 24028007 or 51440002); side unknown",
        )
    return side
