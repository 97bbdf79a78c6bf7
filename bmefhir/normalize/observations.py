"""Observation → LabResult, ClinicalObservation or ImagingFinding (routed by category and code).

Categories (R4 observation-category, as US Core sends them): ``imaging`` reads the code as a finding
first, ``laboratory`` as a lab first, ``vital-signs`` and the rest as a clinical observation first
(body temperature is the one vital sign the differential uses; the others are reported as not used).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bmefhir import terminology
from bmefhir.normalize.context import Context
from bmefhir.normalize.fhirjson import JSON, Coding, codings, elements_key, obj, objs, string, texts
from bmefhir.normalize.imaging import study_context
from bmefhir.normalize.sites import extension_side, read_site
from bmefhir.normalize.text import negated_text_reason
from bmefhir.normalize.values import coded_result, interpretation, presence, result_from_text, value_quantity
from bmefhir.record import ClinicalObservation, ImagingFinding, LabResult, Severity, Site
from bmefhir.terminology import Group, Mapping, UnitError

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
SKIPPED_STATUS = frozenset({"entered-in-error", "cancelled"})
PRELIMINARY_STATUS = frozenset({"preliminary", "registered"})
# R4 observation-status (required binding).
STATUSES = frozenset(
    {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
)
_CODE_ELEMENTS = ("status", "category", "code")  # what ``_code_reading`` reads


@dataclass
class ObservationItems:
    labs: list[LabResult] = field(default_factory=list)
    observations: list[ClinicalObservation] = field(default_factory=list)
    findings: list[ImagingFinding] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.labs or self.observations or self.findings)


def _categories(res: JSON) -> set[str]:
    return {
        c.code for cc in objs(res, "category") for c in codings(cc) if c.code and c.system in (None, CATEGORY_SYSTEM)
    }


def _group_order(categories: set[str] | frozenset[str]) -> tuple[Group, ...]:
    if "imaging" in categories:
        return ("finding", "observation", "lab")
    if "laboratory" in categories:
        return ("lab", "observation", "finding")
    return ("observation", "lab", "finding")


def _map(cc: JSON | None, order: tuple[Group, ...]) -> Mapping | None:
    return _map_codings(codings(cc), order)


def _map_codings(cods: list[Coding], order: tuple[Group, ...]) -> Mapping | None:
    for group in order:
        for c in cods:
            if (m := terminology.concept_for(c.system, c.code, group)) is not None:
                return m
    return None


def _map_text(cc: JSON | None, order: tuple[Group, ...]) -> Mapping | None:
    for group in order:
        for text in texts(cc):
            if (m := terminology.concept_for_text(text, group)) is not None:
                return m
    return None


def effective_date(ctx: Context, ref: str, res: JSON) -> date | None:
    rt = str(res.get("resourceType"))
    for key in ("effectiveDateTime", "effectiveInstant"):
        if key in res:
            return ctx.date(ref, f"{rt}.{key}", res.get(key))
    if (period := obj(res, "effectivePeriod")) is not None:
        return ctx.date(ref, f"{rt}.effectivePeriod.start", period.get("start"))
    if "issued" in res:
        ctx.note("information", "incomplete", ref, f"{rt}.effective", "no effective date; the issued date is used")
        return ctx.date(ref, f"{rt}.issued", res.get("issued"))
    ctx.note("warning", "incomplete", ref, f"{rt}.effective", "no effective date; date unknown")
    return None


@dataclass(frozen=True, slots=True)
class _CodeReading:
    """What an Observation's status, category and code say, before its value is read."""

    notes: tuple[tuple[Severity, str, str, str], ...]  # (severity, issue code, element, message), in order
    done: bool  # nothing more is read (a skipped status, a known code deliberately not used)
    categories: frozenset[str]
    order: tuple[Group, ...]
    mapping: Mapping | None
    loinc: str


def _code_reading(res: JSON) -> _CodeReading:
    notes: list[tuple[Severity, str, str, str]] = []
    status = string(res, "status")
    if status in SKIPPED_STATUS:
        notes.append(("information", "informational", "Observation.status", f"status {status}; ignored"))
        return _CodeReading(tuple(notes), True, frozenset(), (), None, "")
    if status in PRELIMINARY_STATUS:
        notes.append(("warning", "value", "Observation.status", f"status {status}; read, but results may change"))
    elif status is not None and status not in STATUSES:
        notes.append(
            (
                "warning",
                "code-invalid",
                "Observation.status",
                "status is not a code of its R4 value set; read, but the result may not be final",
            )
        )

    categories = frozenset(_categories(res))
    order = _group_order(categories)
    code = obj(res, "code")
    cods = codings(code)
    mapping = _map_codings(cods, order)
    if mapping is None:
        for c in cods:
            if (reason := terminology.ignored_reason(c.system, c.code)) is not None:
                notes.append(("information", "informational", "Observation.code", f"known code not used: {reason}"))
                return _CodeReading(tuple(notes), True, categories, order, None, "")
        mapping = _map_text(code, order)
        if mapping is not None:
            notes.append(
                (
                    "information",
                    "code-invalid",
                    "Observation.code",
                    f"code not recognised; matched by text as {mapping.concept}",
                )
            )
    loinc = next((c.code for c in cods if c.code), "") if mapping is not None else ""
    return _CodeReading(tuple(notes), False, categories, order, mapping, loinc)


def read_observation(ctx: Context, ref: str, res: JSON, *, has_text: bool = False) -> ObservationItems:
    """``has_text``: its valueString is read as report text, so an unmapped code is not a loss."""
    items = ObservationItems()
    # What status, category and code say is the same for every Observation alike in them (a record's
    # lab results and vital signs repeat a few codes hundreds of times): read once per record, keyed
    # by their exact JSON (``fhirjson.elements_key``).
    key = elements_key(res, _CODE_ELEMENTS)
    reading = ctx.code_readings.get(key) if key is not None else None
    if reading is None:
        reading = _code_reading(res)
        if key is not None:
            ctx.code_readings[key] = reading
    for note in reading.notes:
        ctx.note(note[0], note[1], ref, note[2], note[3])
    if reading.done:
        return items
    categories, order, mapping, loinc = reading.categories, reading.order, reading.mapping, reading.loinc
    code = obj(res, "code")

    when = effective_date(ctx, ref, res) if mapping is not None or objs(res, "component") else None
    if mapping is not None:
        if mapping.group == "lab":
            if (lab := _lab(ctx, ref, res, mapping, loinc, when)) is not None:
                items.labs.append(lab)
        elif mapping.group == "observation":
            items.observations.extend(_clinical(ctx, ref, res, mapping, when))
        elif mapping.group == "finding":
            items.findings.extend(_findings(ctx, ref, res, mapping, when))
        else:
            ctx.note(
                "information",
                "not-supported",
                ref,
                "Observation.code",
                f"a {mapping.group} code is not read from an Observation",
            )
    items.findings.extend(_component_findings(ctx, ref, res, when, mapping))

    if items.empty() and mapping is None and not has_text:
        if "vital-signs" in categories and "imaging" not in categories:
            ctx.note("information", "informational", ref, "Observation.code", "vital sign not used by bmefhir")
            return items
        # An unrecognised imaging observation is likely something the analysis needed.
        severity: Severity = "warning" if "imaging" in categories else "information"
        reason = negated_text_reason(code, order) or "code not recognised; observation not used"
        ctx.note(severity, "code-invalid", ref, "Observation.code", reason)
    return items


# --- labs -------------------------------------------------------------------------------------


def _lab(ctx: Context, ref: str, res: JSON, mapping: Mapping, code: str, when: date | None) -> LabResult | None:
    concept = mapping.concept
    canonical = terminology.canonical_unit(concept)
    high, low, result = interpretation(res)
    value: float | None = None
    unit: str | None = None
    q = value_quantity(res)
    problem: tuple[str, str, str] | None = None  # (code, element, message) when the value is dropped
    if q is not None:
        if q.value is None:
            problem = ("value", "Observation.valueQuantity.value", "quantity has no numeric value")
        elif canonical is None:
            problem = (
                "value",
                "Observation.valueQuantity",
                f"numeric result for the coded test {concept}; value not used",
            )
        else:
            converted = terminology.convert(concept, q.value, q.unit)
            if isinstance(converted, UnitError):
                element = "Observation.valueQuantity.code" if q.unit else "Observation.valueQuantity.unit"
                problem = ("incomplete" if q.unit is None else "value", element, f"{converted.reason}; value not used")
            else:
                value, unit = converted
                if q.comparator:
                    ctx.note(
                        "information",
                        "value",
                        ref,
                        "Observation.valueQuantity.comparator",
                        f"comparator {q.comparator} ignored; the limit is used as the value",
                    )
                if high is None:
                    high = _above_reference(res, concept, q.unit, value)
    elif (cc := obj(res, "valueCodeableConcept")) is not None:
        result = coded_result(cc) or result
        if result is None:
            problem = ("code-invalid", "Observation.valueCodeableConcept", "qualitative result not recognised")
    elif (text := string(res, "valueString")) is not None:
        result = result_from_text(text) or result
        if result is None:
            problem = ("value", "Observation.valueString", "text result is neither positive nor negative; not used")
    elif result is None and high is None:
        reason = "data absent" if obj(res, "dataAbsentReason") is not None else "no value"
        problem = ("incomplete", "Observation.value", f"{reason}; result not used")

    usable = value is not None or result is not None or high is not None or low is not None
    if problem is not None:
        ctx.note("warning" if usable else "error", problem[0], ref, problem[1], problem[2])
    if not usable:
        return None
    return LabResult(ref, concept, code, value, unit, when, result, high, low)


def _above_reference(res: JSON, concept: str, value_unit: str | None, value: float) -> bool | None:
    for rr in objs(res, "referenceRange"):
        q = value_quantity({"valueQuantity": obj(rr, "high")})
        if q is None or q.value is None:
            continue
        converted = terminology.convert(concept, q.value, q.unit or value_unit)
        if not isinstance(converted, UnitError):
            return value > converted[0]
    return None


# --- clinical observations -------------------------------------------------------------------


def _site(ctx: Context, ref: str, res: JSON, mapping: Mapping | None) -> Site | None:
    site = read_site(ctx, ref, "Observation.bodySite", obj(res, "bodySite"))
    side = extension_side(ctx, ref, res)
    if site is None and mapping is not None and mapping.site is not None:
        site = Site(mapping.site.structure, mapping.site.side)
    if site is not None and side is not None:
        site = Site(site.structure, side)
    return site


def _clinical(ctx: Context, ref: str, res: JSON, mapping: Mapping, when: date | None) -> list[ClinicalObservation]:
    site = _site(ctx, ref, res, mapping)
    if mapping.answers is not None:
        return _answered(ctx, ref, res, mapping, when, site)
    if terminology.canonical_unit(mapping.concept) is not None:
        q = value_quantity(res)
        if q is None or q.value is None:
            ctx.note(
                "error", "incomplete", ref, "Observation.value", f"no numeric value for {mapping.concept}; not used"
            )
            return []
        converted = terminology.convert(mapping.concept, q.value, q.unit)
        if isinstance(converted, UnitError):
            element = "Observation.valueQuantity.code" if q.unit else "Observation.valueQuantity.unit"
            ctx.note(
                "error",
                "incomplete" if q.unit is None else "value",
                ref,
                element,
                f"{converted.reason}; value not used",
            )
            return []
        return [ClinicalObservation(ref, mapping.concept, converted[0], converted[1], when, site)]
    present = presence(res)
    if present is None:
        ctx.note("information", "incomplete", ref, "Observation.value", "no present/absent value; read as present")
        present = True
    return [ClinicalObservation(ref, mapping.concept, present, None, when, site)]


def _answered(
    ctx: Context, ref: str, res: JSON, mapping: Mapping, when: date | None, site: Site | None
) -> list[ClinicalObservation]:
    assert mapping.answers is not None
    cc = obj(res, "valueCodeableConcept")
    for c in codings(cc):
        ans = terminology.answer(mapping.answers, c.system, c.code)
        if ans is not None:
            if not ans.facts:
                ctx.note(
                    "information",
                    "incomplete",
                    ref,
                    "Observation.valueCodeableConcept",
                    "answer states no usable fact (unknown)",
                )
            return [ClinicalObservation(ref, concept, value, None, when, site) for concept, value in ans.facts]
    if (b := presence(res)) is not None and cc is None:
        return [ClinicalObservation(ref, mapping.concept, b, None, when, site)]
    ctx.note(
        "error",
        "code-invalid",
        ref,
        "Observation.valueCodeableConcept",
        f"answer not recognised for {mapping.concept}; not used",
    )
    return []


# --- imaging findings ------------------------------------------------------------------------


def imaging_study_refs(ctx: Context, res: JSON) -> list[str]:
    refs = {r for key in ("partOf", "derivedFrom") for x in objs(res, key) if (r := ctx.resolve(x))}
    return sorted(r for r in refs if r.startswith("ImagingStudy/"))


def _finding_site(ctx: Context, ref: str, res: JSON, study_sites: tuple[Site, ...]) -> Site | None:
    site = _site(ctx, ref, res, None)
    if site is None and obj(res, "bodySite") is None and len(study_sites) == 1:
        return study_sites[0]
    if site is not None and site.side is None:
        # The study's series laterality, when its series of this structure (or all series) agree.
        sides = {s.side for s in study_sites if s.side and s.structure == site.structure} or {
            s.side for s in study_sites if s.side
        }
        if len(sides) == 1:
            site = Site(site.structure, sides.pop())
    return site


def _finding_present(ctx: Context, ref: str, holder: JSON, element: str) -> bool:
    present = presence(holder)
    if present is None:
        ctx.note("warning", "incomplete", ref, element, "no present/absent value; the finding is read as present")
        return True
    return present


def _findings(ctx: Context, ref: str, res: JSON, mapping: Mapping, when: date | None) -> list[ImagingFinding]:
    refs = imaging_study_refs(ctx, res)
    modality, study_sites = study_context(ctx, refs)
    site = _finding_site(ctx, ref, res, study_sites)
    present = _finding_present(ctx, ref, res, "Observation.value")
    return [ImagingFinding(ref, mapping.concept, present, site, when, modality, refs[0] if refs else None)]


def _component_findings(
    ctx: Context, ref: str, res: JSON, when: date | None, parent: Mapping | None
) -> list[ImagingFinding]:
    if "component" not in res:  # most Observations
        return []
    components = objs(res, "component")
    mapped = [(i, m) for i, comp in enumerate(components) if (m := _map(obj(comp, "code"), ("finding",))) is not None]
    if not mapped:
        return []
    refs = imaging_study_refs(ctx, res)
    modality, study_sites = study_context(ctx, refs)
    site = _finding_site(ctx, ref, res, study_sites)
    out = []
    for i, m in mapped:
        present = _finding_present(ctx, ref, components[i], f"Observation.component[{i}].value")
        out.append(ImagingFinding(ref, m.concept, present, site, when, modality, refs[0] if refs else None))
    return out
