"""Report attachments that point at a Binary: finding them, and fetching them from the same server.

A radiology report often carries its text as ``presentedForm.url`` (DiagnosticReport) or
``content.attachment.url`` (DocumentReference) to a ``Binary``, which a patient-compartment
search does not return. :func:`fetch_binaries` reads them in one batch of GETs; a url to another
host is not followed, and a Binary that cannot be read becomes a DataQualityIssue on the
referencing resource and element (the element the record builder names), never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bmefhir.fhir.batch import BatchRequest
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirError
from bmefhir.record import DataQualityIssue

__all__ = ["AttachmentLink", "attachment_links", "binary_id", "binary_refs", "fetch_binaries"]

_BINARY = re.compile(r"^Binary/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_ANY_BINARY = re.compile(r"(?:^|/)Binary/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


@dataclass(frozen=True, slots=True)
class AttachmentLink:
    """An attachment url: the resource ("DocumentReference/d1") and element the builder names."""

    resource: str
    element: str
    url: str


def attachment_links(resource: Mapping[str, Any]) -> Iterator[AttachmentLink]:
    """The urls of a DiagnosticReport's presentedForm and a DocumentReference's attachments."""
    kind = resource.get("resourceType")
    if kind != "DiagnosticReport" and kind != "DocumentReference":
        return  # checked first: this runs for every resource read
    rid = resource.get("id")
    ref = f"{kind}/{rid}" if isinstance(rid, str) else str(kind)
    attachments: list[tuple[str, object]]
    if kind == "DiagnosticReport":
        attachments = [
            (f"DiagnosticReport.presentedForm[{i}]", a) for i, a in enumerate(_list(resource, "presentedForm"))
        ]
    else:
        attachments = [
            (f"DocumentReference.content[{i}].attachment", c.get("attachment"))
            for i, c in enumerate(_list(resource, "content"))
        ]
    for element, attachment in attachments:
        if isinstance(attachment, Mapping) and "data" not in attachment:
            url = attachment.get("url")
            if isinstance(url, str) and url.strip():
                yield AttachmentLink(ref, element, url.strip())


def binary_refs(resource: Mapping[str, Any]) -> Iterator[str]:
    """ "Binary/<id>" of every attachment url of ``resource`` that names a Binary (any server)."""
    for link in attachment_links(resource):
        if (match := _ANY_BINARY.search(link.url)) is not None:
            yield f"Binary/{match.group(1)}"


def binary_id(url: str, base: httpx.URL) -> str | None:
    """The Binary id of a relative url or an absolute one on the server at ``base``; else None."""
    rest = url
    if url.startswith(("http://", "https://")):
        prefix = str(base)
        if not url.startswith(prefix):
            return None
        rest = url[len(prefix) :]
    match = _BINARY.match(rest)
    return match.group(1) if match else None


def fetch_binaries(
    client: FhirClient, resources: Iterable[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[DataQualityIssue]]:
    """The Binaries the resources' attachment urls point at, read in one batch; problems as issues."""
    wanted: dict[str, list[AttachmentLink]] = {}
    issues: list[DataQualityIssue] = []
    for resource in resources:
        for link in attachment_links(resource):
            bid = binary_id(link.url, client.base)
            if bid is not None:
                wanted.setdefault(bid, []).append(link)
            elif link.url.startswith(("http://", "https://")):
                issues.append(_issue(link, "attachment url is on another server; not followed, report text not read"))
    if not wanted:
        return [], issues
    ids = sorted(wanted)
    try:
        results = client.batch([BatchRequest("GET", f"Binary/{bid}") for bid in ids])
    except FhirError as exc:
        why = f"the batch read of Binaries failed ({type(exc).__name__})"
        return [], issues + [_issue(link, f"{why}; report text not read") for bid in ids for link in wanted[bid]]
    binaries: list[dict[str, Any]] = []
    for bid, result in zip(ids, results, strict=True):
        error = result.error()
        found = result.resource
        if error is None and found is not None and found.get("resourceType") == "Binary":
            binaries.append(found)
            continue
        why = f"{error.status} {error.reason}" if error else "the response holds no Binary"
        issues += [_issue(link, f"the Binary could not be read ({why}); report text not read") for link in wanted[bid]]
    return binaries, issues


def _issue(link: AttachmentLink, message: str) -> DataQualityIssue:
    return DataQualityIssue("warning", "not-found", link.resource, link.element, message)


def _list(resource: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = resource.get(key)
    items = value if isinstance(value, list) else [value] if isinstance(value, Mapping) else []
    return [x for x in items if isinstance(x, Mapping)]
