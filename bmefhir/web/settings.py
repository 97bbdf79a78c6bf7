"""The web app's settings, from ``BMEFHIR_WEB_*`` environment variables (or a ``.env`` file).

Tests override ``get_settings`` through ``app.dependency_overrides``; nothing
reads a module-level global. Secrets are ``SecretStr`` so they print as ``**********``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WebSettings", "get_settings"]


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BMEFHIR_WEB_", env_file=".env", extra="ignore")

    # -- SMART client registration ------------------------------------------------------------
    client_id: str = "bmefhir"
    client_secret: SecretStr | None = None  # confidential client (client_secret_basic)
    private_key_file: Path | None = None  # confidential client (private_key_jwt); wins over the secret
    public_url: str = "http://127.0.0.1:8000"  # where the browser reaches the app; redirect_uri = {public_url}/callback
    # FHIR bases the app may be launched from; any other iss gets 400 and no request.
    allowed_issuers: list[str] = Field(default_factory=list)
    standalone_iss: str | None = None  # the EHR for /standalone when none is given
    scope_style: Literal["v1", "v2"] = "v2"
    request_write: bool = True  # ask for create/update of the four outputs (sign & write back)
    # Sign & write back also writes the findings read from report text as bmefhir-imaging-finding
    # Observations (BMEFHIR_WEB_WRITE_FINDINGS); asks for patient/Observation.cu, used only when granted.
    write_findings: bool = False

    # -- hardening ----------------------------------------------------------------------------
    # Local development on http://127.0.0.1: session cookie without Secure, SameSite=Lax.
    dev: bool = False
    # Launched inside an EHR iframe: the cookie must be SameSite=None (so Secure) to reach the app there.
    framed: bool = True
    frame_ancestors: list[str] = Field(default_factory=lambda: ["'self'"])
    # Host headers the app answers (Starlette TrustedHostMiddleware; "*.example.org" allowed).
    # Empty: only public_url's host. Any other Host gets 400.
    trusted_hosts: list[str] = Field(default_factory=list)
    session_idle_minutes: int = Field(default=480, ge=1)
    # Several worker processes: keep sessions in Redis (redis://host:6379/0), encrypted with
    # session_key (a Fernet key: python -c "from bmefhir.smart.redis_sessions import new_session_key;
    # print(new_session_key())"). Unset: in this process's memory (one worker).
    session_store: str | None = None
    session_key: SecretStr | None = None
    launch_timeout_seconds: int = Field(default=600, ge=10)

    # -- CDS Hooks ----------------------------------------------------------------------------
    # CDS clients allowed to call /cds-services: JWT issuer → its JWKS URL (or a JWKS file path).
    # Empty: the service refuses every call, unless ``dev`` is on (then calls need no JWT).
    cds_clients: dict[str, str] = Field(default_factory=dict)
    # Browser origins allowed to call /cds-services cross-origin (CORS), e.g. the CDS Hooks sandbox
    # ["https://sandbox.cds-hooks.org"]. Empty: no CORS headers, browsers refuse cross-origin calls.
    cds_cors_origins: list[str] = Field(default_factory=list)
    # Where CDS Hooks feedback is kept: the state store (sqlite:///PATH or postgresql://…).
    # Unset: BMEFHIR_SYNC_STATE, else the sync default (~/.local/state/bmefhir/sync.db).
    state_store: str | None = None

    # -- demo ---------------------------------------------------------------------------------
    demo: bool = False  # /demo shows the example patients, no EHR needed

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + "/callback"

    @property
    def hosts(self) -> list[str]:
        """The Host names requests may carry: ``trusted_hosts``, else ``public_url``'s host."""
        if self.trusted_hosts:
            return list(self.trusted_hosts)
        host = urlsplit(self.public_url).hostname
        return [host] if host else []

    def allows_issuer(self, iss: str) -> bool:
        wanted = iss.rstrip("/")
        return any(wanted == allowed.rstrip("/") for allowed in self.allowed_issuers)


@lru_cache
def get_settings() -> WebSettings:
    return WebSettings()
