"""Validate raw FHIR R4 JSON with the fhir.resources R4B models; errors become issues.

R4B is structurally R4 for every resource type bmefhir reads (Patient,
Observation, ImagingStudy, MedicationStatement, MedicationRequest, Medication,
Condition, DiagnosticReport, DocumentReference, Binary); tests/normalize/test_r4_specifics.py and the R4
example package test check that. Validation only reports: the builder reads the
raw dict either way, so a resource with one bad element is not dropped.
"""

from __future__ import annotations

from functools import cache
from typing import Any

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
def _model(resource_type: str) -> Any:
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


def validate(resource: JSON, ref: str) -> list[DataQualityIssue]:
    """Issues for every R4B validation error of ``resource`` (empty when it is valid)."""
    resource_type = str(resource.get("resourceType"))
    if resource_type not in READ_TYPES:
        return []
    issues = _primitive_extension_issues(resource, resource_type, ref)
    if issues:  # fhir.resources raises AttributeError on these instead of reporting them
        resource = {k: v for k, v in resource.items() if not (k.startswith("_") and not isinstance(v, dict | list))}
    try:
        _model(resource_type).model_validate(resource)
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
