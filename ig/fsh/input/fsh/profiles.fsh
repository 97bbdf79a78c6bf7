// The profiles of what bmefhir reads (imaging findings) and writes (the assessment outputs):
// docs/input-conventions.md, docs/output-resources.md.

Profile: BmefhirImagingFinding
Parent: Observation
Id: bmefhir-imaging-finding
Title: "bmefhir imaging finding"
Description: "An imaging finding (e.g. bone marrow edema of the left femoral head on MRI) as bmefhir reads it: see docs/input-conventions.md."
* insert Published
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir imaging finding. An imaging finding (e.g. bone marrow edema of the left femoral head on MRI) as bmefhir reads it: see docs/input-conventions.md.</div>"
* obeys bmef-1
* extension contains $laterality named laterality 0..1
* partOf only Reference(ImagingStudy)
* category 1..
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains imaging 1..1
* category[imaging] = $obs-category#imaging
* code from $vs-imaging-finding (extensible)
* code ^binding.description = "bmefhir imaging-finding codes; SNOMED CT where a verified concept exists."
* subject 1..
* subject only Reference(Patient)
* effective[x] 1..
* effective[x] only dateTime
* effective[x] ^short = "Study date"
* value[x] only CodeableConcept or boolean
* value[x] from $vs-present-absent (required)
* value[x] ^binding.description = "Present | Absent (absent = looked for and not seen)."
* bodySite ^short = "The structure; absent when the finding names none (e.g. osteonecrosis stated without a site)"
* bodySite from $vs-body-structure (preferred)
* bodySite ^binding.description = "bmefhir body-structure codes, or SNOMED CT body structures."
* method ^short = "Sequence or technique (T1, T2 FS, STIR, contrast T1) as text"

Invariant: bmef-1
Description: "The finding should point at its ImagingStudy (partOf or derivedFrom), which gives the modality."
Severity: #warning
Expression: "partOf.exists() or derivedFrom.exists()"

Profile: BmefhirDiagnosticReport
Parent: DiagnosticReport
Id: bmefhir-diagnostic-report
Title: "bmefhir diagnostic report"
Description: "The BME differential written back as a radiology DiagnosticReport (decision support)."
* insert Published
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir diagnostic report. The BME differential written back as a radiology DiagnosticReport (decision support).</div>"
* text 1..
* insert AssessmentIdentifier
* category 1..
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains radiology 1..1
* category[radiology] = $loinc#LP29684-5
* code = $loinc#18748-4
* subject 1..
* subject only Reference(Patient)
* effective[x] 1..
* effective[x] only dateTime or Period
* issued 1..
* imagingStudy ^short = "The ImagingStudies used; only what the conclusions cite (evidence of the criteria, red flags, next steps, withheld treatments, timeline and risk factors), not every input"
* result only Reference(Observation)
* result ^short = "The Observations used (imaging findings, labs); only what the conclusions cite (evidence of the criteria, red flags, next steps, withheld treatments, timeline and risk factors), not every input"
* conclusion 1..
* conclusionCode from $vs-bme-differential (extensible)
* conclusionCode ^binding.description = "Leading candidate(s); a verified SNOMED CT coding may accompany the bmefhir code."
* presentedForm 1..

Profile: BmefhirClinicalImpression
Parent: ClinicalImpression
Id: bmefhir-clinical-impression
Title: "bmefhir clinical impression"
Description: "The reasoning behind the BME differential: evidence groups, findings per leading candidate with the criteria and citations, red flags and next steps."
* insert Published
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir clinical impression. The reasoning behind the BME differential: evidence groups, findings per leading candidate with the criteria and citations, red flags and next steps.</div>"
* obeys bmef-2
* insert AssessmentIdentifier
* description 1..
* subject only Reference(Patient)
* effective[x] 1..
* effective[x] only dateTime
* date 1..
* protocol 1..
* protocol ^short = "http://bmefhir.org/fhir/PlanDefinition/bme-differential|{knowledge base version}"
* summary 1..
* finding.itemCodeableConcept from $vs-bme-differential (extensible)
* investigation.item ^short = "The inputs used, grouped; only what the conclusions cite (evidence of the criteria, red flags, next steps, withheld treatments, timeline and risk factors), not every input"
* prognosisReference only Reference(RiskAssessment)
* supportingInfo ^short = "The medications and conditions used; only what the conclusions cite (evidence of the criteria, red flags, next steps, withheld treatments, timeline and risk factors), not every input"

Invariant: bmef-2
Description: "protocol names the bmefhir differential knowledge base (with its version)."
Severity: #error
Expression: "protocol.where($this.startsWith('http://bmefhir.org/fhir/PlanDefinition/bme-differential')).exists()"

Profile: BmefhirRiskAssessment
Parent: RiskAssessment
Id: bmefhir-risk-assessment
Title: "bmefhir risk assessment"
Description: "Ranked probabilities of the BME differential candidates."
* insert Published
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir risk assessment. Ranked probabilities of the BME differential candidates.</div>"
* insert AssessmentIdentifier
* method 1..
* method ^short = "Knowledge base and version, as text"
* subject only Reference(Patient)
* occurrence[x] 1..
* occurrence[x] only dateTime
* basis ^short = "Every input used; only what the conclusions cite (evidence of the criteria, red flags, next steps, withheld treatments, timeline and risk factors), not every input"
* prediction 1..
* prediction.outcome 1..
* prediction.outcome from $vs-bme-differential (extensible)
* prediction.probability[x] 1..
* prediction.probability[x] only decimal
* prediction.qualitativeRisk 1..
* prediction.qualitativeRisk from $risk-probability (required)

Profile: BmefhirProvenance
Parent: Provenance
Id: bmefhir-provenance
Title: "bmefhir provenance"
Description: "Audit trail of a bmefhir assessment: the software (Device) as author, the signing clinician as verifier, the input resources the conclusions cite (and the Patient) as source entities, version-specific where the version was read. Targets: the assessment outputs and, with --write-findings, the imaging findings read from report text (Observations), referenced by their transaction fullUrl, which the server resolves (and, configured to, versions)."
* insert Published
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir provenance. Audit trail of a bmefhir assessment: the software (Device) as author, the signing clinician as verifier, the input resources the conclusions cite (and the Patient) as source entities, version-specific where the version was read. Targets: the assessment outputs and, with --write-findings, the imaging findings read from report text (Observations), referenced by their transaction fullUrl, which the server resolves (and, configured to, versions).</div>"
* target only Reference(DiagnosticReport or ClinicalImpression or RiskAssessment or Observation)
* target ^short = "The outputs written with it (Type/id/_history/N once the server versions the reference)"
* agent ^slicing.discriminator.type = #pattern
* agent ^slicing.discriminator.path = "type"
* agent ^slicing.rules = #open
* agent contains author 1..1 and verifier 0..1
* agent[author].type 1..
* agent[author].type = $prov-type#author
* agent[author].who only Reference(Device)
* agent[verifier].type 1..
* agent[verifier].type = $prov-type#verifier
* agent[verifier].who only Reference(Practitioner or PractitionerRole)
* entity.role = #source (exactly)
* entity.what ^short = "An input the conclusions cite, or the Patient: Type/id/_history/N where the version was read"
