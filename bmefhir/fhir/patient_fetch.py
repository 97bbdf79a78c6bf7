"""Fetch everything bmefhir reads about one patient in as few round trips as possible.

One batch Bundle of nine server operations asks for the Patient together with
bmefhir's own outputs of the patient (one search, for write-back,
``bmefhir.fhir.existing.outputs_request``) and eight patient-compartment
searches (``PATIENT_SEARCHES``); only searches with more than one page cost further requests. The
Binaries that report attachments point at on the same server are read in one more
batch (``bmefhir.fhir.binaries``). A failed search, or paging that stops (a page
over the client's size limit, more pages than ``max_pages``: a server whose
``next`` links never end), does not sink the patient: it becomes a DataQualityIssue
naming the search, and the rest is used. A missing Patient is an error (``FhirNotFound``).
Our own outputs are never returned as input, even when a search finds them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import chain
from typing import Any

import httpx

from bmefhir.fhir.batch import BatchRequest, BatchResult
from bmefhir.fhir.binaries import fetch_binaries
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirError, FhirResponseError, http_error
from bmefhir.fhir.existing import ExistingOutput, outputs_request, read_patient_and_outputs
from bmefhir.fhir.outcome import OutcomeIssue, parse_outcome
from bmefhir.fhir.paging import bundle_resources
from bmefhir.fhir.raw import RawPatient, screened_inputs, usable_inputs
from bmefhir.fhir.urls import SearchParams, check_id
from bmefhir.record import DataQualityIssue

__all__ = ["PATIENT_SEARCHES", "fetch_patient", "fetch_patient_ids", "patient_requests"]

# Resource types searched by ``patient=``; ``_count`` is applied to each.
PATIENT_SEARCHES = (
    "Observation",
    "ImagingStudy",
    "MedicationStatement",
    "MedicationRequest",
    "Condition",
    "DiagnosticReport",
    "DocumentReference",  # radiology report text (docs/report-text.md)
    "Procedure",  # a past procedure that is a risk factor (splenectomy → asplenia)
)


def patient_requests(patient_id: str, count: int) -> list[BatchRequest]:
    """The batch entries for one patient: the Patient with our outputs, then one search per type."""
    check_id(patient_id)
    return [outputs_request(patient_id)] + [
        BatchRequest("GET", f"{kind}?patient={patient_id}&_count={count}") for kind in PATIENT_SEARCHES
    ]


def fetch_patient(client: FhirClient, patient_id: str, *, count: int = 100) -> RawPatient:
    """The Patient, its resources and our existing outputs; raises ``FhirNotFound`` if the Patient
    does not exist. ``RawPatient.existing`` is None when the outputs could not be looked up
    (write-back then looks again, and refuses to write blind)."""
    before = client.requests_sent
    data_results = client.batch(patient_requests(patient_id, count))
    existing: tuple[ExistingOutput, ...] | None
    try:
        found, existing = read_patient_and_outputs(data_results[0], patient_id)
    except FhirError:
        # A server that refuses the _revinclude search: read the Patient alone; write-back looks again.
        found, existing = None, None
        data_results[0] = client.batch([BatchRequest("GET", f"Patient/{patient_id}")])[0]
    patient = found if found is not None else _patient(data_results[0], patient_id)

    resources: list[dict[str, Any]] = [patient]
    issues: list[DataQualityIssue] = []
    for index, result in enumerate(data_results[1:], start=1):
        page_resources, problems = _search_results(client, result, index)
        resources.extend(page_resources)
        issues.extend(problems)
    binaries, binary_issues = fetch_binaries(client, resources)
    resources.extend(binaries)
    issues.extend(binary_issues)
    sound, refused = screened_inputs(resources, "server response")
    kept, med_issues = usable_inputs(_unique(sound))
    return RawPatient(
        patient_id=patient_id,
        resources=tuple(kept),
        issues=tuple(issues + refused + med_issues),
        requests=client.requests_sent - before,
        existing=existing,
    )


def fetch_patient_ids(client: FhirClient, params: SearchParams | None = None) -> Iterator[str]:
    """Ids of the Patients matching ``params`` (all pages), for population runs."""
    query = httpx.QueryParams(params or {})
    if "_elements" not in query:
        query = query.set("_elements", "id")  # ids only: less data, less PHI on the wire
    for resource in client.search("Patient", query):
        if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
            yield resource["id"]


def _patient(result: BatchResult, patient_id: str) -> dict[str, Any]:
    error = result.error()
    if error is not None:
        raise error
    if result.resource is not None and result.resource.get("resourceType") == "Bundle":
        # The Patient search matched nothing: the same answer as a read's 404.
        issue = OutcomeIssue("error", "not-found", "the server has no Patient with this id")
        raise http_error(method="GET", request=result.label, status=404, issues=(issue,))
    if result.resource is None or result.resource.get("resourceType") != "Patient":
        raise FhirResponseError(
            "the batch response has no Patient resource for the Patient read",
            method="GET",
            request=result.label,
        )
    return result.resource


def _search_results(
    client: FhirClient, result: BatchResult, index: int
) -> tuple[list[dict[str, Any]], list[DataQualityIssue]]:
    element = f"Bundle.entry[{index}]"
    kind = result.request.url.split("?", 1)[0]
    error = result.error()
    page = result.resource
    if error is not None or page is None or page.get("resourceType") != "Bundle":
        why = f"{error.status} {error.reason}" if error else "the response holds no searchset Bundle"
        detail = f": {'; '.join(str(i) for i in error.issues[:3])}" if error and error.issues else ""
        return [], [_missing(result.label, element, f"search {result.label} failed ({why}{detail}); {kind}")]
    resources: list[dict[str, Any]] = []
    issues: list[DataQualityIssue] = []
    try:
        for bundle in chain([page], client.continue_search(result.request.url, page)):
            resources.extend(bundle_resources(bundle))
            issues.extend(_outcome_issues(bundle, result.label, element))
    except FhirError as exc:
        issues.append(_missing(result.label, element, f"paging {result.label} stopped ({exc}); some {kind}"))
    return resources, issues


def _missing(label: str, element: str, what: str) -> DataQualityIssue:
    return DataQualityIssue(
        severity="error",
        code="incomplete",
        resource=label,
        element=element,
        message=f"{what} data for this patient is missing or incomplete",
    )


def _outcome_issues(bundle: Mapping[str, Any], label: str, element: str) -> Iterator[DataQualityIssue]:
    """Warnings a server attaches to a searchset (``search.mode = outcome``), e.g. an unknown parameter."""
    for entry in bundle.get("entry") or []:
        search = entry.get("search") if isinstance(entry, Mapping) else None
        if isinstance(search, Mapping) and search.get("mode") == "outcome":
            for issue in parse_outcome(entry.get("resource")):
                if issue.severity in ("fatal", "error", "warning"):
                    yield DataQualityIssue(
                        severity="warning",
                        code=issue.code,
                        resource=label,
                        element=element,
                        message=f"the server reported on search {label}: {issue}",
                    )


def _unique(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """First copy of each Type/id: pages can overlap when data changes while paging."""
    seen: set[tuple[object, object]] = set()
    kept = []
    for resource in resources:
        key = (resource.get("resourceType"), resource.get("id"))
        if key[1] is None or key not in seen:
            seen.add(key)
            kept.append(resource)
    return kept
