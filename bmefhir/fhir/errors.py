"""The errors the FHIR edge raises: one tree, so callers catch what they can handle.

```
FhirError                  anything that went wrong talking to a FHIR server
 ├── FhirTransportError    no usable response: connect/read/write error (after retries)
 │    └── FhirTimeout      the server did not answer in time
 ├── FhirHttpError         the server answered with a 4xx/5xx status (+ OperationOutcome issues)
 │    ├── FhirAuthError    401/403: missing, expired or insufficient credentials
 │    ├── FhirNotFound     404/410: the resource does not exist (or was deleted)
 │    └── FhirConflict     409/412: version conflict; re-read and apply the change again
 └── FhirResponseError     a 2xx answer we cannot use: malformed/truncated JSON, wrong resourceType
```

Every error names the request as ``METHOD label`` where the label is the
request path relative to the FHIR base with search parameter *names* only
(``GET Observation?patient&_count``); parameter values, tokens and response
bodies never appear in messages (they may hold patient data or secrets).
"""

from __future__ import annotations

from http import HTTPStatus

from bmefhir.fhir.outcome import OutcomeIssue

__all__ = [
    "FhirAuthError",
    "FhirConflict",
    "FhirError",
    "FhirHttpError",
    "FhirNotFound",
    "FhirResponseError",
    "FhirTimeout",
    "FhirTransportError",
    "http_error",
]

_MAX_ISSUES_IN_MESSAGE = 5


class FhirError(Exception):
    """Base of the tree. ``method`` and ``request`` (redacted label) say which call failed."""

    def __init__(self, message: str, *, method: str, request: str) -> None:
        super().__init__(message)
        self.method = method
        self.request = request


class FhirTransportError(FhirError):
    """No response: the connection failed or broke. ``attempts`` counts tries made."""

    def __init__(self, message: str, *, method: str, request: str, attempts: int = 1) -> None:
        super().__init__(message, method=method, request=request)
        self.attempts = attempts

    def __str__(self) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return (
            f"{self.method} {self.request} failed{tries}: {self.args[0]}. "
            "Check that the server is reachable and the base URL is right, then try again."
        )


class FhirTimeout(FhirTransportError):
    """The server did not answer within the client's timeout."""

    def __str__(self) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return (
            f"{self.method} {self.request} timed out{tries} ({self.args[0]}). "
            "The server may be overloaded; retry later or raise the client timeout."
        )


class FhirHttpError(FhirError):
    """The server answered with an error status; ``issues`` holds its OperationOutcome."""

    def __init__(
        self,
        *,
        method: str,
        request: str,
        status: int,
        issues: tuple[OutcomeIssue, ...] = (),
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{status}", method=method, request=request)
        self.status = status
        self.issues = issues
        self.attempts = attempts

    @property
    def reason(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Error"

    def __str__(self) -> str:
        text = f"{self.method} {self.request} → {self.status} {self.reason}"
        shown = [i for i in self.issues if i.severity in ("fatal", "error")] or list(self.issues)
        if shown:
            text += ": " + "; ".join(str(i) for i in shown[:_MAX_ISSUES_IN_MESSAGE])
            if len(shown) > _MAX_ISSUES_IN_MESSAGE:
                text += f" (+{len(shown) - _MAX_ISSUES_IN_MESSAGE} more)"
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        return f"{text}. {_hint(self)}"


class FhirAuthError(FhirHttpError):
    """401/403."""


class FhirNotFound(FhirHttpError):
    """404/410."""


class FhirConflict(FhirHttpError):
    """409/412: someone else changed the resource since it was read."""


class FhirResponseError(FhirError):
    """A successful status with a body we cannot use."""

    def __str__(self) -> str:
        return f"{self.method} {self.request}: {self.args[0]}"


def _hint(error: FhirHttpError) -> str:
    status = error.status
    if status == 401:
        return "Authenticate: supply a valid access token (it may have expired)."
    if status == 403:
        return "The credentials lack permission for this request; check the granted scopes."
    if status in (404, 410):
        return "Check the resource type and id (410: it was deleted)."
    if status in (409, 412):
        return "The resource changed since it was read; re-read it and apply the change again."
    if status in (400, 422):
        return "Fix the request or resource elements named above and send it again."
    if status == 429 or status >= 500:
        return "The server is overloaded or failing; try again later."
    return "See the server's issues for what to change."


def http_error(
    *, method: str, request: str, status: int, issues: tuple[OutcomeIssue, ...] = (), attempts: int = 1
) -> FhirHttpError:
    """The most specific ``FhirHttpError`` subclass for ``status``."""
    cls: type[FhirHttpError]
    if status in (401, 403):
        cls = FhirAuthError
    elif status in (404, 410):
        cls = FhirNotFound
    elif status in (409, 412):
        cls = FhirConflict
    else:
        cls = FhirHttpError
    return cls(method=method, request=request, status=status, issues=issues, attempts=attempts)
