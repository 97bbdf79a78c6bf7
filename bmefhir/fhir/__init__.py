"""The FHIR edge: REST client, patient fetch, file sources, CDS prefetch. Result sinks: ``bmefhir.sinks``."""

from bmefhir.fhir.auth import BearerAuth
from bmefhir.fhir.batch import BatchRequest, BatchResult
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import (
    FhirAuthError,
    FhirConflict,
    FhirError,
    FhirHttpError,
    FhirNotFound,
    FhirResponseError,
    FhirTimeout,
    FhirTransportError,
)
from bmefhir.fhir.files import PatientSource, open_source, read_bulk_ndjson, read_bundle, read_folder
from bmefhir.fhir.outcome import OutcomeIssue
from bmefhir.fhir.patient_fetch import fetch_patient, fetch_patient_ids
from bmefhir.fhir.raw import RawPatient, SourceProblem
from bmefhir.fhir.retry import RetryPolicy

__all__ = [
    "BatchRequest",
    "BatchResult",
    "BearerAuth",
    "FhirAuthError",
    "FhirClient",
    "FhirConflict",
    "FhirError",
    "FhirHttpError",
    "FhirNotFound",
    "FhirResponseError",
    "FhirTimeout",
    "FhirTransportError",
    "OutcomeIssue",
    "PatientSource",
    "RawPatient",
    "RetryPolicy",
    "SourceProblem",
    "fetch_patient",
    "fetch_patient_ids",
    "open_source",
    "read_bulk_ndjson",
    "read_bundle",
    "read_folder",
]
