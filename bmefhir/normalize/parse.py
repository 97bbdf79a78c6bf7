"""Validate raw FHIR R4 JSON with the fhir.resources R4B models; errors become issues.

R4B is structurally R4 for every resource type bmefhir reads (Patient,
Observation, ImagingStudy, MedicationStatement, MedicationRequest, Medication,
Condition, DiagnosticReport, DocumentReference, Binary); tests/normalize/test_r4_specifics.py and the R4
example package test check that. Validation only reports: the builder reads the
raw dict either way, so a resource with one bad element is not dropped.

Verdicts are memoised by content (``ValidationMemo``): a chart opened again (a CDS Hooks
``patient-view`` with the same prefetch, the page reloaded) sends the same resources, and
validating them again would give the same issues. The key is a keyed BLAKE2b digest of the
resource's exact JSON bytes and its reference, so no resource content is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import typing
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from bmefhir.normalize.fhirjson import JSON
from bmefhir.record import DataQualityIssue

# The resource types the analysis reads (and so validates); others are reported as ignored.
READ_TYPES = frozenset(
    {
        "Patient",
        "Observation",
        "ImagingStudy",
        "MedicationStatement",
        "MedicationRequest",
        "Medication",
        "Condition",
        "Procedure",  # a past procedure that is a risk factor (splenectomy): read as a condition concept
        "DiagnosticReport",
        "DocumentReference",
        "Binary",  # only as the target of an attachment url (report text)
    }
)

_CODE_BY_ERROR: dict[str, str] = {
    "missing": "required",
    "extra_forbidden": "structure",
    "model_validation_format": "structure",
    "model_type": "structure",
    "list_type": "structure",
    "dict_type": "structure",
}


@cache
def model_for(resource_type: str) -> Any:
    """The fhir.resources R4B model class of a type (imported on first use, then cached)."""
    return get_fhir_model_class(resource_type)


def element_path(resource_type: str, loc: tuple[int | str, ...]) -> str:
    """pydantic loc → FHIRPath-like path: ('code','coding',0,'system') → Observation.code.coding[0].system."""
    path = resource_type
    for part in loc:
        if part == "root" or part == "__root__":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith("function-"):  # pydantic validator wrappers, not elements
            continue
        else:
            path += f".{part}"
    return path


def _message(error: Any) -> str:
    """The validator's message with the offending input value blanked out (no patient data)."""
    msg = str(error.get("msg", "invalid value"))
    value = error.get("input")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        if text and len(text) > 1 and text in msg:
            msg = msg.replace(text, "<value>")
    return msg.removeprefix("Value error, ")


# --- element memo ------------------------------------------------------------------------------
#
# A record repeats the same complex elements many times (a lab's code, category and reference range,
# the patient reference, a visit's encounter). fhir.resources validates a complex element with its own
# model, the same way wherever it stands, so each distinct (type, element, value) is validated once per
# record and the resource is validated without it (a valid stand-in kept where the element is required).
# Every element is still validated by fhir.resources; the errors are the same, at the same paths
# (tests/normalize/test_validation_memo.py). Not memoised: choice elements (value[x], effective[x]: the
# "only one of" check needs them in place), contained resources (validated by their own type),
# primitives and their ``_x`` extensions, and any value whose JSON shape is not the element's.

_Found = tuple[tuple[str, str, str], ...]  # (code, element path, message) per error


@dataclass(frozen=True, slots=True)
class _Element:
    model: Any  # the element's fhir.resources model
    repeats: bool  # a list in FHIR JSON
    stand_in: object  # a valid value for the resource's own check when the element is required, else None


@cache
def _elements(resource_type: str) -> dict[str, _Element]:
    """The complex elements of a resource type that can be validated on their own, by JSON name."""
    out: dict[str, _Element] = {}
    for name, info in model_for(resource_type).model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if not extra.get("element_property") or "one_of_many" in extra:
            continue
        found, todo, repeats = [], [info.annotation], False
        while todo:
            t = todo.pop()
            if hasattr(t, "get_model_klass"):
                found.append(t.get_model_klass())
                continue
            repeats = repeats or typing.get_origin(t) is list
            todo.extend(typing.get_args(t))
        if len(found) != 1 or found[0].__name__ in ("Resource", "FHIRPrimitiveExtension"):
            continue
        stand_in: object = None
        if info.is_required():
            stand_in = [{}] if repeats else {}
            try:
                found[0].model_validate({})
            except (ValidationError, ValueError):
                continue  # no empty stand-in is valid (e.g. a required element with required children)
        out[info.alias or name] = _Element(found[0], repeats, stand_in)
    return out


def _errors(exc: ValidationError, resource_type: str, prefix: tuple[int | str, ...]) -> _Found:
    return tuple(
        (
            _CODE_BY_ERROR.get(str(err.get("type")), "value"),
            element_path(resource_type, prefix + tuple(err.get("loc", ()))),
            f"not valid FHIR R4: {_message(err)}",
        )
        for err in exc.errors(include_url=False)
    )


def _element_errors(
    resource_type: str, name: str, element: _Element, value: object, memo: dict[str, _Found]
) -> _Found | None:
    """The element's errors, from the memo or validated now; None when its value cannot be a key."""
    try:
        key = f"{resource_type}.{name}\0{json.dumps(value, separators=(',', ':'), ensure_ascii=False)}"
    except (TypeError, ValueError, RecursionError):  # not JSON data, or nested too deep: validated in place
        return None
    found = memo.get(key)
    if found is None:
        items = value if element.repeats else [value]
        errors: list[tuple[str, str, str]] = []
        for i, item in enumerate(typing.cast(list[object], items)):
            try:
                element.model.model_validate(item)
            except ValidationError as exc:
                errors.extend(_errors(exc, resource_type, (name, i) if element.repeats else (name,)))
        found = memo[key] = tuple(errors)
    return found


_EXACT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


@dataclass(frozen=True, slots=True)
class MemoInfo:
    hits: int
    misses: int
    uncached: int  # resources whose JSON cannot be keyed exactly (validated every time)
    size: int
    limit: int


class ValidationMemo:
    """Bounded, thread-safe memo of validation verdicts: content digest → issues (least recently
    used dropped first). Validation is a pure function of the resource's JSON and its reference, so
    a hit returns exactly what validating again would."""

    def __init__(self, limit: int = 1 << 16) -> None:
        self.limit = limit
        self._key = os.urandom(16)  # digests of one process mean nothing outside it
        self._verdicts: OrderedDict[bytes, tuple[DataQualityIssue, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._uncached = 0

    def digest(self, resource: JSON, ref: str) -> bytes | None:
        """The key of ``resource`` as it is, or None when its JSON bytes would not tell it apart
        from another resource: orjson writes NaN and infinities (which the standard-library
        fallback of ``jsonlimits.loads`` accepts) as ``null``, and refuses what JSON cannot hold.
        Binaries are not memoised: their base64 content may be tens of mebibytes, and a prefetch
        does not carry them."""
        if resource.get("resourceType") == "Binary":
            return None
        try:  # datetimes, dataclasses and str/int subclasses are not JSON: refused, not written as strings
            data = orjson.dumps(resource, option=_EXACT)
        except (TypeError, orjson.JSONEncodeError):
            return None
        if b"null" in data:  # rare in FHIR (null is not a value); may stand for NaN or an infinity
            return None
        digest = hashlib.blake2b(ref.encode("utf-8", "surrogatepass"), digest_size=16, key=self._key)
        digest.update(b"\0")
        digest.update(data)
        return digest.digest()

    def get(self, key: bytes) -> tuple[DataQualityIssue, ...] | None:
        with self._lock:
            found = self._verdicts.get(key)
            if found is None:
                self._misses += 1
            else:
                self._hits += 1
                self._verdicts.move_to_end(key)
            return found

    def put(self, key: bytes, issues: tuple[DataQualityIssue, ...]) -> None:
        with self._lock:
            self._verdicts[key] = issues
            self._verdicts.move_to_end(key)
            while len(self._verdicts) > self.limit:
                self._verdicts.popitem(last=False)

    def count_uncached(self) -> None:
        with self._lock:
            self._uncached += 1

    def info(self) -> MemoInfo:
        with self._lock:
            return MemoInfo(self._hits, self._misses, self._uncached, len(self._verdicts), self.limit)

    def clear(self) -> None:
        with self._lock:
            self._verdicts.clear()
            self._hits = self._misses = self._uncached = 0


MEMO = ValidationMemo()


def validate(resource: JSON, ref: str, memo: dict[str, _Found] | None = None) -> list[DataQualityIssue]:
    """Issues for every R4B validation error of ``resource`` (empty when it is valid); memoised by content.

    ``memo`` (one per record): complex elements already validated in this record, by value (above)."""
    resource_type = str(resource.get("resourceType"))
    if resource_type not in READ_TYPES:
        return []
    # The element memo may report more issues than whole validation (never fewer), so the two paths
    # keep their verdicts apart.
    key = MEMO.digest(resource, ref if memo is None else ref + "\0element-memo")
    if key is None:
        MEMO.count_uncached()
        return _validate(resource, resource_type, ref, memo)
    found = MEMO.get(key)
    if found is None:
        found = tuple(_validate(resource, resource_type, ref, memo))
        MEMO.put(key, found)
    return list(found)


def _validate(resource: JSON, resource_type: str, ref: str, memo: dict[str, _Found] | None) -> list[DataQualityIssue]:
    issues = _primitive_extension_issues(resource, resource_type, ref)
    if issues:  # fhir.resources raises AttributeError on these instead of reporting them
        resource = {k: v for k, v in resource.items() if not (k.startswith("_") and not isinstance(v, dict | list))}
    found: list[tuple[str, str, str]] = []
    try:
        if memo is not None:
            resource, found = _split(resource, resource_type, memo)
        model_for(resource_type).model_validate(resource)
    except ValidationError as exc:
        found.extend(_errors(exc, resource_type, ()))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # the library failing on input it should report
        return [
            *issues,
            DataQualityIssue(
                "warning",
                "structure",
                ref,
                resource_type,
                f"not valid FHIR R4: the validator failed on this resource ({type(exc).__name__}); read as it is",
            ),
        ]
    return issues + [DataQualityIssue("warning", code, ref, element, message) for code, element, message in found]


def _split(resource: JSON, resource_type: str, memo: dict[str, _Found]) -> tuple[JSON, list[tuple[str, str, str]]]:
    """The resource without its memoisable elements, and those elements' errors."""
    elements = _elements(resource_type)
    rest: JSON = {}
    found: list[tuple[str, str, str]] = []
    for name, value in resource.items():
        element = elements.get(name)
        shaped = element is not None and (
            (isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))
            if element.repeats
            else isinstance(value, dict)
        )
        errors = _element_errors(resource_type, name, element, value, memo) if shaped and element else None
        if errors is None:
            rest[name] = value
            continue
        found.extend(errors)
        assert element is not None
        if element.stand_in is not None:
            rest[name] = element.stand_in
    return rest, found


def _primitive_extension_issues(resource: JSON, resource_type: str, ref: str) -> list[DataQualityIssue]:
    """``"_birthDate": "2020"``: a primitive's extension element must be an object (a list when repeating)."""
    return [
        DataQualityIssue(
            "warning", "structure", ref, f"{resource_type}.{key}", "not valid FHIR R4: not an object; ignored"
        )
        for key, value in resource.items()
        if key.startswith("_") and not isinstance(value, dict | list)
    ]
