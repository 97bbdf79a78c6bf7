"""Walking a searchset Bundle's ``next`` links, written once for sync and async drivers.

``page_flow`` is a generator in the style of ``httpx.Auth.auth_flow``: it yields
the URL to fetch next and receives the parsed Bundle. The driver does the I/O;
the rules (stay on the server's origin, stop on a loop) live here.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from typing import Any

import httpx

from bmefhir.fhir.errors import FhirResponseError
from bmefhir.fhir.urls import request_label, resolve_link, same_origin

__all__ = ["bundle_resources", "next_link", "page_flow"]


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, Mapping) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            url: str = link["url"]
            return url
    return None


def bundle_resources(bundle: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Resources of a searchset page: matches and includes, not the server's ``outcome`` entries."""
    for entry in bundle.get("entry") or []:
        # ``dict`` first (checked in order): parsed JSON is dicts, and an ABC's isinstance is slow.
        if not isinstance(entry, (dict, Mapping)):
            continue
        search = entry.get("search")
        if isinstance(search, (dict, Mapping)) and search.get("mode") == "outcome":
            continue
        resource = entry.get("resource")
        if isinstance(resource, dict):
            yield resource


def page_flow(
    first: httpx.URL, base: httpx.URL, *, max_pages: int | None = None
) -> Generator[httpx.URL, Mapping[str, Any], None]:
    """Yield each page URL; send back the page's Bundle. Ends when a page has no ``next``."""
    seen: set[str] = set()
    url = first
    pages = 0
    while True:
        seen.add(str(url))
        pages += 1
        bundle = yield url
        link = next_link(bundle)
        if link is None:
            return
        following = resolve_link(base, link)  # FHIR: relative URLs are relative to the service base
        label = request_label(url, base)
        if not same_origin(following, base):
            # Following it would send our credentials to another host.
            raise FhirResponseError(
                "the Bundle's next link points to a different server; refusing to follow it",
                method="GET",
                request=label,
            )
        if str(following) in seen:
            raise FhirResponseError(
                f"the server's next links loop back to an earlier page after {pages} pages; "
                "stopping (a server paging bug)",
                method="GET",
                request=label,
            )
        if max_pages is not None and pages >= max_pages:
            raise FhirResponseError(
                f"more than {max_pages} pages; narrow the search or raise max_pages",
                method="GET",
                request=label,
            )
        url = following
