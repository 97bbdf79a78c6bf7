"""Fetch everything bmefhir reads about one patient in as few round trips as possible.

Two ways (``strategy``):

* **searches** (the default): one batch of nine operations, the Patient with bmefhir's own outputs
  (one search, for write-back, ``bmefhir.fhir.existing.outputs_request``) and one ``patient=`` search
  per type read (``PATIENT_SEARCHES``).
* **everything** (``"auto"``: where the server's CapabilityStatement offers Patient ``$everything``):
  one batch of two operations, the same Patient search and ``Patient/{id}/$everything`` restricted by
  ``_type`` to the eight types. ``$everything`` returns the patient compartment plus what it references,
  so only resources of those types whose ``subject`` is this Patient are kept: exactly what the eight
  searches return. A server that ignores ``_type`` costs bytes, not correctness. When ``$everything``
  is refused or fails part-way the eight searches are read instead (one more batch; a server that
  refused it is remembered as not offering it). Fewer operations, but not cheaper on HAPI: its
  ``$everything`` also loads every resource the compartment references, and measured 1.1-2.4x the
  server CPU of the searches and up to 1.9x the wall time at 1,000-5,000 resources per patient
  (docs/performance.md), which is why it is not the default.

Pages ask for ``_count=DEFAULT_COUNT``; servers cap it at their own maximum (HAPI sandbox 500) and
``next`` links are followed to the end, so a server that ignores ``_count`` is read too, within the
client's response-size and page limits. The Binaries that report attachments point at on the same
server are read in one more batch (``bmefhir.fhir.binaries``). A failed search, or paging that stops
(a page over the client's size limit, more pages than ``max_pages``: a server whose ``next`` links
never end), does not sink the patient: it becomes a DataQualityIssue naming the search, and the rest
is used. A missing Patient is an error (``FhirNotFound``). Our own outputs are never returned as
input, even when a search finds them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from itertools import chain
from typing import Any, Final, Literal

import httpx

from bmefhir.fhir.batch import BatchRequest, BatchResult
from bmefhir.fhir.binaries import fetch_binaries
from bmefhir.fhir.capabilities import offers_operation
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirError, FhirResponseError, http_error
from bmefhir.fhir.existing import ExistingOutput, outputs_request, read_patient_and_outputs
from bmefhir.fhir.outcome import OutcomeIssue, parse_outcome
from bmefhir.fhir.paging import bundle_resources
from bmefhir.fhir.raw import RawPatient, screened_inputs, usable_inputs
from bmefhir.fhir.urls import SearchParams, check_id
from bmefhir.record import DataQualityIssue

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_COUNT",
    "PATIENT_SEARCHES",
    "FetchStrategy",
    "everything_request",
    "fetch_patient",
    "fetch_patient_ids",
    "forget_capabilities",
    "patient_requests",
    "supports_everything",
]

FetchStrategy = Literal["auto", "everything", "searches"]
# Resources asked for per page. Servers cap ``_count`` at their maximum (HAPI's paging provider: 500 in
# the sandbox) rather than refusing it; 1,000 is the largest page common servers serve.
DEFAULT_COUNT: Final = 1000
# How long a server's answer to "does it offer $everything" is trusted (a refusal also updates it).
_CAPABILITY_TTL: Final = 600.0
_capabilities: dict[str, tuple[bool, float]] = {}
_capabilities_guard = threading.Lock()

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
    return [outputs_request(patient_id), *_type_searches(patient_id, count)]


def everything_request(patient_id: str, count: int) -> BatchRequest:
    """``Patient/{id}/$everything`` restricted to the types bmefhir reads."""
    check_id(patient_id)
    return BatchRequest("GET", f"Patient/{patient_id}/$everything?_type={','.join(PATIENT_SEARCHES)}&_count={count}")


def _type_searches(patient_id: str, count: int) -> list[BatchRequest]:
    return [BatchRequest("GET", f"{kind}?patient={patient_id}&_count={count}") for kind in PATIENT_SEARCHES]


def supports_everything(client: FhirClient) -> bool:
    """Whether the server's CapabilityStatement offers Patient ``$everything`` (asked once per server
    and process for ``_CAPABILITY_TTL`` seconds; an unreadable CapabilityStatement counts as no)."""
    key = str(client.base)
    with _capabilities_guard:
        known = _capabilities.get(key)
    if known is not None and known[1] > time.monotonic():
        return known[0]
    try:
        offered = _offers_everything(client.capabilities())
    except FhirError:
        offered = False
    _remember(key, offered)
    return offered


def forget_capabilities() -> None:
    """Drop what is known about servers' capabilities (tests; a server that was reconfigured)."""
    with _capabilities_guard:
        _capabilities.clear()


def _remember(key: str, offered: bool) -> None:
    with _capabilities_guard:
        _capabilities[key] = (offered, time.monotonic() + _CAPABILITY_TTL)


def _offers_everything(capabilities: Mapping[str, Any]) -> bool:
    return offers_operation(capabilities, "everything", "Patient")


def fetch_patient(
    client: FhirClient, patient_id: str, *, count: int = DEFAULT_COUNT, strategy: FetchStrategy = "searches"
) -> RawPatient:
    """The Patient, its resources and our existing outputs; raises ``FhirNotFound`` if the Patient
    does not exist. ``RawPatient.existing`` is None when the outputs could not be looked up
    (write-back then looks again, and refuses to write blind). ``strategy``: see the module
    docstring; ``RawPatient.requests`` counts this patient's requests (not the one-off capability
    read)."""
    check_id(patient_id)
    everything = strategy == "everything" or (strategy == "auto" and supports_everything(client))
    before = client.requests_sent
    data_requests = [everything_request(patient_id, count)] if everything else _type_searches(patient_id, count)
    data_results = client.batch([outputs_request(patient_id), *data_requests])
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
    searches, first = data_results[1:], 1  # first: the searches' place in their batch, for the issues
    if everything:
        compartment = _everything_results(client, searches[0], patient_id)
        if compartment is not None:
            resources.extend(compartment[0])
            issues.extend(compartment[1])
            searches = []
        else:
            searches, first = client.batch(_type_searches(patient_id, count)), 0
    for index, result in enumerate(searches, start=first):
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


def _everything_results(
    client: FhirClient, result: BatchResult, patient_id: str
) -> tuple[list[dict[str, Any]], list[DataQualityIssue]] | None:
    """The resources of the eight types about this patient from ``$everything``'s pages, and the
    server's warnings; None when it was refused or failed (the caller falls back to the searches)."""
    error = result.error()
    page = result.resource
    if error is not None or page is None or page.get("resourceType") != "Bundle":
        if error is None or 400 <= error.status < 500:
            _remember(str(client.base), False)  # refused, or no searchset: not offered after all
        log.info("Patient $everything %s; reading by type", f"failed ({error.status})" if error else "gave no Bundle")
        return None
    resources: list[dict[str, Any]] = []
    issues: list[DataQualityIssue] = []
    element = "Bundle.entry[1]"
    subjects = {f"Patient/{patient_id}", str(client.base.join(f"Patient/{patient_id}"))}
    try:
        for bundle in chain([page], client.continue_search(result.request.url, page)):
            resources.extend(r for r in bundle_resources(bundle) if _about(r, subjects))
            issues.extend(_outcome_issues(bundle, result.label, element))
    except FhirError as exc:
        log.info("paging Patient $everything stopped (%s); reading by type", type(exc).__name__)
        return None
    return resources, issues


_SEARCHED: Final = frozenset(PATIENT_SEARCHES)


def _about(resource: Mapping[str, Any], subjects: set[str]) -> bool:
    """A resource a ``patient=`` search would return: one of the types read, whose subject is the patient.

    ``$everything`` also brings what the compartment references (Encounters, other patients' results)
    and, on a server that ignores ``_type``, every other type.
    """
    if resource.get("resourceType") not in _SEARCHED:
        return False
    ref = resource.get("subject")
    reference = ref.get("reference") if isinstance(ref, Mapping) else None
    if not isinstance(reference, str):
        return False
    return reference.split("/_history/", 1)[0] in subjects  # relative, or absolute on this server


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
