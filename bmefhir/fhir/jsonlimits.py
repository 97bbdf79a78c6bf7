"""Limits on the structure of input JSON, checked where a resource enters (files, REST, CDS, API).

Malformed JSON must not crash or hang the adapter, so every resource is
screened once, without recursion, before anything else walks it:

* nesting deeper than ``MAX_DEPTH`` levels (FHIR resources rarely pass 12);
* a string longer than ``MAX_STRING`` characters (``MAX_DATA_STRING`` for
  ``data``, the base64 content of an Attachment), or holding a lone surrogate
  (not Unicode text: it cannot be written back as UTF-8);
* a ``resourceType`` that is not a resource type name, an ``id`` that is not a
  FHIR id (ids become references, file names and URLs).

Most resources are cleared in C: orjson writes them indented (``_cleared``), refusing lone
surrogates as it goes, and the bytes bound every string's length and, by their indentation, the
depth; only a resource that this cannot clear is walked in Python.

A resource that breaks a limit is skipped as a whole: ``screen`` says which
element and why, in a message that never repeats the offending value beyond a
short escaped fragment (``bmefhir.safetext.bounded``). Limits on whole files
are here too (``MAX_FILE_BYTES``): docs/robustness.md lists them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Final

import orjson

from bmefhir.safetext import bounded

__all__ = [
    "MAX_DATA_STRING",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_PAGES",
    "MAX_REFERENCE",
    "MAX_RESPONSE_BYTES",
    "MAX_STRING",
    "JsonUnreadable",
    "Violation",
    "describe_id",
    "loads",
    "screen",
    "screen_all",
    "valid_id",
]

MAX_DEPTH: Final = 64
MAX_STRING: Final = 1 << 20  # 1 Mi characters
MAX_DATA_STRING: Final = 64 << 20  # Attachment.data: base64 of a 48 MiB document
MAX_FILE_BYTES: Final = 256 << 20  # one JSON file (NDJSON is streamed: the limit is per line)
MAX_REFERENCE: Final = 4096  # longer reference strings are not parsed as references
# One HTTP response body (a search page, a batch answer): read as a stream and refused beyond this,
# so a server that ignores ``_count`` or sends an endless body cannot exhaust memory. Twice
# MAX_DATA_STRING, so a Binary read in a batch at the largest accepted size still fits.
MAX_RESPONSE_BYTES: Final = 2 * MAX_DATA_STRING
# Pages followed per search: a server whose ``next`` links never end (each one new, so the loop
# check does not catch it) is stopped here. 1,000 pages of ``_count=100`` is 100,000 resources of
# one type for one patient.
MAX_PAGES: Final = 1000

# A line indented this far (orjson's OPT_INDENT_2: two spaces per level) holds a member of a
# container MAX_DEPTH levels down: a container there would be one level too deep.
_TOO_DEEP: Final = b"\n" + b" " * (2 * MAX_DEPTH)
# Types that carry base64 attachments (up to MAX_DATA_STRING): not copied just to be cleared when
# their attachments hold more than _COPIED characters of data (``_inline_data``).
_ATTACHMENT_TYPES: Final = frozenset({"Binary", "DocumentReference", "DiagnosticReport", "Media"})
_COPIED: Final = 1 << 16
_FHIR_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_FHIR_TYPE: Final = re.compile(r"[A-Z][A-Za-z]{1,63}")
_PATH_LIMIT: Final = 120


@dataclass(frozen=True, slots=True)
class Violation:
    """Which element of a resource broke a limit (FHIRPath-like, bounded) and why."""

    element: str
    message: str
    code: str = "structure"  # OperationOutcome issue type: too-costly for size and depth limits


class JsonUnreadable(ValueError):
    """The bytes are not JSON at all; the message says why and where, never what."""


_BOM: Final = b"\xef\xbb\xbf"


def loads(data: bytes) -> Any:
    """Parse JSON with orjson; fall back to the standard library for what orjson refuses but JSON
    allows (a lone ``\\ud800`` escape: ``screen`` then skips just that resource). A UTF-8 byte order
    mark is ignored. Raises ``JsonUnreadable`` for everything else."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise JsonUnreadable(f"nests deeper than orjson's limit of 1024 levels near byte {exc.pos}") from None
        first = exc
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise JsonUnreadable(f"is not UTF-8 text (invalid byte at {exc.start})") from None
    except (ValueError, RecursionError):
        raise JsonUnreadable(f"is not valid JSON (malformed or truncated near byte {first.pos})") from None


def valid_id(value: object) -> bool:
    return isinstance(value, str) and _FHIR_ID.fullmatch(value) is not None


def describe_id(value: object) -> str:
    """A short, escaped rendering of a (possibly invalid) id for messages and failure lists."""
    if isinstance(value, str):
        return bounded(value, 64)
    return f"<{type(value).__name__}>"


def _text_problem(value: str, key: str) -> tuple[str, str] | None:
    """(what is wrong, issue code) for a string, or None."""
    limit = MAX_DATA_STRING if key == "data" else MAX_STRING
    if len(value) > limit:
        return f"a string of {len(value):,} characters (the limit is {limit:,})", "too-costly"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate (\\ud800-\\udfff), which is not Unicode text", "structure"
    return None


def screen(resource: dict[str, object]) -> Violation | None:
    """The first limit ``resource`` breaks, or None. Iterative: depth costs no stack."""
    kind = resource.get("resourceType")
    head = _head_violation(resource, kind)
    if head is not None:
        return head
    assert isinstance(kind, str)  # checked by _head_violation
    if _cleared(resource, kind) or _within_limits(resource):
        return None
    return _first_violation(resource, kind)


def screen_all(resources: list[dict[str, object]]) -> list[Violation | None]:
    """``screen`` of each resource (a search page's, say), the same answers, most of it in C: each
    chunk of ``_CHUNK`` resources is written indented by one orjson call (``_chunk_cleared``; a call
    per resource cost about twice as much on the realistic records of benchmarks/hapi.py), and only
    the resources of a chunk that this cannot clear are screened one by one."""
    out: list[Violation | None] = []
    match_id = _FHIR_ID.fullmatch
    for start in range(0, len(resources), _CHUNK):
        chunk = resources[start : start + _CHUNK]
        heads: list[Violation | None] = []
        whole = True  # the chunk can be cleared by one call
        for resource in chunk:
            kind = resource.get("resourceType")
            rid = resource.get("id", _NO_ID)
            # The usual resource first, inline (``_head_violation``'s checks): this runs for every input.
            if not (
                isinstance(kind, str)
                and kind in _TYPES_SEEN
                and (rid is _NO_ID or (isinstance(rid, str) and match_id(rid) is not None))
            ):
                head = _head_violation(resource, kind)
                heads.append(head)
                if head is not None and head.element == "resourceType":
                    whole = False  # screened alone, below (its type cannot be looked up)
                    continue
            else:
                heads.append(None)
            if kind in _ATTACHMENT_TYPES and _inline_data(resource, str(kind)):
                whole = False  # possibly tens of MiB of base64: not copied just to be cleared
        if whole and _chunk_cleared(chunk):
            out += heads  # nothing else in them breaks a limit
        else:
            out += [head if head is not None else screen(r) for r, head in zip(chunk, heads, strict=True)]
    return out


# Resources cleared by one orjson call (``screen_all``): small enough that one chunk's indented JSON
# (~1 KiB per Observation) stays well under MAX_STRING, so its length bounds every string in it.
_CHUNK: Final = 100
# In a chunk (a JSON array) every line sits one level (two spaces) deeper than in its resource alone.
_TOO_DEEP_IN_CHUNK: Final = _TOO_DEEP + b"  "
# Resource types seen to be well formed (``_head_violation``): a record repeats a few; bounded.
_TYPES_SEEN: set[str] = set()
_TYPES_SEEN_LIMIT: Final = 1024
_NO_ID: Final = object()


def _head_violation(resource: dict[str, object], kind: object) -> Violation | None:
    """The resourceType or id not being a type name or a FHIR id, or None."""
    if not isinstance(kind, str) or (kind not in _TYPES_SEEN and not _type_name(kind)):
        shown = repr(bounded(kind, 40)) if isinstance(kind, str) else f"a {type(kind).__name__}"
        return Violation("resourceType", f"resourceType {shown} is not a FHIR resource type name", "value")
    if "id" in resource and not valid_id(resource["id"]):
        shown = describe_id(resource["id"])
        return Violation(f"{kind}.id", f"id {shown!r} is not a valid FHIR id (1-64 of A-Za-z0-9-.)", "value")
    return None


def _type_name(kind: str) -> bool:
    if _FHIR_TYPE.fullmatch(kind) is None:
        return False
    if len(_TYPES_SEEN) < _TYPES_SEEN_LIMIT:
        _TYPES_SEEN.add(kind)
    return True


def _chunk_cleared(chunk: list[dict[str, object]]) -> bool:
    """``_cleared`` for a chunk of resources at once: True when nothing in any of them breaks a limit
    (their resourceType and id aside: ``_head_violation``). False means "screen each", not "one
    breaks one"."""
    try:
        data = orjson.dumps(chunk, option=orjson.OPT_INDENT_2)
    except TypeError:  # orjson.JSONEncodeError: a surrogate, an integer beyond 64 bits, deeper than 254
        return False
    return len(data) <= MAX_STRING and data.find(_TOO_DEEP_IN_CHUNK) < 0


def _cleared(resource: dict[str, object], kind: str) -> bool:
    """True when orjson's indented output shows that nothing in ``resource`` breaks a limit (False
    means "walk it", not "it breaks one"): orjson refuses a lone surrogate in any string or element
    name, no string is longer than the bytes that hold it (MAX_STRING < MAX_DATA_STRING), and a
    container nested more than MAX_DEPTH levels deep sits on a line indented 2 × MAX_DEPTH spaces
    (strings cannot hold a raw newline). Several times cheaper than the walk in Python."""
    if kind in _ATTACHMENT_TYPES and _inline_data(resource, kind):
        return False
    try:
        data = orjson.dumps(resource, option=orjson.OPT_INDENT_2)
    except TypeError:  # orjson.JSONEncodeError: a surrogate, an integer beyond 64 bits, deeper than 254
        return False
    return len(data) <= MAX_STRING and data.find(_TOO_DEEP) < 0  # find: faster than ``in`` on bytes


def _inline_data(resource: dict[str, object], kind: str) -> bool:
    """Whether a resource of a type that carries attachments may hold base64 ``data`` too large to
    be copied just to be cleared: a Binary, or an attachment whose data is over _COPIED (or that is
    not shaped as an attachment) where the type keeps its attachments. A note of a few KiB inline is
    cleared like any resource."""
    if kind == "Binary":
        return True
    attachments: object
    if kind == "DocumentReference":
        content = resource.get("content", [])
        if not isinstance(content, list):
            return True
        attachments = [c.get("attachment") if isinstance(c, dict) else c for c in content]
    elif kind == "DiagnosticReport":
        attachments = resource.get("presentedForm", [])
    else:  # Media
        attachments = [resource.get("content")]
    if not isinstance(attachments, list):
        return True
    for a in attachments:
        if a is None:
            continue
        if not isinstance(a, dict):
            return True
        data = a.get("data")
        if data is not None and (not isinstance(data, str) or len(data) > _COPIED):
            return True
    return False


def _first_violation(resource: dict[str, object], kind: str) -> Violation | None:
    """The walk that names the element: a path per node, run only on a resource that may break a limit."""
    stack: list[tuple[object, str, str, int]] = [(resource, kind, "", 1)]
    while stack:
        node, path, key, depth = stack.pop()
        if isinstance(node, str):
            problem = _text_problem(node, key)
            if problem is not None:
                where = bounded(path, _PATH_LIMIT)
                return Violation(where, f"{where} holds {problem[0]}", problem[1])
        elif isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                return Violation(bounded(path, _PATH_LIMIT), f"nested more than {MAX_DEPTH} levels deep", "too-costly")
            if isinstance(node, dict):
                for name, value in node.items():
                    problem = _text_problem(name, "") if len(name) > _PATH_LIMIT or not name.isascii() else None
                    if problem is not None:
                        where = bounded(path, _PATH_LIMIT)
                        return Violation(where, f"an element name in {where} holds {problem[0]}", problem[1])
                    if isinstance(value, str | dict | list):
                        stack.append((value, f"{path}.{name}" if len(path) < _PATH_LIMIT else path, name, depth + 1))
            else:
                for i, value in enumerate(node):
                    if isinstance(value, str | dict | list):
                        stack.append((value, f"{path}[{i}]" if len(path) < _PATH_LIMIT else path, key, depth + 1))
    return None


def _within_limits(resource: dict[str, object]) -> bool:
    """True when nothing in ``resource`` breaks a limit: the walk of ``screen`` without building an
    element path per node (most of its cost), so only a resource that breaks one is walked again to
    say where. Never True where ``screen``'s walk would find a violation."""
    stack: list[tuple[dict[str, object] | list[object], str, int]] = [(resource, "", 1)]
    while stack:
        node, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(node, dict):
            if any(len(name) > _PATH_LIMIT or not name.isascii() for name in node):
                return False
            children: Iterable[tuple[str, object]] = node.items()
        else:
            children = zip(repeat(key), node)
        for name, value in children:
            if isinstance(value, str):
                if (len(value) > MAX_STRING or not value.isascii()) and _text_problem(value, name) is not None:
                    return False
            elif isinstance(value, dict | list):
                stack.append((value, name, depth + 1))
    return True
