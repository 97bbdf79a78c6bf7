"""FHIR Shorthand for the artefacts that follow the code: SUSHI compiles it with ig/fsh (docs/profiles.md).

The CodeSystems of the code's own vocabulary are written as FSH ``CodeSystem:`` definitions; the
ConceptMap and the imaging-finding examples (built as JSON by ``terminology`` and ``structures``) as
FSH ``Instance:`` assignment rules, one per leaf value, so SUSHI checks them against the R4 core
definitions and writes them like every other resource of ``profiles/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from .common import Json, narrative, pascal

# The keys whose value is of FHIR type ``code`` in the resources emitted as instances here
# (ConceptMap, Observation, and Coding/Narrative inside them): FSH writes a code as #value, and SUSHI
# refuses a string there. Everything else is a string, boolean or number.
CODE_KEYS: Final = frozenset({"code", "status", "equivalence", "content"})
_PLAIN_CODE: Final = re.compile(r"^[A-Za-z0-9_.\-]+$")


def string(value: str) -> str:
    """A FSH string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def code(value: str) -> str:
    """A FSH code literal: #code, or #"code" when it holds anything but letters, digits and _.-"""
    return "#" + (value if _PLAIN_CODE.match(value) else string(value))


def code_system(rid: str, title: str, description: str, concepts: Mapping[str, str], value_set: str) -> str:
    """One bmefhir CodeSystem (complete, case-sensitive) as a FSH definition."""
    lines = [
        f"CodeSystem: {pascal(rid)}CS",
        f"Id: {rid}",
        f"Title: {string(title)}",
        f"Description: {string(description)}",
        "* insert Published",
        f"* ^name = {string(pascal(rid))}",
        f"* ^text.div = {string(narrative(f'{title}. {description}')['div'])}",
        "* ^caseSensitive = true",
        f"* ^valueSet = {string(value_set)}",
        "* ^content = #complete",
        f"* ^count = {len(concepts)}",
    ]
    lines += [f"* {code(key)} {string(display)}" for key, display in concepts.items()]
    return "\n".join(lines) + "\n"


def _rules(value: Any, path: str, key: str) -> Iterator[str]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _rules(v, f"{path}.{k}" if path else k, k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _rules(v, f"{path}[{i}]", key)
    elif isinstance(value, bool):
        yield f"* {path} = {'true' if value else 'false'}"
    elif isinstance(value, int | float):
        yield f"* {path} = {value}"
    elif key in CODE_KEYS:
        yield f"* {path} = {code(str(value))}"
    else:
        yield f"* {path} = {string(str(value))}"


def instance(resource: Json, usage: str) -> str:
    """A resource as a FSH Instance of its base type: every leaf value as one assignment rule.

    ``usage`` is ``definition`` (a conformance resource) or ``example``.
    """
    body = {k: v for k, v in resource.items() if k not in ("resourceType", "id")}
    lines = [f"Instance: {resource['id']}", f"InstanceOf: {resource['resourceType']}", f"Usage: #{usage}"]
    lines += list(_rules(body, "", ""))
    return "\n".join(lines) + "\n"
