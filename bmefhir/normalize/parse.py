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
import typing
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ConfigDict, TypeAdapter, ValidationError

from bmefhir.normalize.fhirjson import EXACT_JSON, JSON, exact_key
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


# --- validation in parts -----------------------------------------------------------------------
#
# fhir.resources validates every element of a resource with the element's own model (a CodeableConcept
# the same way wherever it stands), and most of its cost is fixed per model instance (its Python
# validators walk every field of the model), not per value. A record repeats the same elements many
# times (a lab's code, category and reference range, the patient reference) and its resources of one
# kind share one shape. So a resource, and in turn each complex element, is validated in parts, each
# part by fhir.resources' own model or type, exactly as in place:
#
# * each complex element value with its model, once per record and model (the memo), in parts itself;
# * each non-repeating primitive (``status``, ``effectiveDateTime``, a Coding's ``code``, ...) with its
#   fhir.resources type under the model's config, as its field validates it (fhir.resources declares
#   no constraints on fields; the 59 models validated in parts use 20 primitive types);
# * the rest, the *shell*, with the fhir.resources model: each split primitive replaced by a valid
#   value of its type, each split complex element removed or, where it is required or a choice
#   (``value[x]``: the "only one of" check needs it), replaced by an empty one. The model-level checks
#   (unknown elements, required elements, one ``value[x]``, nulls in lists) read only what stays, so
#   values alike in what stays are one shell, validated once per record.
#
# The errors are the same, at the same paths (tests/normalize/test_validation_memo.py). Kept in the
# shell as they are: contained resources (validated by their own type), repeating primitives,
# primitives' ``_x`` extensions, and any value whose JSON shape is not the element's (a ``code`` that is
# a string, a repeating element sent as one object, a null in a list, a status that is an object, a
# value that is not JSON data), so those errors read as before.

_Loc = tuple[int | str, ...]
_Err = tuple[str, _Loc, str]  # (issue code, pydantic loc within the value validated, message)
Memo = dict[Any, tuple[_Err, ...]]  # per record: (model, JSON bytes of a value) → its errors
_MEMO_STRING = 256  # longer primitive strings (report text, narratives) are checked, not kept as keys


@dataclass(frozen=True, slots=True)
class _Element:
    model: Any  # the element's fhir.resources model
    repeats: bool  # a list in FHIR JSON
    stand_in: object  # a valid value left in the shell (required or choice elements), else None: removed


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a memo key
class _Primitive:
    validate: Any  # validates the element's value as its field in the model does (its type, the model's config)
    stand_in: object  # a valid value of its type, left in the shell


@dataclass(frozen=True, slots=True)
class _Plan:
    """How values of one fhir.resources model are validated in parts (above)."""

    elements: dict[str, _Element]  # complex elements, by JSON name
    primitives: dict[str, _Primitive]  # non-repeating primitive elements, by JSON name


# Values tried, in order, as the shell's stand-in for a primitive: the first its type accepts is used.
# A primitive type none of them fits is validated in place instead.
_PRIMITIVE_STAND_INS: tuple[object, ...] = (
    "a",
    1,
    True,
    "2000-01-01T00:00:00Z",
    "00:00:00",
    "urn:oid:1.2",
    "urn:uuid:00000000-0000-4000-8000-000000000000",
    "http://a",
    "AAAA",
    '<div xmlns="http://www.w3.org/1999/xhtml">a</div>',
)


def _field_models(annotation: object) -> tuple[list[Any], bool]:
    """The fhir.resources models in a field's annotation, and whether it repeats (a list)."""
    found, todo, repeats = [], [annotation], False
    while todo:
        t = todo.pop()
        if hasattr(t, "get_model_klass"):
            found.append(t.get_model_klass())
            continue
        repeats = repeats or typing.get_origin(t) is list
        todo.extend(typing.get_args(t))
    return found, repeats


def _valid_empty(model: Any) -> bool:
    try:
        model.model_validate({})
    except (ValidationError, ValueError):
        return False
    return True


@cache
def _primitive(annotation: Any, config: tuple[tuple[str, Any], ...]) -> _Primitive | None:
    """A validator of one primitive type under a model config (the models validated in parts use 20 and
    one config), with a stand-in its type accepts; None when no stand-in fits."""
    # pydantic-core's validator itself: TypeAdapter.validate_python adds a Python call per value.
    validate = TypeAdapter(annotation, config=ConfigDict(**dict(config))).validator.validate_python  # type: ignore[typeddict-item]
    for value in _PRIMITIVE_STAND_INS:
        try:
            validate(value)
        except ValidationError:
            continue
        return _Primitive(validate, value)
    return None


@cache
def _plan(model: Any) -> _Plan:
    elements: dict[str, _Element] = {}
    primitives: dict[str, _Primitive] = {}
    config = tuple(sorted(model.model_config.items()))
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if not extra.get("element_property"):
            continue
        choice = "one_of_many" in extra
        models, repeats = _field_models(info.annotation)
        alias = info.alias or name
        if not models:
            # Only a field whose definition adds nothing to its type (fhir.resources declares no
            # constraints on fields) validates alone as in the model.
            if not repeats and not info.metadata and (primitive := _primitive(info.annotation, config)) is not None:
                primitives[alias] = primitive
            continue
        if len(models) != 1 or models[0].__name__ in ("Resource", "FHIRPrimitiveExtension"):
            continue
        stand_in: object = None
        if info.is_required() or choice:
            if (choice and repeats) or not _valid_empty(models[0]):
                continue  # no empty stand-in is valid (e.g. an element with required children): in place
            stand_in = [{}] if repeats else {}
        elements[alias] = _Element(models[0], repeats, stand_in)
    return _Plan(elements, primitives)


def prepare() -> int:
    """Build the plans of every model the read types reach (59 fhir.resources models), so no
    request pays for them; returns how many. ``pipeline.warm_up`` calls it."""
    seen: set[Any] = set()
    todo = [model_for(t) for t in sorted(READ_TYPES)]
    while todo:
        model = todo.pop()
        if model not in seen:
            seen.add(model)
            todo.extend(element.model for element in _plan(model).elements.values())
    return len(seen)


def _errors(exc: ValidationError, prefix: _Loc = ()) -> tuple[_Err, ...]:
    return tuple(
        (
            _CODE_BY_ERROR.get(str(err.get("type")), "value"),
            prefix + tuple(err.get("loc", ())),
            f"not valid FHIR R4: {_message(err)}",
        )
        for err in exc.errors(include_url=False)
    )


def _value_errors(model: Any, value: JSON, memo: Memo) -> tuple[_Err, ...] | None:
    """The errors of an element value, from the memo or validated in parts now; None when the value
    cannot be a key (then it is validated in place)."""
    key = exact_key(value)
    if key is None:
        return None
    found = memo.get((model, key))
    if found is None:
        found = memo[(model, key)] = _parts(model, value, memo)
    return found


def _element_errors(element: _Element, name: str, value: object, memo: Memo) -> list[_Err] | None:
    """The errors of a complex element, or None when it stays in the shell (its JSON shape is not the
    element's, or it is not JSON data)."""
    if not element.repeats:
        if not isinstance(value, dict):
            return None
        found = _value_errors(element.model, value, memo)
        return None if found is None else [(code, (name, *loc), msg) for code, loc, msg in found]
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        return None
    out: list[_Err] = []
    for i, item in enumerate(value):
        found = _value_errors(element.model, item, memo)
        if found is None:
            return None
        out += [(code, (name, i, *loc), msg) for code, loc, msg in found]
    return out


def _parts(model: Any, value: JSON, memo: Memo) -> tuple[_Err, ...]:
    """The errors of ``value`` validated with ``model`` in parts (above): its complex elements, its
    primitives and its shell."""
    plan = _plan(model)
    shell: JSON = {}
    found: list[_Err] = []
    for name, item in value.items():
        primitive = plan.primitives.get(name)
        if primitive is not None:
            if isinstance(item, str | int | float):  # bool is an int
                # Statuses, units, a visit's date repeat: each value checked once per record and
                # type (the type in the key: True == 1 and 1 == 1.0, but they validate differently).
                key = (primitive, type(item), item)
                errors = memo.get(key)
                if errors is None:
                    try:
                        primitive.validate(item)
                        errors = ()
                    except ValidationError as exc:
                        errors = _errors(exc)
                    if not isinstance(item, str) or len(item) <= _MEMO_STRING:
                        memo[key] = errors
                found += [(code, (name, *loc), msg) for code, loc, msg in errors]
                shell[name] = primitive.stand_in
                continue
        elif (element := plan.elements.get(name)) is not None:
            element_errors = _element_errors(element, name, item, memo)
            if element_errors is not None:
                found += element_errors
                if element.stand_in is not None:
                    shell[name] = element.stand_in
                continue
        shell[name] = item
    return (*found, *_shell_errors(model, shell, memo))


def _shell_errors(model: Any, shell: JSON, memo: Memo) -> tuple[_Err, ...]:
    """The model-level errors of a shell: from the record's memo, from the process's (a new patient
    of a known shape: ``SHELLS``), or validated now."""
    key = exact_key(shell)
    if key is None:
        return _validated(model, shell)
    found = memo.get((model, True, key))
    if found is None:
        digest = SHELLS.digest_of(f"{model.__module__}.{model.__qualname__}", key)
        found = SHELLS.get(digest)
        if found is None:
            found = _validated(model, shell)
            SHELLS.put(digest, found)
        memo[(model, True, key)] = found
    return found


def _validated(model: Any, value: JSON) -> tuple[_Err, ...]:
    try:
        model.model_validate(value)
    except ValidationError as exc:
        return _errors(exc)
    return ()


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
        self._verdicts: OrderedDict[bytes, tuple[Any, ...]] = OrderedDict()
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
            data = orjson.dumps(resource, option=EXACT_JSON)
        except (TypeError, orjson.JSONEncodeError):
            return None
        if b"null" in data:  # rare in FHIR (null is not a value); may stand for NaN or an infinity
            return None
        digest = hashlib.blake2b(ref.encode("utf-8", "surrogatepass"), digest_size=16, key=self._key)
        digest.update(b"\0")
        digest.update(data)
        return digest.digest()

    def digest_of(self, label: str, data: bytes | str) -> bytes:
        """The key of an exact JSON key (``fhirjson.exact_key``) under ``label``."""
        digest = hashlib.blake2b(label.encode(), digest_size=16, key=self._key)
        if isinstance(data, str):  # the standard library's text: never the same bytes as orjson's
            digest.update(b"\1")
            digest.update(data.encode("utf-8", "surrogatepass"))
        else:
            digest.update(b"\0")
            digest.update(data)
        return digest.digest()

    def get(self, key: bytes) -> tuple[Any, ...] | None:
        with self._lock:
            found = self._verdicts.get(key)
            if found is None:
                self._misses += 1
            else:
                self._hits += 1
                self._verdicts.move_to_end(key)
            return found

    def put(self, key: bytes, issues: tuple[Any, ...]) -> None:
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
# Model-level verdicts of shells (validation in parts, above): a record of a known shape, e.g. a new
# patient's lab results, is not checked again for what only its structure decides. Few per model.
SHELLS = ValidationMemo(limit=1 << 12)


def validate(resource: JSON, ref: str, memo: Memo | None = None) -> list[DataQualityIssue]:
    """Issues for every R4B validation error of ``resource`` (empty when it is valid); memoised by content.

    ``memo`` (one per record): validate in parts, each distinct element and shell of the record once
    (above); without it, the resource is validated whole."""
    resource_type = str(resource.get("resourceType"))
    if resource_type not in READ_TYPES:
        return []
    # Validation in parts may report more issues than whole validation (never fewer), so the two
    # paths keep their verdicts apart.
    key = MEMO.digest(resource, ref if memo is None else ref + "\0element-memo")
    if key is None:
        MEMO.count_uncached()
        return _validate(resource, resource_type, ref, memo)
    found = MEMO.get(key)
    if found is None:
        found = tuple(_validate(resource, resource_type, ref, memo))
        MEMO.put(key, found)
    return list(found)


def _validate(resource: JSON, resource_type: str, ref: str, memo: Memo | None) -> list[DataQualityIssue]:
    issues = _primitive_extension_issues(resource, resource_type, ref)
    if issues:  # fhir.resources raises AttributeError on these instead of reporting them
        resource = {k: v for k, v in resource.items() if not (k.startswith("_") and not isinstance(v, dict | list))}
    found: tuple[_Err, ...] = ()
    try:
        if memo is not None:
            found = _parts(model_for(resource_type), resource, memo)
        else:
            model_for(resource_type).model_validate(resource)
    except ValidationError as exc:
        found = _errors(exc)
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
    return issues + [
        DataQualityIssue("warning", code, ref, element_path(resource_type, loc), message)
        for code, loc, message in found
    ]


def _primitive_extension_issues(resource: JSON, resource_type: str, ref: str) -> list[DataQualityIssue]:
    """``"_birthDate": "2020"``: a primitive's extension element must be an object (a list when repeating)."""
    return [
        DataQualityIssue(
            "warning", "structure", ref, f"{resource_type}.{key}", "not valid FHIR R4: not an object; ignored"
        )
        for key, value in resource.items()
        if key.startswith("_") and not isinstance(value, dict | list)
    ]
