"""Relevance before validation: which input resources can matter to the differential.

Real records are mostly vital signs, routine labs, encounters, claims and immunizations. Fully
validating each with fhir.resources costs about 200 µs (docs/performance.md, "record building"),
so resources that cannot contribute are recognised first, by resource type and code against the
terminology tables, counted, and skipped before validation. The rule for each type is the
reader's own test, applied to the same elements, so a skipped resource is one its reader would
have read nothing from (tests/normalize/test_relevance.py checks that over the HL7 R4 examples):

* Observation: a code of the finding, observation or lab tables; a CodeableConcept text or
  display the keyword fallback names (affirmed or negated); a component coded as a finding;
  the ``valueString`` of an imaging observation (report text); category ``imaging``.
* Condition: a condition code, or text the keyword fallback names.
* Procedure: a code or text naming a condition concept (splenectomy → asplenia).
* MedicationStatement / MedicationRequest: a drug class the medication tables know (code or
  text), of ``medicationCodeableConcept`` or of the contained or bundled Medication referenced;
  a reference to a Medication not in the input is relevant (the reader reports it).
* DiagnosticReport: a radiology report, or a conclusion code naming an imaging finding.
* DocumentReference: an imaging report (type, category or related ImagingStudy).
* Patient, ImagingStudy: always. Medication and Binary: when a relevant resource uses them
  (validated at the end). Other types: never.

A resource whose deciding elements are malformed (a ``code`` that is not an object, a coding
that is not a list of objects, ...) is treated as relevant, so full validation names the bad
element instead of the resource vanishing. Skipped resources are not validated: a malformed
element elsewhere in a vital-sign Observation is not reported, as nothing of it is used.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from operator import itemgetter
from typing import Final

from bmefhir import terminology
from bmefhir.normalize.conditions import IGNORED_VERIFICATION, PROCEDURE_NOT_DONE
from bmefhir.normalize.context import Context
from bmefhir.normalize.fhirjson import JSON, codings, elements_key, exact_key, obj, objs, string, texts
from bmefhir.normalize.imaging import is_radiology
from bmefhir.normalize.medications import SKIPPED_STATUS as MEDICATION_SKIPPED_STATUS
from bmefhir.normalize.observations import CATEGORY_SYSTEM, SKIPPED_STATUS
from bmefhir.normalize.parse import READ_TYPES
from bmefhir.normalize.report_sources import imaging_document_type, is_imaging_observation, related_studies
from bmefhir.record import Severity
from bmefhir.terminology import Group

__all__ = ["LISTED_PER_TYPE", "Skip", "SkipLog", "skip_reason", "unused_type"]

# Skipped resources named one by one, per type; the rest are only counted (bounded output for a
# patient with tens of thousands of resources). Chosen by reference, so input order does not matter.
LISTED_PER_TYPE: Final = 100

_OBSERVATION_GROUPS: Final[tuple[Group, ...]] = ("finding", "observation", "lab")
# Elements that decide relevance, by type: each must be well formed for a resource to be skipped.
_CONCEPTS: Final[dict[str, tuple[str, ...]]] = {
    "Observation": ("code",),
    "Condition": ("code", "verificationStatus"),
    "Procedure": ("code",),
    "MedicationStatement": ("medicationCodeableConcept",),
    "MedicationRequest": ("medicationCodeableConcept",),
    "DiagnosticReport": ("code",),
    "DocumentReference": ("type",),
}
_CONCEPT_LISTS: Final[dict[str, tuple[str, ...]]] = {
    "Observation": ("category", "component"),
    "DiagnosticReport": ("category", "conclusionCode", "imagingStudy"),
    "DocumentReference": ("category",),
}


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a resource is not read: the note it gets when it is listed (the reader's own wording)."""

    severity: Severity
    code: str
    element: str
    message: str


# The elements each memoised rule reads (with ``_well_formed``), so resources alike in them are
# decided alike: a record's vital signs and routine labs repeat a few codes hundreds of times.
# Reports, and medication uses naming their drug by reference, are decided each time (they resolve
# references or read more elements).
_DECIDING: Final[dict[str, tuple[str, ...]]] = {
    "Observation": ("status", "category", "code", "component"),  # and whether valueString is present;
    # of a component only its code
    "Condition": ("status", "verificationStatus", "code"),
    "Procedure": ("status", "code"),
    # Only with a medicationCodeableConcept object (see below): then the rule reads nothing else.
    "MedicationStatement": ("status", "medicationCodeableConcept"),
    "MedicationRequest": ("status", "medicationCodeableConcept"),
}
_UNDECIDED: Final = object()
_NONE: Final = object()


def skip_reason(ctx: Context, res: JSON) -> Skip | None:
    """None when ``res`` may matter to the differential (validate and read it), else why not."""
    rtype = str(res.get("resourceType"))
    if rtype not in READ_TYPES:
        return unused_type(rtype)
    rule = _RULES.get(rtype)
    if rule is None:
        return None
    if rtype == "DocumentReference":
        return _document_reference(ctx, res)  # its shape check included
    deciding = _DECIDING.get(rtype)
    if deciding is None or (
        rtype.startswith("Medication") and not isinstance(res.get("medicationCodeableConcept"), dict)
    ):
        return rule(ctx, res) if _well_formed(res, rtype) else None
    # The deciding elements present, as exact JSON (``1`` and ``true`` differ); an element present as
    # null differs from one absent (the shape check reads presence). Of a component only its code
    # decides (blood pressures differ in their values, not in what decides them).
    if "component" in res:
        present = {k: v for k in deciding if (v := res.get(k, _NONE)) is not _NONE}
        data: object = exact_key({k: _component_codes(v) if k == "component" else v for k, v in present.items()})
    else:  # most resources (a tuple key: never equal to one of ``exact_key``'s)
        data = elements_key(res, deciding)
    if data is None:  # not JSON data: decided alone
        return rule(ctx, res) if _well_formed(res, rtype) else None
    key = (rtype, "valueString" in res, data)
    found = ctx.decided.get(key, _UNDECIDED)
    if found is _UNDECIDED:
        found = ctx.decided[key] = rule(ctx, res) if _well_formed(res, rtype) else None
    return found  # type: ignore[return-value]


def _component_codes(components: object) -> object:
    """What of ``Observation.component`` decides relevance: each component's code (its shape kept)."""
    if not isinstance(components, list):
        return components
    return [{"code": c.get("code")} if isinstance(c, dict) else c for c in components]


def unused_type(rtype: str) -> Skip:
    """The note of a resource whose type bmefhir never reads (Encounter, Claim, Immunization, ...)."""
    return _unused_type(rtype) if len(rtype) <= 64 else _unused(rtype)  # FHIR type names are short


def _unused(rtype: str) -> Skip:
    return Skip("information", "not-supported", rtype, f"resource type {rtype} is not used by bmefhir")


_unused_type = lru_cache(maxsize=256)(_unused)  # one note per type, not one per resource


def _observation(ctx: Context, res: JSON) -> Skip | None:
    status = string(res, "status")
    if status in SKIPPED_STATUS:
        return Skip("information", "informational", "Observation.status", f"status {status}; ignored")
    categories = {c.code for cc in objs(res, "category") for c in codings(cc) if c.system in (None, CATEGORY_SYSTEM)}
    if "imaging" in categories:
        return None  # an unrecognised imaging observation is warned about by the reader
    code = obj(res, "code")
    cods = codings(code)
    if any(_coded(c.system, c.code, _OBSERVATION_GROUPS) for c in cods):
        return None
    if "valueString" in res and is_imaging_observation(res):
        return None  # report text
    for c in cods:
        if (reason := terminology.ignored_reason(c.system, c.code)) is not None:
            return Skip("information", "informational", "Observation.code", f"known code not used: {reason}")
    if _names_concept(ctx, texts(code), _OBSERVATION_GROUPS):
        return None
    for comp in objs(res, "component"):
        if any(terminology.concept_for(c.system, c.code, "finding") for c in codings(obj(comp, "code"))):
            return None
    if "vital-signs" in categories:
        return Skip("information", "informational", "Observation.code", "vital sign not used by bmefhir")
    return Skip("information", "code-invalid", "Observation.code", "code not recognised; observation not used")


def _condition(ctx: Context, res: JSON) -> Skip | None:
    verification = next((c.code for c in codings(obj(res, "verificationStatus")) if c.code), None)
    if verification in IGNORED_VERIFICATION:
        message = f"verification status {verification}; ignored"
        return Skip("information", "informational", "Condition.verificationStatus", message)
    code = obj(res, "code")
    if any(terminology.concept_for(c.system, c.code, "condition") for c in codings(code)):
        return None
    if _names_concept(ctx, texts(code), ("condition",)):
        return None
    return Skip("information", "code-invalid", "Condition.code", "condition not recognised; not used")


def _procedure(ctx: Context, res: JSON) -> Skip | None:
    status = string(res, "status")
    if status in PROCEDURE_NOT_DONE:
        return Skip("information", "informational", "Procedure.status", f"status {status}; not used")
    code = obj(res, "code")
    if any(terminology.concept_for(c.system, c.code, "condition") for c in codings(code)):
        return None
    if _names_concept(ctx, texts(code), ("condition",)):
        return None
    return Skip("information", "code-invalid", "Procedure.code", "procedure not a risk factor bmefhir reads; not used")


def _medication_use(ctx: Context, res: JSON) -> Skip | None:
    rtype = str(res.get("resourceType"))
    status = string(res, "status")
    if status in MEDICATION_SKIPPED_STATUS.get(rtype, frozenset()):
        return Skip("information", "informational", f"{rtype}.status", f"status {status}; ignored")
    message = "medication not in a drug class bmefhir reads; not used"
    if (cc := obj(res, "medicationCodeableConcept")) is not None:
        if _drug_named(ctx, cc):
            return None
        return Skip("information", "code-invalid", f"{rtype}.medicationCodeableConcept", message)
    medication = _referenced_medication(ctx, res)
    if medication is None:
        return None  # no medication, or one not in the input: the reader reports it or uses its display
    concepts = [obj(medication, "code"), *(obj(i, "itemCodeableConcept") for i in objs(medication, "ingredient"))]
    if any(_drug_named(ctx, cc) for cc in concepts):
        return None
    return Skip("information", "code-invalid", f"{rtype}.medicationReference", message)


def _referenced_medication(ctx: Context, res: JSON) -> JSON | None:
    """The contained or bundled Medication of ``medicationReference`` (as the reader resolves it)."""
    raw = string(obj(res, "medicationReference"), "reference")
    if raw is None:
        return None
    if raw.startswith("#"):
        return next((c for c in objs(res, "contained") if c.get("id") == raw[1:]), None)
    target = ctx.resolve(obj(res, "medicationReference"))
    return ctx.by_ref.get(target) if target is not None else None


def _diagnostic_report(ctx: Context, res: JSON) -> Skip | None:
    if is_radiology(res):
        return None
    for cc in objs(res, "conclusionCode"):
        if any(terminology.concept_for(c.system, c.code, "finding") for c in codings(cc)):
            return None
        if _names_concept(ctx, texts(cc), ("finding",)):
            return None
    message = "not a radiology report; only radiology reports are read (lab values come from their Observations)"
    return Skip("information", "not-supported", "DiagnosticReport.category", message)


_NOT_IMAGING_DOCUMENT: Final = Skip(
    "information",
    "not-supported",
    "DocumentReference.type",
    "not an imaging report (type, category or related ImagingStudy); not read",
)
# What decides a DocumentReference by its kind (``_document_reference``): memoised like ``_DECIDING``.
_DOCUMENT_KIND: Final = ("status", "type", "category")


def _document_reference(ctx: Context, res: JSON) -> Skip | None:
    """``is_imaging_document``: by type and category once per distinct pair (the shape check
    included: it reads status, type and category), then by ``context.related`` each time (it
    resolves references)."""
    key = elements_key(res, _DOCUMENT_KIND)
    if key is None:
        by_kind = _document_kind(res)
    else:
        found = ctx.decided.get(("DocumentReference", key), _UNDECIDED)
        if found is _UNDECIDED:
            found = ctx.decided[("DocumentReference", key)] = _document_kind(res)
        by_kind = found  # type: ignore[assignment]
    if by_kind is None or related_studies(ctx, res):
        return None
    return by_kind


def _document_kind(res: JSON) -> Skip | None:
    if not _well_formed(res, "DocumentReference") or imaging_document_type(res):
        return None
    return _NOT_IMAGING_DOCUMENT


_RULES = {
    "Observation": _observation,
    "Condition": _condition,
    "Procedure": _procedure,
    "MedicationStatement": _medication_use,
    "MedicationRequest": _medication_use,
    "DiagnosticReport": _diagnostic_report,
    "DocumentReference": _document_reference,
}


def _names_concept(ctx: Context, candidates: Iterable[str], groups: tuple[Group, ...]) -> bool:
    """Some text matches a keyword of ``groups``, affirmed or negated (the reader reads or explains both)."""
    seen = ctx.text_hits
    for text in candidates:
        hit = seen.get((text, groups))
        if hit is None:
            hit = seen[(text, groups)] = _keyword_search(groups)(text)
        if hit:
            return True
    return False


def _coded(system: str | None, code: str | None, groups: tuple[Group, ...]) -> bool:
    """A coding maps to a concept of one of ``groups`` (one memoised answer instead of one per group;
    only short keys are memoised, as an input string may be up to a mebibyte)."""
    if len(system or "") + len(code or "") > 256:
        return _any_concept(system, code, groups)
    return _any_concept_memo(system, code, groups)


def _any_concept(system: str | None, code: str | None, groups: tuple[Group, ...]) -> bool:
    return any(terminology.concept_for(system, code, g) for g in groups)


_any_concept_memo = lru_cache(maxsize=1 << 15)(_any_concept)


@cache
def _keyword_search(groups: tuple[Group, ...]) -> Callable[[str], bool]:
    """Whether a text matches any keyword pattern of ``groups``: one combined regex (one pass over the
    text instead of one per pattern, the main cost of deciding relevance), or the patterns one by one
    when they cannot be combined (inline flags, backreferences)."""
    patterns = [kw.pattern for g in groups for kw, _ in terminology.tables().keywords[g]]
    if not patterns:
        return lambda text: False
    try:
        if any("\\" + d in p.pattern for p in patterns for d in "123456789"):
            raise re.error("backreference")
        combined = re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE)
    except re.error:
        return lambda text: any(p.search(text) for p in patterns)
    return lambda text: combined.search(text) is not None


def _drug_named(ctx: Context, cc: JSON | None) -> bool:
    """A medication CodeableConcept a drug class is read from: a code of the tables, or a drug keyword."""
    if any(terminology.concept_for(c.system, c.code, "medication") for c in codings(cc)):
        return True
    return _names_concept(ctx, texts(cc), ("medication",))


# --- shape of the deciding elements ------------------------------------------------------------


def _well_formed(res: JSON, rtype: str) -> bool:
    """Status, codes and categories of the right JSON types: a skip decision can trust them."""
    if "status" in res and not isinstance(res["status"], str):
        return False
    if not all(_concept_ok(res.get(key)) for key in _CONCEPTS.get(rtype, ())):
        return False
    for key in _CONCEPT_LISTS.get(rtype, ()):
        value = res.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            return False
        if key == "component" and not all(_concept_ok(v.get("code")) for v in value):
            return False
        if key in ("category", "conclusionCode") and not all(_concept_ok(v) for v in value):
            return False
    return True


def _concept_ok(cc: object) -> bool:
    """An absent or well-formed CodeableConcept (text and codings' system/code/display strings)."""
    # Plain loops rather than nested all(...) generators: this runs for every code of every resource.
    if cc is None:
        return True
    if not isinstance(cc, dict) or not isinstance(cc.get("text", ""), str):
        return False
    coding = cc.get("coding", [])
    if not isinstance(coding, list):
        return False
    for c in coding:
        if not isinstance(c, dict):
            return False
        for k in ("system", "code", "display"):
            if k in c and not isinstance(c[k], str):
                return False
    return True


# --- counting ----------------------------------------------------------------------------------


@dataclass
class SkipLog:
    """Skipped resources per type: counted, and the first ``LISTED_PER_TYPE`` by reference listed."""

    limit: int = LISTED_PER_TYPE
    _by_type: dict[str, list[tuple[str, Skip]]] = field(default_factory=dict)

    def add(self, rtype: str, ref: str, skip: Skip) -> None:
        self._by_type.setdefault(rtype, []).append((ref, skip))

    def counts(self) -> dict[str, int]:
        return {rtype: len(items) for rtype, items in sorted(self._by_type.items())}

    def emit(self, ctx: Context, patient_ref: str) -> None:
        """One note per listed resource, and per type one count on the patient (element: the type)."""
        for rtype, items in sorted(self._by_type.items()):
            listed = heapq.nsmallest(self.limit, items, key=itemgetter(0))
            for ref, skip in listed:
                ctx.note(skip.severity, skip.code, ref, skip.element, skip.message)
            total = len(items)
            noun = "resource" if total == 1 else "resources"
            message = f"{total:,} {rtype} {noun} not read: nothing in them bmefhir uses (not validated)"
            if total > len(listed):
                rest = total - len(listed)
                message += f"; the first {len(listed):,} by reference are listed, the other {rest:,} only counted"
            ctx.note("information", "informational", patient_ref, rtype, message)
