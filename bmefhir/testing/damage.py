"""Places in a parsed FHIR resource, for tests and benchmarks that damage one at random."""

from __future__ import annotations

from typing import Any

__all__ = ["paths", "put"]


def paths(value: object, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and index path below ``value`` (dicts and lists), parents before children."""
    out = [path] if path else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*path, i))
    return out


def put(resource: Any, path: tuple[Any, ...], value: object) -> None:
    """Replace what is at ``path`` (one of ``paths(resource)``) with ``value``."""
    holder = resource
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
