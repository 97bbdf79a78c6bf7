"""A narrow, tolerant typed view over raw FHIR JSON.

The builder reads every resource through these helpers, valid or not: a
resource that failed validation still yields the elements that are well formed
(a wrong-typed element reads as absent), so one bad date does not lose the
code and value next to it.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import orjson

JSON = dict[str, Any]

# orjson options under which its bytes tell JSON values apart (non-JSON Python values are refused).
EXACT_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


class Coding(NamedTuple):
    system: str | None
    code: str | None
    display: str | None


def obj(d: JSON | None, key: str) -> JSON | None:
    value = d.get(key) if d else None
    return value if isinstance(value, dict) else None


def objs(d: JSON | None, key: str) -> list[JSON]:
    value = d.get(key) if d else None
    if isinstance(value, dict):  # a repeating element sent as a single object
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def string(d: JSON | None, key: str) -> str | None:
    value = d.get(key) if d else None
    return value if isinstance(value, str) and value.strip() else None


def number(d: JSON | None, key: str) -> float | None:
    value = d.get(key) if d else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def boolean(d: JSON | None, key: str) -> bool | None:
    value = d.get(key) if d else None
    return value if isinstance(value, bool) else None


def coding(c: JSON | None) -> Coding | None:
    if c is None:
        return None
    return Coding(string(c, "system"), string(c, "code"), string(c, "display"))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def codings(cc: JSON | None) -> list[Coding]:
    """Codings of a CodeableConcept (or of a bare Coding, as R4 ImagingStudy.series uses)."""
    if cc is None:
        return []
    if "coding" in cc:
        # ``coding()`` per element, inlined: this runs for every code of every resource.
        raw = cc["coding"]
        if isinstance(raw, dict):
            raw = [raw]
        elif not isinstance(raw, list):
            return []
        return [
            Coding(_str(x.get("system")), _str(x.get("code")), _str(x.get("display")))
            for x in raw
            if isinstance(x, dict)
        ]
    single = coding(cc)
    return [single] if single and (single.code or single.system) else []


def texts(cc: JSON | None) -> list[str]:
    """CodeableConcept.text then the codings' displays: the inputs of keyword fallback."""
    if cc is None:
        return []
    out = [t] if (t := string(cc, "text")) else []
    out.extend(c.display for c in codings(cc) if c.display)
    return out


def reference(ref: JSON | None) -> str | None:
    """ "Type/id" of a Reference (absolute URLs and _history suffixes reduced), or the raw string."""
    raw = string(ref, "reference")
    if raw is None:
        return None
    return relative_ref(raw)


def relative_ref(raw: str) -> str:
    if raw.startswith(("urn:", "#")):
        return raw
    parts = [p for p in raw.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else raw


def extension_value(d: JSON | None, url: str) -> JSON | None:
    for ext in objs(d, "extension"):
        if ext.get("url") == url:
            return ext
    return None


def exact_key(value: object) -> bytes | str | None:
    """A hashable key that tells the JSON value ``value`` apart from every other (``1`` from ``true``
    and ``1.0``), for memos of what depends only on a value; None when it is not JSON data.

    orjson's bytes, in C; the standard library's text where orjson writes ``null`` (it writes NaN
    and infinities as ``null``, where the standard library writes ``NaN``) or refuses the value (a
    lone surrogate, an integer beyond 64 bits). Text keys never equal bytes keys."""
    try:
        data = orjson.dumps(value, option=EXACT_JSON)
    except (TypeError, orjson.JSONEncodeError):
        data = None
    if data is not None and data.find(b"null") < 0:  # find: faster than ``in`` on bytes
        return data
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # not JSON data (a set, bytes, a datetime), or too deep
        return None


_ABSENT: Any = object()


def elements_key(res: JSON, names: tuple[str, ...]) -> tuple[int, bytes] | bytes | str | None:
    """A hashable key telling apart values of ``res`` that differ in any element of ``names``: one
    present and one absent, or present with different exact JSON (``exact_key``); None when one is
    not JSON data. What ``exact_key`` of the dict of those elements tells apart, at about two thirds
    of its cost (one orjson call over a list, no dict built): a bit per element present, and the
    elements' values in order (0 in the place of one absent: the bit tells it apart)."""
    present, values, bit = 0, [], 1
    for name in names:
        value = res.get(name, _ABSENT)
        if value is _ABSENT:
            values.append(0)
        else:
            present |= bit
            values.append(value)
        bit <<= 1
    try:
        data = orjson.dumps(values, option=EXACT_JSON)
    except (TypeError, orjson.JSONEncodeError):
        data = None
    if data is not None and data.find(b"null") < 0:
        return present, data
    # What orjson cannot tell apart: ``exact_key``'s own keys (bytes or text, never a tuple).
    return exact_key({k: v for k in names if (v := res.get(k, _ABSENT)) is not _ABSENT})
