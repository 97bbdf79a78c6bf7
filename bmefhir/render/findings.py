"""Findings read from report text, written back as structured ``bmefhir-imaging-finding`` Observations.

Pure: one Observation per text-derived ``ImagingFinding`` (``finding.text is not None``), shaped like
the input profile (docs/input-conventions.md "Imaging finding") so any system — bmefhir included —
can use it as coded data, and marked as ours so bmefhir never reads it back as input
(``bmefhir.fhir.existing.is_own_output``: the identifier system below).

Identity is content: the business identifier is the source report, the concept, the structure and
the side, and the logical id a uuid5 of it, so re-running on the same report updates rather than
duplicates. The quoted phrase (patient data) goes into the Observation's ``note`` — it belongs in
the EHR next to the report it came from — and nowhere else (never in logs).

R4 restricts ``Observation.derivedFrom`` to DocumentReference, ImagingStudy, Media,
QuestionnaireResponse, Observation and MolecularSequence: a finding from a DocumentReference (or an
imaging Observation's text) is ``derivedFrom`` that resource; one from a DiagnosticReport is
``derivedFrom`` the report's ImagingStudy when known, and the report itself is named in the note and
is a ``source`` entity of the run's Provenance (every input is).
"""

from __future__ import annotations

import uuid
from html import escape
from typing import Any, Final

from bmefhir.analysis import Analysis
from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import FINDING_CONCEPTS
from bmefhir.record import ImagingFinding
from bmefhir.render import ids

Json = dict[str, Any]

__all__ = ["FINDING_IDENTIFIER_SYSTEM", "TEXT_FINDING_TAG", "finding_identifier", "text_findings"]

FINDING_IDENTIFIER_SYSTEM: Final = f"{ids.BASE}/sid/text-finding"
# meta.tag on each: a human-visible mark of where it came from (recognition uses the identifier).
TEXT_FINDING_TAG: Final = {
    "system": f"{ids.BASE}/CodeSystem/output-kind",
    "code": "text-finding",
    "display": "Imaging finding read by bmefhir from radiology report text",
}
SCT: Final = "http://snomed.info/sct"
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
_PRESENT: Final = {"system": SCT, "code": "52101004", "display": "Present"}
_ABSENT: Final = {"system": SCT, "code": "2667000", "display": "Absent"}
_SIDES: Final = {
    "left": ("7771000", "Left"),
    "right": ("24028007", "Right"),
    "bilateral": ("51440002", "Right and left"),
}
LATERALITY_EXT: Final = f"{ids.BASE}/StructureDefinition/laterality"  # docs/input-conventions.md
_DERIVABLE: Final = frozenset({"DocumentReference", "Observation", "ImagingStudy", "Media"})
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, FINDING_IDENTIFIER_SYSTEM)


def finding_identifier(finding: ImagingFinding) -> str:
    """The business identifier value: source report, concept, structure, side ("-" when none)."""
    site = finding.site
    structure, side = (site.structure, site.side or "-") if site else ("-", "-")
    return "/".join([finding.ref, finding.concept, structure, side])


def writable(finding: ImagingFinding) -> bool:
    """Read from text and sited: the imaging-finding profile requires a bodySite, so a finding whose
    report names no site (and whose study has none) is used and quoted, but not written back."""
    return finding.text is not None and finding.site is not None


def text_findings(analysis: Analysis) -> tuple[Json, ...]:
    """One Observation per sited text-derived finding of the record, in record order, one per identifier."""
    out: dict[str, Json] = {}
    for finding in analysis.record.findings:
        if not writable(finding):
            continue
        value = finding_identifier(finding)
        if value not in out:
            out[value] = _observation(finding, value, analysis.record.patient.ref)
    return tuple(out.values())


def _observation(finding: ImagingFinding, identifier: str, patient_ref: str) -> Json:
    text = finding.text
    assert text is not None  # callers pass text-derived findings only
    display = FINDING_CONCEPTS.get(finding.concept, finding.concept)
    where = _where(finding)
    state = "present" if finding.present else "absent"
    assertion = text.assertion if text.assertion != "negated" else "negated (absent)"
    note = (
        f"Read by bmefhir from the radiology report text of {finding.ref} ({text.element}"
        f"{', ' + text.section if text.section else ''}; language {text.language}); assertion: {assertion}. "
        f'Quoted: "{text.quote}"'
    )
    obs: Json = {
        "resourceType": "Observation",
        "id": str(uuid.uuid5(_NAMESPACE, identifier)),
        "meta": {"profile": [ids.profile_url("imaging-finding")], "tag": [dict(TEXT_FINDING_TAG)]},
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>'
            + escape(
                f"{display}: {state}{', ' + where if where else ''}"
                f"{' (uncertain)' if finding.uncertain else ''}; read from {finding.ref}."
            )
            + "</p></div>",
        },
        "identifier": [{"system": FINDING_IDENTIFIER_SYSTEM, "value": identifier}],
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "imaging", "display": "Imaging"}]}],
        "code": {
            "coding": [
                {"system": f"{ids.BASE}/CodeSystem/imaging-finding", "code": finding.concept, "display": display}
            ]
        },
        "subject": {"reference": patient_ref},
        "valueCodeableConcept": {"coding": [dict(_PRESENT if finding.present else _ABSENT)]},
        "note": [{"text": note}],
    }
    if finding.date is not None:
        obs["effectiveDateTime"] = finding.date.isoformat()
    if finding.site is not None:
        structure = STRUCTURES.get(finding.site.structure)
        coding = {"system": f"{ids.BASE}/CodeSystem/body-structure", "code": finding.site.structure}
        if structure is not None:
            coding["display"] = structure.display
        obs["bodySite"] = {"coding": [coding], "text": where}
        if finding.site.side is not None:
            code, side_display = _SIDES[finding.site.side]
            obs["extension"] = [
                {
                    "url": LATERALITY_EXT,
                    "valueCodeableConcept": {"coding": [{"system": SCT, "code": code, "display": side_display}]},
                }
            ]
    derived = _derived_from(finding)
    if derived:
        obs["derivedFrom"] = [{"reference": derived}]
    if finding.study_ref:
        obs["partOf"] = [{"reference": finding.study_ref}]
    if finding.modality:
        obs["method"] = {"text": f"Read from the {finding.modality} report text"}
    return obs


def _derived_from(finding: ImagingFinding) -> str | None:
    kind = finding.ref.split("/", 1)[0]
    if kind in _DERIVABLE:
        return finding.ref
    return finding.study_ref


def _where(finding: ImagingFinding) -> str:
    if finding.site is None:
        return ""
    structure = STRUCTURES.get(finding.site.structure)
    name = structure.display.lower() if structure else finding.site.structure
    return f"{finding.site.side} {name}" if finding.site.side else name
