// Metadata every bmefhir conformance resource carries (url, version and status come from sushi-config.yaml).
// Each resource also states its narrative, "{title}. {description}", as ^text.
RuleSet: Published
* ^experimental = false
* ^publisher = "bmefhir"
* ^text.status = #generated

// bmefhir's business identifier on an assessment output (docs/output-resources.md): one in
// http://bmefhir.org/fhir/sid/assessment, "{patient id}/{resource kind}".
RuleSet: AssessmentIdentifier
* identifier 1..
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains assessment 1..1
* identifier[assessment] ^short = "bmefhir assessment identifier: {patient id}/{resource kind}"
* identifier[assessment].system 1..
* identifier[assessment].system = "http://bmefhir.org/fhir/sid/assessment" (exactly)
* identifier[assessment].value 1..
