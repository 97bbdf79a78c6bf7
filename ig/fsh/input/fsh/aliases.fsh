// Code systems and canonical bases used across the FSH files.
Alias: $sct = http://snomed.info/sct
Alias: $loinc = http://loinc.org
Alias: $obs-category = http://terminology.hl7.org/CodeSystem/observation-category
Alias: $prov-type = http://terminology.hl7.org/CodeSystem/provenance-participant-type
Alias: $risk-probability = http://hl7.org/fhir/ValueSet/risk-probability
Alias: $laterality = http://bmefhir.org/fhir/StructureDefinition/laterality
Alias: $vs-laterality = http://bmefhir.org/fhir/ValueSet/laterality
Alias: $vs-imaging-finding = http://bmefhir.org/fhir/ValueSet/imaging-finding
Alias: $vs-present-absent = http://bmefhir.org/fhir/ValueSet/present-absent
Alias: $vs-body-structure = http://bmefhir.org/fhir/ValueSet/body-structure
Alias: $vs-bme-differential = http://bmefhir.org/fhir/ValueSet/bme-differential
