"""Local HAPI FHIR R4 JPA sandbox server for integration tests (see :mod:`.server`)."""

from bmefhir.sandbox.server import (
    IN_MEMORY,
    SandboxError,
    SandboxServer,
    build,
    running,
    start,
    status,
    stop,
)

__all__ = [
    "IN_MEMORY",
    "SandboxError",
    "SandboxServer",
    "build",
    "running",
    "start",
    "status",
    "stop",
]
