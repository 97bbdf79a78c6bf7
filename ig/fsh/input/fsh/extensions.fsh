Extension: Laterality
Id: laterality
Title: "Laterality"
Description: "Side of the body of the finding (SNOMED CT Left | Right | Right and left), for use where bodySite does not pre-coordinate laterality. bmefhir also reads HL7's observation-structureLaterality (Extensions Pack) on input."
// Our own extension: HL7's observation-structureLaterality is an Extensions Pack (R5-era) extension,
// absent from the R4 core definitions HAPI's R4 validator ships, and its context is Observation.bodySite only.
Context: Observation, Observation.bodySite
* insert Published
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">Laterality. Side of the body of the finding (SNOMED CT Left | Right | Right and left), for use where bodySite does not pre-coordinate laterality. bmefhir also reads HL7&#x27;s observation-structureLaterality (Extensions Pack) on input.</div>"
* . 0..1
* . ^short = "Laterality of the body site"
* . ^definition = "Side of the body of the finding (SNOMED CT Left | Right | Right and left), for use where bodySite does not pre-coordinate laterality. bmefhir also reads HL7's observation-structureLaterality (Extensions Pack) on input."
* value[x] 1..
* value[x] only CodeableConcept
* value[x] from $vs-laterality (required)
