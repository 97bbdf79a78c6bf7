"""Where the page's data comes from: the EHR (with the session's tokens) or the demo examples."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import httpx

from bmefhir.fhir.auth import BearerAuth
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirAuthError, FhirError, FhirNotFound
from bmefhir.fhir.files import read_bundle
from bmefhir.fhir.patient_fetch import fetch_patient
from bmefhir.fhir.raw import RawPatient
from bmefhir.fhir.retry import RetryPolicy
from bmefhir.pipeline import PatientResult, process_patient
from bmefhir.record import DataQualityIssue
from bmefhir.smart.keys import load_signing_key
from bmefhir.smart.launch import ClientCredentials, LaunchError, TokenSet, refresh
from bmefhir.smart.oidc import JwksCache
from bmefhir.smart.sessions import SessionStore, WebSession
from bmefhir.testing.examples import ExamplesError, list_examples
from bmefhir.web import audit
from bmefhir.web.errors import AppError
from bmefhir.web.patient_scope import within_patient
from bmefhir.web.settings import WebSettings

__all__ = [
    "client_credentials",
    "demo_names",
    "demo_patient",
    "ehr_client",
    "fetch_session_patient",
    "fhir_client",
    "fresh_tokens",
    "read_launch_patient",
    "renew",
    "scope_issues",
    "signed_in",
]

FHIR_TIMEOUT = 30.0


def client_credentials(settings: WebSettings) -> ClientCredentials:
    key = load_signing_key(settings.private_key_file) if settings.private_key_file else None
    return ClientCredentials(settings.client_id, settings.client_secret, key)


def signed_in(session: WebSession | None) -> TokenSet:
    if session is None or session.tokens is None:
        raise AppError(
            401, "Not signed in", "Your session has ended or was never started. Launch the app again from the EHR."
        )
    if session.tokens.patient is None:
        raise AppError(
            400,
            "No patient selected",
            "The EHR did not say which patient to show. Launch the app from a patient's chart.",
        )
    return session.tokens


def fresh_tokens(
    session: WebSession, store: SessionStore, settings: WebSettings, http: httpx.Client, now: datetime, keys: JwksCache
) -> TokenSet:
    """The session's tokens, refreshed first when the access token has expired."""
    tokens = signed_in(session)
    return renew(session, store, settings, http, now, keys) if tokens.expired(now) else tokens


def renew(
    session: WebSession, store: SessionStore, settings: WebSettings, http: httpx.Client, now: datetime, keys: JwksCache
) -> TokenSet:
    """Refresh the session's tokens; when the EHR will not, the session ends and the user is asked
    to launch again (401), whatever the EHR's answer was."""
    tokens = signed_in(session)
    try:
        fresh = refresh(http, tokens, client_credentials(settings), now=now, keys=keys)
    except LaunchError as exc:
        session.tokens = None
        store.save(session)
        audit.record("refresh", "failed", user=tokens.fhir_user, patient=tokens.patient, reason=str(exc))
        raise AppError(
            401,
            "Your session has ended",
            "The EHR did not renew this app's access, so the assessment cannot be shown or signed.",
            hint="Launch the app again from the EHR.",
        ) from None
    session.tokens = fresh
    store.save(session)
    audit.record("refresh", "success", user=tokens.fhir_user, patient=tokens.patient)
    return fresh


def fhir_client(base: str, access_token: str) -> FhirClient:
    """A client for an EHR's FHIR server with a bearer token (an interactive caller waits: 2 attempts)."""
    return FhirClient(base, auth=BearerAuth(access_token), timeout=FHIR_TIMEOUT, retry=RetryPolicy(max_attempts=2))


def ehr_client(tokens: TokenSet) -> FhirClient:
    return fhir_client(tokens.iss, tokens.access_token)


def scope_issues(tokens: TokenSet) -> tuple[DataQualityIssue, ...]:
    return tuple(
        DataQualityIssue(
            "warning",
            "forbidden",
            kind,
            kind,
            f"the EHR did not grant read access to {kind}; its data is not in this analysis",
        )
        for kind in tokens.grant.unreadable
    )


def read_launch_patient(client: FhirClient, tokens: TokenSet) -> RawPatient:
    """The launch patient's data, limited to that patient whatever the EHR returned
    (``bmefhir.web.patient_scope``), with the scopes the EHR withheld as data-quality issues."""
    raw, dropped = within_patient(fetch_patient(client, tokens.patient or ""), tokens.iss)
    audit.record(
        "read", "success", user=tokens.fhir_user, patient=tokens.patient, resources=len(raw.resources), ignored=dropped
    )
    return replace(raw, issues=raw.issues + scope_issues(tokens))


def fetch_session_patient(
    session: WebSession, store: SessionStore, settings: WebSettings, http: httpx.Client, now: datetime, keys: JwksCache
) -> tuple[RawPatient, PatientResult]:
    """Read the launch patient from the EHR and analyse it (one refresh-and-retry on a 401)."""
    tokens = fresh_tokens(session, store, settings, http, now, keys)
    for attempt in (1, 2):
        try:
            with ehr_client(tokens) as client:
                raw = read_launch_patient(client, tokens)
            break
        except FhirAuthError as exc:
            # 401: the token died early (refresh once); 403: not allowed, refreshing will not help.
            if exc.status != 401 or attempt == 2 or tokens.refresh_token is None:
                audit.record("read", "refused", user=tokens.fhir_user, patient=tokens.patient, status=exc.status)
                raise AppError(401, "Access refused", "The EHR refused this app's access. Launch it again.") from None
            tokens = renew(session, store, settings, http, now, keys)
        except FhirNotFound:
            audit.record("read", "failed", user=tokens.fhir_user, patient=tokens.patient, reason="patient-not-found")
            raise AppError(404, "Patient not found", "The EHR has no record of the launch patient.") from None
        except FhirError as exc:
            audit.record("read", "failed", user=tokens.fhir_user, patient=tokens.patient, reason=type(exc).__name__)
            raise AppError(502, "The EHR could not be read", str(exc)) from None
    result = process_patient(raw.resources, now, patient_id=raw.patient_id, source_issues=raw.issues)
    return raw, result


def demo_names() -> list[str]:
    try:
        return [case.name for case in list_examples()]
    except ExamplesError:
        return []


def demo_patient(name: str, now: datetime) -> tuple[RawPatient, PatientResult]:
    cases = {case.name: case for case in list_examples()} if name in demo_names() else {}
    if name not in cases:
        raise AppError(404, "No such demo patient", "Pick one of the example patients from the list.")
    raws = list(read_bundle(cases[name].path))
    if not raws:
        raise AppError(404, "No such demo patient", "The example holds no patient.")
    raw = raws[0]
    return raw, process_patient(raw.resources, now, patient_id=raw.patient_id, source_issues=raw.issues)
