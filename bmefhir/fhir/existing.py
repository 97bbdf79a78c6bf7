"""bmefhir's own outputs already on a server: finding them, and keeping them out of the input.

Write-back needs the server's current copy of each output (logical id,
``meta.versionId``, content hash, status) to update it with ``If-Match``, to
skip an unchanged write and to leave a signed report alone. One server operation
finds the Patient and all of them (``outputs_request``): the Patient by ``_id``,
bmefhir's Provenance through its ``entity`` (every Provenance bmefhir writes names
the Patient), and the DiagnosticReport, ClinicalImpression and RiskAssessment
through the Provenance's ``target`` (``_include:iterate``). Servers answer an
``_include`` of a version-specific reference with the current version unless told
otherwise (HAPI: ``respect-versions-for-search-includes``, off by default), which is
the version If-Match needs. The fetch sends it in the same batch as the patient's
data, in place of the Patient read, by default with the data types a patient has few
of revincluded too (``bmefhir.fhir.patient_fetch``); as those share HAPI's limit on
included resources with the Provenance's targets, ``outputs_complete`` says whether
every output the Provenance names came back.

When the lookup misses an output that does exist (its Provenance was deleted, or the
server does not support ``_revinclude``), write-back creates it only if its business
identifier is not on the server yet (``ifNoneExist``), so nothing, least of all a
signed report, is overwritten blind; the Provenance written then links the outputs
again and the next run updates them with If-Match.

Our outputs must never be read back as clinical input — the DiagnosticReport is
category Radiology and would feed its own conclusion into the next run — so
every source drops them (``is_own_output``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bmefhir.fhir.batch import BatchRequest, BatchResult
from bmefhir.fhir.errors import FhirResponseError
from bmefhir.fhir.paging import bundle_resources
from bmefhir.fhir.urls import check_id
from bmefhir.render import ids
from bmefhir.render.content_hash import CONTENT_HASH_SYSTEM
from bmefhir.render.findings import FINDING_IDENTIFIER_SYSTEM

__all__ = [
    "OUTPUT_TYPES",
    "ExistingOutput",
    "existing_requests",
    "is_own_output",
    "outputs_complete",
    "outputs_request",
    "read_existing",
    "read_patient_and_outputs",
]

# Output resource type → its kind in ``bmefhir.render.ids`` (identifier value suffix, uuid5 name).
OUTPUT_TYPES: Final[Mapping[str, str]] = {
    "DiagnosticReport": "diagnostic-report",
    "ClinicalImpression": "clinical-impression",
    "RiskAssessment": "risk-assessment",
    "Provenance": "provenance",
}
_OWN_PROFILES: Final = frozenset(ids.profile_url(kind) for kind in OUTPUT_TYPES.values())
# Identifier systems only bmefhir's outputs carry: the assessment outputs, the findings read from text.
_OWN_IDENTIFIERS: Final = frozenset({ids.ASSESSMENT_SYSTEM, FINDING_IDENTIFIER_SYSTEM})


@dataclass(frozen=True, slots=True)
class ExistingOutput:
    """The server's current copy of one output: enough to update it safely, never its content."""

    resource_type: str
    id: str
    version_id: str | None
    content_hash: str | None  # None when absent or ambiguous (several hash tags)
    status: str | None

    @property
    def signed(self) -> bool:
        """A clinician signed it (a final DiagnosticReport); an unsigned re-run must not replace it."""
        return self.resource_type == "DiagnosticReport" and self.status in ("final", "amended", "corrected")


def is_own_output(resource: Mapping[str, Any]) -> bool:
    """True for a resource bmefhir wrote: our assessment or text-finding identifier, or one of our
    output profiles.

    Input profiles (e.g. ``bmefhir-imaging-finding``) do not count: those mark clinical input. The
    Observations bmefhir writes from report text (``--write-findings``) carry that profile too, and
    are recognised by their identifier system: their report is read again instead.
    """
    # ``dict`` first: parsed JSON is dicts, and an ABC's isinstance costs more than the rest of this
    # check, which runs for every input resource.
    for ident in _list(resource.get("identifier")):
        # A damaged system (a list, an object) is not ours, and cannot be hashed for the set test.
        if (
            isinstance(ident, (dict, Mapping))
            and isinstance(system := ident.get("system"), str)
            and system in _OWN_IDENTIFIERS
        ):
            return True
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, (dict, Mapping)) else None
    return isinstance(profiles, list) and any(p in _OWN_PROFILES for p in profiles if isinstance(p, str))


def outputs_request(patient_id: str) -> BatchRequest:
    """One search for the Patient and bmefhir's outputs of it (see the module docstring)."""
    check_id(patient_id)
    return BatchRequest(
        "GET", f"Patient?_id={patient_id}&_revinclude=Provenance:entity&_include:iterate=Provenance:target"
    )


def existing_requests(patient_id: str) -> list[BatchRequest]:
    """The patient's outputs one search each: by business identifier, Provenance by its fixed id.

    Write-back uses ``outputs_request``; these find (or delete) outputs whatever links them,
    e.g. to clean up after tests and benchmarks.
    """
    check_id(patient_id)
    ref = f"Patient/{patient_id}"
    requests = []
    for kind, name in OUTPUT_TYPES.items():
        if kind == "Provenance":
            requests.append(BatchRequest("GET", f"Provenance?_id={ids.output_uuid(ref, name)}"))
        else:
            value = ids.identifier_value(ref, name)
            requests.append(BatchRequest("GET", f"{kind}?identifier={ids.ASSESSMENT_SYSTEM}|{value}"))
    return requests


def read_patient_and_outputs(
    result: BatchResult, patient_id: str
) -> tuple[dict[str, Any] | None, tuple[ExistingOutput, ...]]:
    """The Patient (None when there is none) and our outputs found by ``outputs_request``'s result.

    Only bmefhir's own Provenance of this patient (its fixed id) counts, and only the targets it
    names that carry this patient's business identifier: other systems' Provenances naming the
    Patient, and whatever they point at, are ignored. Raises the entry's ``FhirError`` when the
    search failed, ``FhirResponseError`` when the answer is not a searchset.
    """
    patient, outputs, _ = _patient_and_outputs(result, patient_id)
    return patient, outputs


def outputs_complete(result: BatchResult, patient_id: str) -> bool:
    """Whether every output our Provenance names is in ``outputs_request``'s page (True without one).

    A target can be missing because it was deleted, or because the server stopped including: HAPI
    gives ``_include:iterate`` what is left of ``maximumIncludesToLoadPerPage`` after the
    ``_revinclude``s of the same search, so the read that folds data types into this search
    (``bmefhir.fhir.patient_fetch``) looks the outputs up again on their own when one is missing.
    """
    return not _patient_and_outputs(result, patient_id)[2]


def _patient_and_outputs(
    result: BatchResult, patient_id: str
) -> tuple[dict[str, Any] | None, tuple[ExistingOutput, ...], int]:
    """The Patient, our outputs, and how many outputs our Provenance names that the page lacks."""
    page = _searchset(result)
    ref = f"Patient/{patient_id}"
    found = {(r.get("resourceType"), r.get("id")): r for r in bundle_resources(page)}
    patient = found.get(("Patient", patient_id))
    provenance = found.get(("Provenance", ids.output_uuid(ref, "provenance")))
    if provenance is None:
        return patient, (), 0
    outputs = [_existing(provenance)]
    missing = 0
    for target in _list(provenance.get("target")):
        reference = target.get("reference") if isinstance(target, Mapping) else None
        kind, _, rest = str(reference or "").partition("/")
        rid = rest.split("/_history/", 1)[0]
        if kind not in OUTPUT_TYPES or kind == "Provenance":
            continue
        resource = found.get((kind, rid))
        if resource is None:
            missing += 1
            continue
        wanted = {"system": ids.ASSESSMENT_SYSTEM, "value": ids.identifier_value(ref, OUTPUT_TYPES[kind])}
        idents = [i for i in _list(resource.get("identifier")) if isinstance(i, Mapping)]
        ours = any(i.get("system") == wanted["system"] and i.get("value") == wanted["value"] for i in idents)
        if ours and all(o.resource_type != kind for o in outputs):
            outputs.append(_existing(resource))
    return patient, tuple(outputs), missing


def read_existing(results: Sequence[BatchResult]) -> tuple[ExistingOutput, ...]:
    """The outputs found by ``existing_requests``' results (one per type at most).

    Raises the entry's ``FhirError`` when a search failed: without knowing what
    exists, a write could overwrite a signed report, so the caller must not write.
    """
    found: list[ExistingOutput] = []
    for result in results:
        page = _searchset(result)
        kind = result.request.url.split("?", 1)[0]
        matches = sorted(
            (r for r in bundle_resources(page) if r.get("resourceType") == kind and isinstance(r.get("id"), str)),
            key=lambda r: str(r["id"]),
        )
        if matches:
            found.append(_existing(matches[0]))
    return tuple(found)


def _existing(resource: Mapping[str, Any]) -> ExistingOutput:
    meta = resource.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    version = meta.get("versionId")
    tags = [t for t in _list(meta.get("tag")) if isinstance(t, Mapping)]
    hashes = {t.get("code") for t in tags if t.get("system") == CONTENT_HASH_SYSTEM}
    digest = hashes.pop() if len(hashes) == 1 else None
    status = resource.get("status")
    return ExistingOutput(
        resource_type=str(resource["resourceType"]),
        id=str(resource["id"]),
        version_id=version if isinstance(version, str) else None,
        content_hash=digest if isinstance(digest, str) else None,
        status=status if isinstance(status, str) else None,
    )


def _list(value: object) -> Iterable[object]:
    return value if isinstance(value, list) else ()


def _searchset(result: BatchResult) -> dict[str, Any]:
    """The search's Bundle; raises the entry's ``FhirError``, or ``FhirResponseError`` when it is no Bundle."""
    error = result.error()
    if error is not None:
        raise error
    page = result.resource
    if page is None or page.get("resourceType") != "Bundle":
        raise FhirResponseError(
            "the batch response holds no searchset Bundle for this search", method="GET", request=result.label
        )
    return page
