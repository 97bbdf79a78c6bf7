"""Collects DataQualityIssues while a record is built; one issue per resource element."""

from __future__ import annotations

from bmefhir.record import DataQualityIssue, Severity


class IssueLog:
    """Issues in arrival order; a second issue for an element already reported is dropped.

    Validation runs first, so when it flags ``Observation.effectiveDateTime`` the
    reader's own complaint about the same element does not repeat it.
    """

    def __init__(self) -> None:
        self._items: list[DataQualityIssue] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, severity: Severity, code: str, resource: str, element: str, message: str) -> None:
        key = (resource, element)
        if key in self._seen:
            return
        self._seen.add(key)
        self._items.append(DataQualityIssue(severity, code, resource, element, message))

    def flagged(self, resource: str, element: str) -> bool:
        return (resource, element) in self._seen

    def extend(self, issues: list[DataQualityIssue]) -> None:
        for i in issues:
            self.add(i.severity, i.code, i.resource, i.element, i.message)

    def mentions(self, resource: str) -> bool:
        return any(r == resource for r, _ in self._seen)

    def items(self) -> list[DataQualityIssue]:
        return list(self._items)
