"""bmefhir: explainable differential diagnosis of bone marrow edema syndromes over FHIR R4."""

__version__ = "0.1.0"
