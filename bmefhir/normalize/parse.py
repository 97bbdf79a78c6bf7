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
import os
import threading
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


def validate(resource: JSON, ref: str) -> list[DataQualityIssue]:
    """Issues for every R4B validation error of ``resource`` (empty when it is valid); memoised."""
    resource_type = str(resource.get("resourceType"))
    if resource_type not in READ_TYPES:
        return []
    key = MEMO.digest(resource, ref)
    if key is None:
        MEMO.count_uncached()
        return _validate(resource, resource_type, ref)
    found = MEMO.get(key)
    if found is None:
        found = tuple(_validate(resource, resource_type, ref))
        MEMO.put(key, found)
    return list(found)


def _validate(resource: JSON, resource_type: str, ref: str) -> list[DataQualityIssue]:
    issues = _primitive_extension_issues(resource, resource_type, ref)
    if issues:  # fhir.resources raises AttributeError on these instead of reporting them
        resource = {k: v for k, v in resource.items() if not (k.startswith("_") and not isinstance(v, dict | list))}
    try:
        model_for(resource_type).model_validate(resource)
    except ValidationError as exc:
        return issues + [
            DataQualityIssue(
                "warning",
                _CODE_BY_ERROR.get(str(err.get("type")), "value"),
                ref,
                element_path(resource_type, tuple(err.get("loc", ()))),
                f"not valid FHIR R4: {_message(err)}",
            )
            for err in exc.errors(include_url=False)
        ]
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
    return issues


def _primitive_extension_issues(resource: JSON, resource_type: str, ref: str) -> list[DataQualityIssue]:
    """``"_birthDate": "2020"``: a primitive's extension element must be an object (a list when repeating)."""
    return [
        DataQualityIssue(
            "warning", "structure", ref, f"{resource_type}.{key}", "not valid FHIR R4: not an object; ignored"
        )
        for key, value in resource.items()
        if key.startswith("_") and not isinstance(value, dict | list)
    ]
