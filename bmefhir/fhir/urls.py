"""URL decisions, free of I/O so a sync and an async client share them.

``request_label`` is how a request is named in errors and logs: the path
relative to the FHIR base plus search parameter *names* — never values (a
``patient=`` value identifies a person; paging tokens can be secrets).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote

import httpx

_Primitive = str | int | float | bool | None
SearchParams = httpx.QueryParams | Mapping[str, _Primitive | Sequence[_Primitive]] | list[tuple[str, _Primitive]]

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_FHIR_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")


def normalise_base(base_url: str | httpx.URL) -> httpx.URL:
    """The base with a trailing slash, so ``join("Patient/1")`` keeps its path."""
    url = httpx.URL(str(base_url))
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("FHIR base URL must be an absolute http(s) URL, e.g. https://server/fhir")
    path = url.path if url.path.endswith("/") else url.path + "/"
    return url.copy_with(path=path, query=None, fragment=None)


def check_type(resource_type: str) -> str:
    if not _FHIR_TYPE.fullmatch(resource_type):
        raise ValueError(f"not a FHIR resource type name: {resource_type!r}")
    return resource_type


def check_id(resource_id: str) -> str:
    """Reject ids FHIR does not allow; they could otherwise smuggle paths or queries into URLs."""
    if not _FHIR_ID.fullmatch(resource_id):
        raise ValueError("not a valid FHIR id (1-64 characters of A-Z a-z 0-9 - .)")
    return resource_id


def resource_path(resource_type: str, resource_id: str) -> str:
    return f"{check_type(resource_type)}/{quote(check_id(resource_id), safe='')}"


def search_url(base: httpx.URL, resource_type: str, params: SearchParams) -> httpx.URL:
    return base.join(check_type(resource_type)).copy_with(params=httpx.QueryParams(params))


def request_label(url: httpx.URL, base: httpx.URL) -> str:
    """``Observation?patient&_count`` for ``{base}/Observation?patient=1&_count=50``."""
    path = url.path
    base_path = base.path.rstrip("/")
    if same_origin(url, base) and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :].lstrip("/")
    names = list(dict.fromkeys(key for key, _ in url.params.multi_items()))
    label = path or "(base)"
    return f"{label}?{'&'.join(names)}" if names else label


# A relative URL as bmefhir builds batch entries (``Observation?patient=1&_count=50``, ``Patient/1``):
# a path of plain segments (none ``.`` or ``..``, no ``:`` that could make it a scheme), a query of
# ``name=value`` fields whose names need no decoding and whose values hold no ``&``, ``#``, ``%`` or
# ``+`` (the characters that change how a query splits or decodes).
_PLAIN_RELATIVE = re.compile(
    r"[A-Za-z0-9\-_$][A-Za-z0-9\-_$.]*(?:/[A-Za-z0-9\-_$][A-Za-z0-9\-_$.]*)*"
    r"(?:\?(?:[A-Za-z0-9_\-.:]+(?:=[A-Za-z0-9_\-.:,|/$*@!'()~=]*)?)?(?:&(?:[A-Za-z0-9_\-.:]+(?:=[A-Za-z0-9_\-.:,|/$*@!'()~=]*)?)?)*)?"
)


def relative_label(url: str, base: httpx.URL) -> str:
    """``request_label(base.join(url), base)`` for a URL relative to ``base`` (a batch entry's).

    The same label, read straight from the string when it is a plain relative URL: parsing and
    joining it with httpx cost ~0.15 ms per entry, ~1 ms of a patient's ~15 ms of CPU per read
    (docs/performance.md). Anything else goes the httpx way.
    """
    if base.path.endswith("/") and _PLAIN_RELATIVE.fullmatch(url):
        path, _, query = url.partition("?")
        names = dict.fromkeys(field.partition("=")[0] for field in query.split("&") if field)
        return f"{path}?{'&'.join(names)}" if names else path
    return request_label(base.join(url), base)


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def resolve_link(base: httpx.URL, link: str) -> httpx.URL:
    """An absolute URL for a Bundle link (servers may send relative ones)."""
    return base.join(link)
