"""SMART on FHIR authorization: Backend Services (unattended jobs) with asymmetric client keys."""

from bmefhir.smart.backend import BackendServicesAuth, SmartAuthError, backend_auth_from_env
from bmefhir.smart.keys import KeyLoadError, SigningKey, generate_key, load_signing_key

__all__ = [
    "BackendServicesAuth",
    "KeyLoadError",
    "SigningKey",
    "SmartAuthError",
    "backend_auth_from_env",
    "generate_key",
    "load_signing_key",
]
