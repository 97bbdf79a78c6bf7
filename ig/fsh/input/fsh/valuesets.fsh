// bmefhir's ValueSets. The CodeSystems they include are generated from the code's own vocabulary
// (scripts/profilegen/terminology.py writes them as FSH at build time: docs/profiles.md).

ValueSet: ImagingFindingVS
Id: imaging-finding
Title: "bmefhir imaging findings (all codes)"
Description: "All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/imaging-finding."
* insert Published
* ^name = "ImagingFinding"
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir imaging findings (all codes). All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/imaging-finding.</div>"
* include codes from system http://bmefhir.org/fhir/CodeSystem/imaging-finding

ValueSet: ClinicalObservationVS
Id: clinical-observation
Title: "bmefhir clinical observations (all codes)"
Description: "All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/clinical-observation."
* insert Published
* ^name = "ClinicalObservation"
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir clinical observations (all codes). All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/clinical-observation.</div>"
* include codes from system http://bmefhir.org/fhir/CodeSystem/clinical-observation

ValueSet: MedicationClassVS
Id: medication-class
Title: "bmefhir medication classes (all codes)"
Description: "All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/medication-class."
* insert Published
* ^name = "MedicationClass"
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir medication classes (all codes). All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/medication-class.</div>"
* include codes from system http://bmefhir.org/fhir/CodeSystem/medication-class

ValueSet: ConditionVS
Id: condition
Title: "bmefhir conditions (all codes)"
Description: "All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/condition."
* insert Published
* ^name = "Condition"
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir conditions (all codes). All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/condition.</div>"
* include codes from system http://bmefhir.org/fhir/CodeSystem/condition

ValueSet: BodyStructureVS
Id: body-structure
Title: "bmefhir body structures (all codes)"
Description: "All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/body-structure."
* insert Published
* ^name = "BodyStructure"
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">bmefhir body structures (all codes). All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/body-structure.</div>"
* include codes from system http://bmefhir.org/fhir/CodeSystem/body-structure

ValueSet: BmeDifferentialVS
Id: bme-differential
Title: "Bone marrow edema differential diagnosis candidates (all codes)"
Description: "All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/bme-differential."
* insert Published
* ^name = "BmeDifferential"
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">Bone marrow edema differential diagnosis candidates (all codes). All codes of the CodeSystem http://bmefhir.org/fhir/CodeSystem/bme-differential.</div>"
* include codes from system http://bmefhir.org/fhir/CodeSystem/bme-differential

ValueSet: PresentAbsentVS
Id: present-absent
Title: "Present or absent"
Description: "SNOMED CT qualifier values for a finding looked for and seen (Present) or not seen (Absent)."
* insert Published
* insert SnomedCopyright
* ^name = "PresentAbsent"
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">Present or absent. SNOMED CT qualifier values for a finding looked for and seen (Present) or not seen (Absent).</div>"
* $sct#52101004 "Present"
* $sct#2667000 "Absent"

ValueSet: LateralityVS
Id: laterality
Title: "Laterality"
Description: "SNOMED CT laterality qualifier values."
* insert Published
* insert SnomedCopyright
* ^name = "Laterality"
* ^text.div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">Laterality. SNOMED CT laterality qualifier values.</div>"
* $sct#7771000 "Left"
* $sct#24028007 "Right"
* $sct#51440002 "Right and left"

RuleSet: SnomedCopyright
* ^copyright = "This value set includes content from SNOMED CT, which is copyright © 2002+ International Health Terminology Standards Development Organisation (IHTSDO)."
