"""SMART App Launch endpoints: ``/launch`` (EHR launch), ``/standalone`` and ``/callback``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from bmefhir.smart.launch import begin_launch, discover, exchange_code
from bmefhir.smart.scopes import requested_scopes
from bmefhir.web import audit
from bmefhir.web.data import client_credentials
from bmefhir.web.deps import ClockDep, HttpDep, JwksDep, SessionDep, SettingsDep, StoreDep
from bmefhir.web.errors import AppError
from bmefhir.web.security import set_session_cookie

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Param = Annotated[str | None, Query(max_length=2048)]


@router.get("/launch")
def ehr_launch(
    settings: SettingsDep,
    store: StoreDep,
    http: HttpDep,
    now: ClockDep,
    session: SessionDep,
    iss: Param = None,
    launch: Param = None,
) -> Response:
    if not launch:
        raise AppError(400, "The launch did not work", "The EHR launch carried no launch parameter.")
    return _start(settings, store, http, now, session, iss, launch, "ehr")


@router.get("/standalone")
def standalone_launch(
    settings: SettingsDep,
    store: StoreDep,
    http: HttpDep,
    now: ClockDep,
    session: SessionDep,
    iss: Param = None,
) -> Response:
    return _start(settings, store, http, now, session, iss or settings.standalone_iss, None, "standalone")


def _start(
    settings: SettingsDep,
    store: StoreDep,
    http: HttpDep,
    now: ClockDep,
    session: SessionDep,
    iss: str | None,
    launch: str | None,
    kind: Literal["ehr", "standalone"],
) -> Response:
    if not iss:
        raise AppError(400, "The launch did not work", "The launch did not say which EHR (iss) it came from.")
    # Checked before anything is sent: an unlisted iss must not make this server talk to it.
    if not settings.allows_issuer(iss):
        audit.record("launch", "refused", reason="iss-not-allowed")
        raise AppError(
            400,
            "Unknown EHR",
            "This app is not registered with the EHR that launched it.",
            hint="Ask your EHR administrator to add this FHIR server to the app's allowed issuers.",
        )
    iss = next(a for a in settings.allowed_issuers if a.rstrip("/") == iss.rstrip("/")).rstrip("/")
    config = discover(http, iss)
    scope = requested_scopes(
        kind, settings.scope_style, write=settings.request_write, write_findings=settings.write_findings
    )
    pending, url = begin_launch(
        config,
        iss=iss,
        launch=launch,
        client=client_credentials(settings),
        redirect_uri=settings.redirect_uri,
        scope=scope,
        now=now,
    )
    session = session or store.create(now)
    session.add_pending(pending)
    store.save(session)
    response = RedirectResponse(url, status_code=302)
    set_session_cookie(response, session.id, settings)
    return response


@router.get("/callback")
def callback(
    settings: SettingsDep,
    store: StoreDep,
    http: HttpDep,
    now: ClockDep,
    session: SessionDep,
    jwks: JwksDep,
    state: Param = None,
    code: Param = None,
    error: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if not state:
        raise AppError(400, "The sign-in did not work", "The EHR's answer carried no state.")
    pending = session.take_pending(state, now, timedelta(seconds=settings.launch_timeout_seconds)) if session else None
    if session is not None and pending is not None:
        store.save(session)  # the state is spent before the code is exchanged: a replay finds nothing
    if pending is None:
        # Unknown, already used (a replay), expired, or started in another browser.
        audit.record("launch", "refused", reason="state-unknown-used-or-expired")
        raise AppError(
            400,
            "The sign-in did not work",
            "This sign-in link is not valid for this browser, has expired, or was already used.",
            hint="Launch the app again from the EHR.",
        )
    if error:
        audit.record("launch", "refused", reason="access-denied" if error == "access_denied" else "ehr-error")
        if error == "access_denied":
            raise AppError(
                403,
                "Access not granted",
                "You (or the EHR) declined to give this app access, so it cannot show the assessment.",
                hint="Launch it again and approve access if you want to use it.",
            )
        raise AppError(502, "The sign-in did not work", f"The EHR answered with the error '{error}'.")
    if not code:
        raise AppError(400, "The sign-in did not work", "The EHR's answer carried no authorization code.")
    assert session is not None  # pending came from it
    tokens = exchange_code(http, pending, code, client_credentials(settings), now=now, keys=jwks)
    fresh = store.rotate(session, now)  # new id once signed in: a planted session id is worthless
    fresh.tokens = tokens
    store.save(fresh)
    audit.record(
        "launch",
        "success",
        user=tokens.fhir_user,
        patient=tokens.patient,
        kind="ehr" if "launch" in pending.scope.split() else "standalone",
        scopes=len(tokens.grant.scopes),
    )
    response = RedirectResponse("/patient", status_code=303)
    set_session_cookie(response, fresh.id, settings)
    return response
