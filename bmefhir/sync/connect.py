"""A FhirClient for a job, one per worker thread, reused across that thread's patients.

Reusing the client keeps the HTTP connection (and a SMART access token) alive
between patients; clients are never shared between threads (httpx's Client is
thread-safe, but a per-thread client keeps request counts per patient exact).
"""

from __future__ import annotations

import importlib
import os
import threading

import httpx

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.retry import RetryPolicy
from bmefhir.sync.spec import AuthConfig, SyncJobSpec

__all__ = ["auth_for", "client_for", "close_clients", "open_client"]

_lock = threading.Lock()
_clients: dict[tuple[int, SyncJobSpec], FhirClient] = {}


def auth_for(config: AuthConfig) -> httpx.Auth | None:
    """The ``httpx.Auth`` an ``AuthConfig`` names; a missing secret is a clear error without the secret."""
    if config.kind == "none":
        return None
    if config.kind == "bearer-env":
        name = config.token_env or ""
        token = os.environ.get(name)
        if not token:
            raise RuntimeError(f"environment variable {name} (the bearer token) is not set or empty")
        from bmefhir.fhir.auth import BearerAuth

        return BearerAuth(token)
    # SMART Backend Services lives in bmefhir.smart.backend: ``auth_from_config(AuthConfig) -> httpx.Auth``.
    backend = importlib.import_module("bmefhir.smart.backend")
    auth: httpx.Auth = backend.auth_from_config(config)
    return auth


def open_client(job: SyncJobSpec) -> FhirClient:
    """A new client for ``job`` (the caller closes it)."""
    return FhirClient(
        job.fhir_base,
        auth=auth_for(job.auth),
        timeout=job.timeout,
        page_size=job.page_size,
        retry=RetryPolicy(max_attempts=job.max_attempts, backoff_base=0.5, backoff_cap=30.0),
    )


def client_for(job: SyncJobSpec) -> FhirClient:
    """This thread's client for ``job``, created on first use."""
    key = (threading.get_ident(), job)
    with _lock:
        client = _clients.get(key)
    if client is None:
        client = open_client(job)
        with _lock:
            _clients[key] = client
    return client


def close_clients(job: SyncJobSpec | None = None) -> None:
    """Close the cached clients (of ``job``, or all)."""
    with _lock:
        keys = [k for k in _clients if job is None or k[1] == job]
        closing = [_clients.pop(k) for k in keys]
    for client in closing:
        client.close()
