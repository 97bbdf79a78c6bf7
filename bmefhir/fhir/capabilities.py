"""What a server's CapabilityStatement offers (read defensively: any element may be missing or malformed)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["offers_operation"]


def _server_rests(capabilities: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for rest in capabilities.get("rest") or []:
        if isinstance(rest, Mapping) and rest.get("mode") == "server":
            yield rest


def offers_operation(capabilities: Mapping[str, Any], name: str, resource_type: str | None = None) -> bool:
    """True when the server lists operation ``name`` at system level, or on ``resource_type`` when given."""
    for rest in _server_rests(capabilities):
        if resource_type is None:
            holders: list[Any] = [rest]
        else:
            resources = rest.get("resource") or []
            holders = [r for r in resources if isinstance(r, Mapping) and r.get("type") == resource_type]
        for holder in holders:
            ops = holder.get("operation") or []
            if any(isinstance(op, Mapping) and op.get("name") == name for op in ops):
                return True
    return False
