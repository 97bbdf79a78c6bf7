"""StructureDefinitions: the laterality extension and the profiles of what bmefhir reads and writes, with examples."""

from __future__ import annotations

from typing import Any, Final

from bmefhir.anatomy import STRUCTURES
from bmefhir.concepts import FINDING_CONCEPTS

from .common import (
    ASSESSMENT_ID_SYSTEM,
    FHIR_CORE,
    LATERALITY_EXT,
    LOINC,
    OBS_CATEGORY,
    PLAN_DEFINITION,
    PROV_TYPE,
    SCT,
    Json,
    concept,
    fhir_id,
    metadata,
    narrative,
    url,
)


def el(path: str, *, slice_name: str | None = None, eid: str | None = None, **fields: Any) -> Json:
    """One differential element; ``eid`` defaults to the path (plus ``:slice``)."""
    e: Json = {"id": eid or (f"{path}:{slice_name}" if slice_name else path), "path": path}
    if slice_name:
        e["sliceName"] = slice_name
    e.update(fields)
    return e


def ref(*targets: str) -> list[Json]:
    return [{"code": "Reference", "targetProfile": [FHIR_CORE + t for t in targets]}]


def binding(strength: str, value_set: str, description: str | None = None) -> Json:
    b: Json = {"strength": strength, "valueSet": value_set}
    if description:
        b["description"] = description
    return b


def pattern_slicing(path: str = "$this") -> Json:
    return {"discriminator": [{"type": "pattern", "path": path}], "rules": "open"}


def profile(rid: str, base_type: str, title: str, description: str, elements: list[Json]) -> Json:
    sd = metadata("StructureDefinition", rid, title, description)
    sd |= {
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": base_type,
        "baseDefinition": FHIR_CORE + base_type,
        "derivation": "constraint",
        "differential": {"element": elements},
    }
    return sd


def identifier_slice(rtype: str) -> list[Json]:
    """Business identifier in http://bmefhir.org/fhir/sid/assessment (docs/output-resources.md)."""
    return [
        el(
            f"{rtype}.identifier",
            min=1,
            slicing={"discriminator": [{"type": "value", "path": "system"}], "rules": "open"},
        ),
        el(
            f"{rtype}.identifier",
            slice_name="assessment",
            min=1,
            max="1",
            short="bmefhir assessment identifier: {patient id}/{resource kind}",
        ),
        el(
            f"{rtype}.identifier.system",
            eid=f"{rtype}.identifier:assessment.system",
            min=1,
            fixedUri=ASSESSMENT_ID_SYSTEM,
        ),
        el(f"{rtype}.identifier.value", eid=f"{rtype}.identifier:assessment.value", min=1),
    ]


def laterality_extension() -> Json:
    sd = metadata(
        "StructureDefinition",
        "laterality",
        "Laterality",
        "Side of the body of the finding (SNOMED CT Left | Right | Right and left), for use where "
        "bodySite does not pre-coordinate laterality. bmefhir also reads HL7's "
        "observation-structureLaterality (Extensions Pack) on input.",
    )
    sd |= {
        "fhirVersion": "4.0.1",
        "kind": "complex-type",
        "abstract": False,
        "context": [
            {"type": "element", "expression": "Observation"},
            {"type": "element", "expression": "Observation.bodySite"},
        ],
        "type": "Extension",
        "baseDefinition": FHIR_CORE + "Extension",
        "derivation": "constraint",
        "differential": {
            "element": [
                el("Extension", short="Laterality of the body site", definition=sd["description"], max="1"),
                el("Extension.extension", max="0"),
                el("Extension.url", fixedUri=LATERALITY_EXT),
                el(
                    "Extension.value[x]",
                    min=1,
                    type=[{"code": "CodeableConcept"}],
                    binding=binding("required", url("ValueSet", "laterality")),
                ),
            ]
        },
    }
    return sd


def imaging_finding_profile() -> Json:
    rid = "bmefhir-imaging-finding"
    return profile(
        rid,
        "Observation",
        "bmefhir imaging finding",
        "An imaging finding (e.g. bone marrow edema of the left femoral head on MRI) as bmefhir "
        "reads it: see docs/input-conventions.md.",
        [
            el(
                "Observation",
                constraint=[
                    {
                        "key": "bmef-1",
                        "severity": "warning",
                        "human": "The finding should point at its ImagingStudy (partOf or derivedFrom), which gives "
                        "the modality.",
                        "expression": "partOf.exists() or derivedFrom.exists()",
                        "source": url("StructureDefinition", rid),
                    }
                ],
            ),
            el("Observation.extension", slicing={"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}),
            el(
                "Observation.extension",
                slice_name="laterality",
                min=0,
                max="1",
                type=[{"code": "Extension", "profile": [LATERALITY_EXT]}],
            ),
            el("Observation.partOf", type=ref("ImagingStudy")),
            el("Observation.category", min=1, slicing=pattern_slicing()),
            el(
                "Observation.category",
                slice_name="imaging",
                min=1,
                max="1",
                patternCodeableConcept=concept(OBS_CATEGORY, "imaging"),
            ),
            el(
                "Observation.code",
                binding=binding(
                    "extensible",
                    url("ValueSet", "imaging-finding"),
                    "bmefhir imaging-finding codes; SNOMED CT where a verified concept exists.",
                ),
            ),
            el("Observation.subject", min=1, type=ref("Patient")),
            el("Observation.effective[x]", min=1, type=[{"code": "dateTime"}], short="Study date"),
            el(
                "Observation.value[x]",
                type=[{"code": "CodeableConcept"}, {"code": "boolean"}],
                binding=binding(
                    "required",
                    url("ValueSet", "present-absent"),
                    "Present | Absent (absent = looked for and not seen).",
                ),
            ),
            el(
                "Observation.bodySite",
                short="The structure; absent when the finding names none (e.g. osteonecrosis stated without a site)",
                binding=binding(
                    "preferred",
                    url("ValueSet", "body-structure"),
                    "bmefhir body-structure codes, or SNOMED CT body structures.",
                ),
            ),
            el("Observation.method", short="Sequence or technique (T1, T2 FS, STIR, contrast T1) as text"),
        ],
    )


# How the output profiles describe their input references (issue 11: cite what was used).
CITED: Final = (
    "; only what the conclusions cite (evidence of the criteria, red flags, next steps, withheld"
    " treatments, timeline and risk factors), not every input"
)


def diagnostic_report_profile() -> Json:
    return profile(
        "bmefhir-diagnostic-report",
        "DiagnosticReport",
        "bmefhir diagnostic report",
        "The BME differential written back as a radiology DiagnosticReport (decision support).",
        [
            el("DiagnosticReport.text", min=1),
            *identifier_slice("DiagnosticReport"),
            el("DiagnosticReport.category", min=1, slicing=pattern_slicing()),
            el(
                "DiagnosticReport.category",
                slice_name="radiology",
                min=1,
                max="1",
                patternCodeableConcept=concept(LOINC, "LP29684-5"),
            ),
            el("DiagnosticReport.code", patternCodeableConcept=concept(LOINC, "18748-4")),
            el("DiagnosticReport.subject", min=1, type=ref("Patient")),
            el("DiagnosticReport.effective[x]", min=1, type=[{"code": "dateTime"}, {"code": "Period"}]),
            el("DiagnosticReport.issued", min=1),
            el(
                "DiagnosticReport.imagingStudy",
                short="The ImagingStudies used" + CITED,
            ),
            el(
                "DiagnosticReport.result",
                type=ref("Observation"),
                short="The Observations used (imaging findings, labs)" + CITED,
            ),
            el("DiagnosticReport.conclusion", min=1),
            el(
                "DiagnosticReport.conclusionCode",
                binding=binding(
                    "extensible",
                    url("ValueSet", "bme-differential"),
                    "Leading candidate(s); a verified SNOMED CT coding may accompany the bmefhir code.",
                ),
            ),
            el("DiagnosticReport.presentedForm", min=1),
        ],
    )


def clinical_impression_profile() -> Json:
    rid = "bmefhir-clinical-impression"
    return profile(
        rid,
        "ClinicalImpression",
        "bmefhir clinical impression",
        "The reasoning behind the BME differential: evidence groups, findings per leading "
        "candidate with the criteria and citations, red flags and next steps.",
        [
            el(
                "ClinicalImpression",
                constraint=[
                    {
                        "key": "bmef-2",
                        "severity": "error",
                        "human": "protocol names the bmefhir differential knowledge base (with its version).",
                        "expression": f"protocol.where($this.startsWith('{PLAN_DEFINITION}')).exists()",
                        "source": url("StructureDefinition", rid),
                    }
                ],
            ),
            *identifier_slice("ClinicalImpression"),
            el("ClinicalImpression.description", min=1),
            el("ClinicalImpression.subject", type=ref("Patient")),
            el("ClinicalImpression.effective[x]", min=1, type=[{"code": "dateTime"}]),
            el("ClinicalImpression.date", min=1),
            el("ClinicalImpression.protocol", min=1, short=f"{PLAN_DEFINITION}|{{knowledge base version}}"),
            el("ClinicalImpression.summary", min=1),
            el(
                "ClinicalImpression.finding.itemCodeableConcept",
                binding=binding("extensible", url("ValueSet", "bme-differential")),
            ),
            el("ClinicalImpression.investigation.item", short="The inputs used, grouped" + CITED),
            el("ClinicalImpression.prognosisReference", type=ref("RiskAssessment")),
            el("ClinicalImpression.supportingInfo", short="The medications and conditions used" + CITED),
        ],
    )


def risk_assessment_profile() -> Json:
    return profile(
        "bmefhir-risk-assessment",
        "RiskAssessment",
        "bmefhir risk assessment",
        "Ranked probabilities of the BME differential candidates.",
        [
            *identifier_slice("RiskAssessment"),
            el("RiskAssessment.method", min=1, short="Knowledge base and version, as text"),
            el("RiskAssessment.subject", type=ref("Patient")),
            el("RiskAssessment.occurrence[x]", min=1, type=[{"code": "dateTime"}]),
            el("RiskAssessment.basis", short="Every input used" + CITED),
            el("RiskAssessment.prediction", min=1),
            el(
                "RiskAssessment.prediction.outcome",
                min=1,
                binding=binding("extensible", url("ValueSet", "bme-differential")),
            ),
            el("RiskAssessment.prediction.probability[x]", min=1, type=[{"code": "decimal"}]),
            el(
                "RiskAssessment.prediction.qualitativeRisk",
                min=1,
                binding=binding("required", "http://hl7.org/fhir/ValueSet/risk-probability"),
            ),
        ],
    )


def provenance_profile() -> Json:
    return profile(
        "bmefhir-provenance",
        "Provenance",
        "bmefhir provenance",
        "Audit trail of a bmefhir assessment: the software (Device) as author, the signing "
        "clinician as verifier, the input resources the conclusions cite (and the Patient) as source "
        "entities, version-specific where the version was read. Targets: the assessment outputs and, "
        "with --write-findings, the imaging findings read from report text (Observations), referenced "
        "by their transaction fullUrl, which the server resolves (and, configured to, versions).",
        [
            el(
                "Provenance.target",
                type=ref("DiagnosticReport", "ClinicalImpression", "RiskAssessment", "Observation"),
                short="The outputs written with it (Type/id/_history/N once the server versions the reference)",
            ),
            el("Provenance.agent", slicing=pattern_slicing("type")),
            el("Provenance.agent", slice_name="author", min=1, max="1"),
            el(
                "Provenance.agent.type",
                eid="Provenance.agent:author.type",
                min=1,
                patternCodeableConcept=concept(PROV_TYPE, "author"),
            ),
            el("Provenance.agent.who", eid="Provenance.agent:author.who", type=ref("Device")),
            el("Provenance.agent", slice_name="verifier", min=0, max="1"),
            el(
                "Provenance.agent.type",
                eid="Provenance.agent:verifier.type",
                min=1,
                patternCodeableConcept=concept(PROV_TYPE, "verifier"),
            ),
            el(
                "Provenance.agent.who",
                eid="Provenance.agent:verifier.who",
                type=ref("Practitioner", "PractitionerRole"),
            ),
            el("Provenance.entity.role", fixedCode="source"),
            el(
                "Provenance.entity.what",
                short="An input the conclusions cite, or the Patient: Type/id/_history/N where the version was read",
            ),
        ],
    )


def example_observation(key: str) -> Json:
    display = FINDING_CONCEPTS[key]
    return {
        "resourceType": "Observation",
        "id": f"example-{fhir_id(key)}",
        "meta": {"profile": [url("StructureDefinition", "bmefhir-imaging-finding")]},
        "text": narrative(f"{display}: present, left femoral head (MRI, STIR)."),
        "extension": [{"url": LATERALITY_EXT, "valueCodeableConcept": concept(SCT, "7771000", "Left")}],
        "status": "final",
        "category": [concept(OBS_CATEGORY, "imaging", "Imaging")],
        "code": concept(url("CodeSystem", "imaging-finding"), key, display),
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2024-03-01",
        "valueCodeableConcept": concept(SCT, "52101004", "Present"),
        "bodySite": concept(url("CodeSystem", "body-structure"), "femoral_head", STRUCTURES["femoral_head"].display),
        "method": {"text": "STIR"},
        "partOf": [{"reference": "ImagingStudy/example"}],
    }
