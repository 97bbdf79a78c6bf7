// The identifier and tag systems bmefhir's outputs carry, defined: NamingSystems for the identifier systems,
// CodeSystems for the meta.tag systems. The URLs are the ones bmefhir.render writes (tests/test_profiles.py checks).

Instance: bmefhir-assessment
InstanceOf: NamingSystem
Usage: #definition
* name = "BmefhirAssessment"
* status = #active
* kind = #identifier
* date = "2026-11-01"
* publisher = "bmefhir"
* responsible = "bmefhir"
* description = "Business identifier of bmefhir's DiagnosticReport, ClinicalImpression and RiskAssessment of a patient: '{patient id}/{diagnostic-report|clinical-impression|risk-assessment}'. Writers update by it, and readers drop resources carrying it (bmefhir's outputs are never its input)."
* usage = "bmefhir assessment identifiers"
* uniqueId.type = #uri
* uniqueId.value = "http://bmefhir.org/fhir/sid/assessment"
* uniqueId.preferred = true
* text.status = #generated
* text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir assessment identifiers (http://bmefhir.org/fhir/sid/assessment). Business identifier of bmefhir&#x27;s DiagnosticReport, ClinicalImpression and RiskAssessment of a patient: &#x27;{patient id}/{diagnostic-report|clinical-impression|risk-assessment}&#x27;. Writers update by it, and readers drop resources carrying it (bmefhir&#x27;s outputs are never its input).</div>"

Instance: bmefhir-device
InstanceOf: NamingSystem
Usage: #definition
* name = "BmefhirDevice"
* status = #active
* kind = #identifier
* date = "2026-11-01"
* publisher = "bmefhir"
* responsible = "bmefhir"
* description = "Identifier of the Device that stands for one released version of bmefhir: 'bmefhir/{version}'. Created once per server with If-None-Exist, never updated."
* usage = "bmefhir software versions"
* uniqueId.type = #uri
* uniqueId.value = "http://bmefhir.org/fhir/sid/device"
* uniqueId.preferred = true
* text.status = #generated
* text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir software versions (http://bmefhir.org/fhir/sid/device). Identifier of the Device that stands for one released version of bmefhir: &#x27;bmefhir/{version}&#x27;. Created once per server with If-None-Exist, never updated.</div>"

Instance: bmefhir-text-finding
InstanceOf: NamingSystem
Usage: #definition
* name = "BmefhirTextFinding"
* status = #active
* kind = #identifier
* date = "2026-11-01"
* publisher = "bmefhir"
* responsible = "bmefhir"
* description = "Identifier of an Observation bmefhir wrote for a finding read from radiology report text: '{report reference}/{concept}/{structure}/{side}' ('-' for none)."
* usage = "bmefhir imaging findings read from report text"
* uniqueId.type = #uri
* uniqueId.value = "http://bmefhir.org/fhir/sid/text-finding"
* uniqueId.preferred = true
* text.status = #generated
* text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir imaging findings read from report text (http://bmefhir.org/fhir/sid/text-finding). Identifier of an Observation bmefhir wrote for a finding read from radiology report text: &#x27;{report reference}/{concept}/{structure}/{side}&#x27; (&#x27;-&#x27; for none).</div>"

CodeSystem: ContentHash
Id: content-hash
Title: "bmefhir content hash"
Description: "meta.tag on each assessment output: the first 32 hex digits of a SHA-256 over what the assessment says and what it was concluded from (not the time). Equal hash, equal content: write-back skips it."
* insert Published
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir content hash. meta.tag on each assessment output: the first 32 hex digits of a SHA-256 over what the assessment says and what it was concluded from (not the time). Equal hash, equal content: write-back skips it.</div>"
* ^caseSensitive = true
* ^content = #not-present

CodeSystem: OutputKind
Id: output-kind
Title: "bmefhir output kinds"
Description: "meta.tag marking how bmefhir made a resource it wrote."
* insert Published
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir output kinds. meta.tag marking how bmefhir made a resource it wrote.</div>"
* ^caseSensitive = true
* ^content = #complete
* #text-finding "Imaging finding read by bmefhir from radiology report text"
