"""Fetch everything bmefhir reads about one patient in as few server operations as possible.

Three ways (``strategy``):

* **folded** (the default): one batch of six operations. The first is one Patient search that
  brings bmefhir's own outputs (for write-back, ``bmefhir.fhir.existing.outputs_request``) and the
  types a patient has few of (``FOLDED_TYPES``: ImagingStudy, MedicationStatement, Procedure) as
  ``_revinclude=T:patient``; then one ``patient=`` search per other type. A folded type is read
  again by its own search, in one more batch, unless the server shows it served it whole: the
  searchset's ``self`` link names its ``_revinclude`` (FHIR R4 search: the server SHALL return the
  parameters it used), the page has no other link (``next``, ``related``: included resources on
  further pages) and no server warning, and fewer than ``FOLD_LIMIT`` came back. HAPI cuts
  included resources at ``maximumIncludesToLoadPerPage`` (1,000 per ``_revinclude`` by default)
  without saying so (hapi-fhir #5578, #6215, #6803), other servers at 100, hence a limit well
  below both. When the outputs the Provenance names are not all there (HAPI gives
  ``_include:iterate`` only what the ``_revinclude``s left of the same limit) they are looked up
  again at write-back. A server that refuses the folded search, or ignores its ``_revinclude``s,
  is read by the eight searches from then on (remembered like ``$everything``). Measured on the
  HAPI sandbox it costs no more server CPU than the eight searches, less for small records
  (docs/performance.md).
* **searches**: one batch of nine operations, the Patient with our outputs and one ``patient=``
  search per type read (``PATIENT_SEARCHES``).
* **everything** (``"auto"``: where the server's CapabilityStatement offers Patient ``$everything``,
  else folded): one batch of two operations, the same Patient search and ``Patient/{id}/$everything``
  restricted by ``_type`` to the eight types. ``$everything`` returns the patient compartment plus
  what it references, so only resources of those types whose ``subject`` is this Patient are kept:
  exactly what the eight searches return. A server that ignores ``_type`` costs bytes, not
  correctness. When ``$everything`` is refused or fails part-way the eight searches are read
  instead (one more batch; a server that refused it is remembered as not offering it). Fewer
  operations, but not cheaper on HAPI: its ``$everything`` always loads, with no limit and no
  parameter to turn it off, every resource the compartment references (``SearchBuilder``'s
  ``IncludesIterator``: ``_include=T:*`` iterated for each ``_type``), and measured 1.1-2.4x the
  server CPU of the searches and up to 1.9x the wall time at 1,000-5,000 resources per patient
  (docs/performance.md), which is why it is not the default.

Pages ask for ``_count=DEFAULT_COUNT``; servers cap it at their own maximum (HAPI sandbox 500) and
``next`` links are followed to the end, so a server that ignores ``_count`` is read too, within the
client's response-size and page limits. The further pages are fetched on a worker thread one page
ahead while the pages already there are screened (``bmefhir.fhir.pages_ahead``: the same requests in
the same order, at most two decoded pages waiting); each page is screened against the input limits as
it arrives, a resource over one named by its search and place (``Observation?patient&_count[12]``).
How many operations a large record takes depends on the server's page cap, not on bmefhir: the HAPI
sandbox serves at most 500 per page (``-Dsandbox.maxPageSize``; HAPI's own default is 50), so the
3,600 Observations of a 5,000-resource record take 8 pages (docs/performance.md). The Binaries that
report attachments point at on the same server are read in one more batch (``bmefhir.fhir.binaries``).
A failed search, or paging that stops (a page over the client's size limit, more pages than
``max_pages``: a server whose ``next`` links never end), does not sink the patient: it becomes a
DataQualityIssue naming the search, and the rest is used. A missing Patient is an error
(``FhirNotFound``). Our own outputs are never returned as input, even when a search finds them.
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
from bmefhir.fhir.errors import FhirError, FhirHttpError, FhirResponseError, http_error
from bmefhir.fhir.existing import (
    ExistingOutput,
    is_own_output,
    outputs_complete,
    outputs_request,
    read_patient_and_outputs,
)
from bmefhir.fhir.jsonlimits import screen_all
from bmefhir.fhir.outcome import OutcomeIssue, parse_outcome
from bmefhir.fhir.pages_ahead import Chain, PagesAhead
from bmefhir.fhir.paging import bundle_resources, next_link
from bmefhir.fhir.raw import RawPatient, prefer_statements, refused_as, screened_inputs
from bmefhir.fhir.urls import SearchParams, check_id
from bmefhir.record import DataQualityIssue

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_COUNT",
    "FOLDED_TYPES",
    "FOLD_LIMIT",
    "PATIENT_SEARCHES",
    "FetchStrategy",
    "everything_request",
    "fetch_patient",
    "fetch_patient_ids",
    "folded_request",
    "forget_capabilities",
    "patient_requests",
    "supports_everything",
]

FetchStrategy = Literal["auto", "everything", "folded", "searches"]
# Resources asked for per page. Servers cap ``_count`` at their maximum (HAPI's paging provider: 500 in
# the sandbox) rather than refusing it; 1,000 is the largest page common servers serve.
DEFAULT_COUNT: Final = 1000
# How long a server's answer to "does it offer $everything" is trusted (a refusal also updates it).
_CAPABILITY_TTL: Final = 600.0
_capabilities: dict[str, tuple[bool, float]] = {}
_capabilities_guard = threading.Lock()
# Servers that refused the folded Patient search or ignored its _revinclude (same TTL).
_unfolding: dict[str, float] = {}

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
# Types read inside the Patient search as ``_revinclude=T:patient`` (the folded read): ones a patient
# has few of (0-11 of 5,000 resources in the realistic records of benchmarks/hapi.py). Not the types
# real records hold hundreds of (Observation, Condition, DiagnosticReport, DocumentReference,
# MedicationRequest): past FOLD_LIMIT a folded type is read twice, which costs HAPI about twice the
# type's own search (docs/performance.md).
FOLDED_TYPES: Final = ("ImagingStudy", "MedicationStatement", "Procedure")
# From this many resources of a folded type the server may have cut the list short (HAPI
# maximumIncludesToLoadPerPage: 1,000 by default; 100 on other servers): it is searched on its own.
FOLD_LIMIT: Final = 100
_UNFOLDED: Final = tuple(t for t in PATIENT_SEARCHES if t not in FOLDED_TYPES)


def patient_requests(patient_id: str, count: int, *, folded: bool = True) -> list[BatchRequest]:
    """The batch entries of the read for one patient: by default the Patient with our outputs and the
    folded types, then one search per other type; ``folded=False``: the Patient with our outputs and
    one search per type (strategy ``searches``, and what a folded read falls back to)."""
    check_id(patient_id)
    if not folded:
        return [outputs_request(patient_id), *_type_searches(patient_id, count)]
    return [folded_request(patient_id), *_type_searches(patient_id, count, _UNFOLDED)]


def folded_request(patient_id: str) -> BatchRequest:
    """``outputs_request`` with the ``FOLDED_TYPES`` revincluded."""
    outputs = outputs_request(patient_id)
    return BatchRequest("GET", outputs.url + "".join(f"&_revinclude={kind}:patient" for kind in FOLDED_TYPES))


def everything_request(patient_id: str, count: int) -> BatchRequest:
    """``Patient/{id}/$everything`` restricted to the types bmefhir reads."""
    check_id(patient_id)
    return BatchRequest("GET", f"Patient/{patient_id}/$everything?_type={','.join(PATIENT_SEARCHES)}&_count={count}")


def _type_searches(patient_id: str, count: int, kinds: tuple[str, ...] = PATIENT_SEARCHES) -> list[BatchRequest]:
    return [BatchRequest("GET", f"{kind}?patient={patient_id}&_count={count}") for kind in kinds]


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
        _unfolding.clear()


def _folds(client: FhirClient) -> bool:
    """False for a server that refused or ignored the folded search within ``_CAPABILITY_TTL``."""
    with _capabilities_guard:
        until = _unfolding.get(str(client.base))
    return until is None or until <= time.monotonic()


def _stop_folding(client: FhirClient) -> None:
    with _capabilities_guard:
        _unfolding[str(client.base)] = time.monotonic() + _CAPABILITY_TTL


def _remember(key: str, offered: bool) -> None:
    with _capabilities_guard:
        _capabilities[key] = (offered, time.monotonic() + _CAPABILITY_TTL)


def _offers_everything(capabilities: Mapping[str, Any]) -> bool:
    return offers_operation(capabilities, "everything", "Patient")


def fetch_patient(
    client: FhirClient, patient_id: str, *, count: int = DEFAULT_COUNT, strategy: FetchStrategy = "folded"
) -> RawPatient:
    """The Patient, its resources and our existing outputs; raises ``FhirNotFound`` if the Patient
    does not exist. ``RawPatient.existing`` is None when the outputs could not be looked up
    (write-back then looks again, and refuses to write blind). ``strategy``: see the module
    docstring; ``RawPatient.requests`` counts this patient's requests (not the one-off capability
    read)."""
    check_id(patient_id)
    everything = strategy == "everything" or (strategy == "auto" and supports_everything(client))
    folded = not everything and strategy != "searches" and _folds(client)
    before = client.requests_sent
    if everything:
        head, data_requests = outputs_request(patient_id), [everything_request(patient_id, count)]
    elif folded:
        head, data_requests = folded_request(patient_id), _type_searches(patient_id, count, _UNFOLDED)
    else:
        head, data_requests = outputs_request(patient_id), _type_searches(patient_id, count)
    data_results = client.batch([head, *data_requests])
    # Batches of searches still to read, each with the place of its first search in its batch (for the issues).
    searches: list[tuple[list[BatchResult], int]] = [(data_results[1:], 1)]
    existing: tuple[ExistingOutput, ...] | None
    try:
        found, existing = read_patient_and_outputs(data_results[0], patient_id)
    except FhirError as exc:
        # A server that refuses the _revinclude search: read the Patient alone (and the folded types by
        # search); write-back looks the outputs up again.
        found, existing = None, None
        unread: tuple[str, ...] = FOLDED_TYPES if folded else ()
        if folded and isinstance(exc, FhirHttpError) and 400 <= exc.status < 500:
            _stop_folding(client)
        retry = client.batch([BatchRequest("GET", f"Patient/{patient_id}"), *_type_searches(patient_id, count, unread)])
        data_results[0] = retry[0]
        searches.append((retry[1:], 1))
    patient = found if found is not None else _patient(data_results[0], patient_id)

    resources: list[dict[str, Any]] = [patient]
    issues: list[DataQualityIssue] = []
    if folded and found is not None:
        kept, unread = _folded_results(client, data_results[0], patient_id)
        resources.extend(kept)
        if existing and not outputs_complete(data_results[0], patient_id):
            existing = None  # write-back looks them up again, on their own
        if unread:
            searches.append((client.batch(_type_searches(patient_id, count, unread)), 0))
    if everything:
        compartment = _everything_results(client, data_results[1], patient_id)
        if compartment is not None:
            resources.extend(compartment[0])
            issues.extend(compartment[1])
            searches = []
        else:
            searches = [(client.batch(_type_searches(patient_id, count)), 0)]
    reads = [_SearchRead(result, index) for results, first in searches for index, result in enumerate(results, first)]
    # The searches' further pages are fetched on a worker one page ahead while the pages already
    # there are screened (bmefhir.fhir.pages_ahead): same requests, in the same order.
    chains = [
        Chain(key, read.result.request.url, read.first)
        for key, read in enumerate(reads)
        if read.first is not None and next_link(read.first) is not None
    ]
    with PagesAhead(client, chains) as ahead:
        for read in reads:
            read.take_first()
        for key, page, error in ahead:
            if error is not None:
                reads[key].stopped(error)
            elif page is not None:
                reads[key].take(page)
    sound, refused = screened_inputs(resources, "server response")
    admitted = [r for r in sound if not is_own_output(r)]
    for read in reads:
        admitted.extend(read.kept)
        issues.extend(read.issues)
        refused.extend(read.refused)
    binaries, binary_issues = fetch_binaries(client, admitted)
    sound_binaries, refused_binaries = screened_inputs(binaries, "Binary read")
    admitted.extend(r for r in sound_binaries if not is_own_output(r))
    issues.extend(binary_issues)
    refused.extend(refused_binaries)
    kept_inputs, med_issues = prefer_statements(_unique(admitted))
    return RawPatient(
        patient_id=patient_id,
        resources=tuple(kept_inputs),
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


def _folded_results(
    client: FhirClient, result: BatchResult, patient_id: str
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The folded types' resources the Patient search served whole, and the folded types to search
    on their own (see the module docstring for when the server is trusted to have served one whole)."""
    page = result.resource or {}
    subjects = _subjects(client, patient_id)
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in FOLDED_TYPES}
    for resource in bundle_resources(page):
        kind = resource.get("resourceType")
        # About this patient: not a resource another system's Provenance names (its targets are included too).
        if kind in found and _about(resource, subjects):
            found[str(kind)].append(resource)
    honoured = _revincluded(page)
    if honoured is None or not honoured >= set(FOLDED_TYPES):
        log.info("the server did not confirm the folded _revinclude; reading those types by search from now on")
        _stop_folding(client)
    whole = honoured is not None and not _more_or_warned(page)
    unread = tuple(k for k in FOLDED_TYPES if not whole or k not in (honoured or ()) or len(found[k]) >= FOLD_LIMIT)
    if unread:
        log.info("folded types read again by search: %s", ", ".join(unread))
    return [r for kind in FOLDED_TYPES if kind not in unread for r in found[kind]], unread


def _revincluded(page: Mapping[str, Any]) -> set[str] | None:
    """The types whose ``_revinclude=T:patient`` the searchset's ``self`` link names; None without one."""
    for link in page.get("link") or []:
        if isinstance(link, Mapping) and link.get("relation") == "self" and isinstance(link.get("url"), str):
            try:
                values = httpx.URL(link["url"]).params.get_list("_revinclude")
            except httpx.InvalidURL:
                return None
            return {v.split(":", 1)[0] for v in values if v.split(":")[1:2] == ["patient"]}
    return None


def _more_or_warned(page: Mapping[str, Any]) -> bool:
    """Whether the server says there is more than this page (a ``next`` or ``related`` link, an
    entry's own link to the rest of its includes) or warned about the search."""
    if next_link(page) is not None:
        return True
    if any(isinstance(link, Mapping) and link.get("relation") == "related" for link in page.get("link") or []):
        return True
    if any(isinstance(entry, Mapping) and entry.get("link") for entry in page.get("entry") or []):
        return True
    return any(_outcome_issues(page, "", ""))


def _subjects(client: FhirClient, patient_id: str) -> set[str]:
    """The patient's reference, relative and absolute on this server."""
    return {f"Patient/{patient_id}", str(client.base.join(f"Patient/{patient_id}"))}


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
    subjects = _subjects(client, patient_id)
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


class _SearchRead:
    """One ``patient=`` search of the batch, page by page: its resources that keep within the input
    limits and are not our outputs (``kept``), the ones over a limit (``refused``, named by the search
    and their place in it) and its issues (a failed search or paging, the server's warnings)."""

    __slots__ = ("element", "first", "issues", "kept", "kind", "refused", "result", "seen")

    def __init__(self, result: BatchResult, index: int) -> None:
        self.result = result
        self.element = f"Bundle.entry[{index}]"
        self.kind = result.request.url.split("?", 1)[0]
        self.kept: list[dict[str, Any]] = []
        self.refused: list[DataQualityIssue] = []
        self.issues: list[DataQualityIssue] = []
        self.seen = 0  # resources read so far: the place of the next one
        error = result.error()
        page = result.resource
        self.first: dict[str, Any] | None = None
        if error is not None or page is None or page.get("resourceType") != "Bundle":
            why = f"{error.status} {error.reason}" if error else "the response holds no searchset Bundle"
            detail = f": {'; '.join(str(i) for i in error.issues[:3])}" if error and error.issues else ""
            what = f"search {result.label} failed ({why}{detail}); {self.kind}"
            self.issues.append(_missing(result.label, self.element, what))
        else:
            self.first = page

    def take_first(self) -> None:
        if self.first is not None:
            self.take(self.first)

    def take(self, page: Mapping[str, Any]) -> None:
        label = self.result.label
        resources, warnings = _page_contents(page, label, self.element)
        self.issues.extend(warnings)
        # Screened a page at a time (``screen_all``: most of it in a few orjson calls).
        for resource, violation in zip(resources, screen_all(resources), strict=True):
            if violation is not None:
                self.refused.append(refused_as(resource, violation, label, self.seen))
            elif not is_own_output(resource):
                self.kept.append(resource)
            self.seen += 1

    def stopped(self, error: FhirError) -> None:
        label = self.result.label
        self.issues.append(_missing(label, self.element, f"paging {label} stopped ({error}); some {self.kind}"))


def _page_contents(
    bundle: Mapping[str, Any], label: str, element: str
) -> tuple[list[dict[str, Any]], list[DataQualityIssue]]:
    """A searchset page's resources (matches and includes) and the server's warnings on the search
    (``search.mode = outcome``), in one pass over its entries (``bundle_resources`` and
    ``_outcome_issues`` in one: this runs for every resource read)."""
    resources: list[dict[str, Any]] = []
    issues: list[DataQualityIssue] = []
    for entry in bundle.get("entry") or ():
        # ``dict`` first (checked in order): parsed JSON is dicts, and an ABC's isinstance is slow.
        if not isinstance(entry, (dict, Mapping)):
            continue
        search = entry.get("search")
        if isinstance(search, (dict, Mapping)) and search.get("mode") == "outcome":
            issues.extend(_warnings(entry.get("resource"), label, element))
            continue
        resource = entry.get("resource")
        if isinstance(resource, dict):
            resources.append(resource)
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
    for entry in bundle.get("entry") or ():
        search = entry.get("search") if isinstance(entry, (dict, Mapping)) else None
        if isinstance(search, (dict, Mapping)) and search.get("mode") == "outcome":
            yield from _warnings(entry.get("resource"), label, element)


def _warnings(outcome: object, label: str, element: str) -> Iterator[DataQualityIssue]:
    for issue in parse_outcome(outcome):
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
