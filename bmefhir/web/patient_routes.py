"""The patient page behind a SMART launch, the source-resource view, and sign & write back."""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, Request
from starlette.responses import Response

from bmefhir.fhir.errors import FhirConflict, FhirError, FhirNotFound
from bmefhir.fhir.urls import check_id
from bmefhir.pipeline import process_patient
from bmefhir.render.signature import Signature
from bmefhir.smart.launch import TokenSet
from bmefhir.smart.scopes import READ_TYPES
from bmefhir.smart.sessions import WebSession
from bmefhir.web import audit
from bmefhir.web.data import ehr_client, fetch_session_patient, fresh_tokens, read_launch_patient, signed_in
from bmefhir.web.deps import ClockDep, HttpDep, JwksDep, SessionDep, SettingsDep, StoreDep
from bmefhir.web.errors import AppError
from bmefhir.web.patient_scope import belongs_to
from bmefhir.web.settings import WebSettings
from bmefhir.web.templating import message, render
from bmefhir.web.view import page_view
from bmefhir.writeback import patient_lock, write_back

__all__ = ["router", "sign_blocked", "source_body"]

router = APIRouter(include_in_schema=False)
MAX_FORM_BYTES = 16_384
MAX_COMMENT = 2000


def sign_blocked(session: WebSession) -> str | None:
    """Why signing is not offered, in words for the clinician; None when it is."""
    tokens = signed_in(session)
    if not tokens.grant.can_write_back:
        missing = tokens.grant.cannot_write
        return (
            "Write-back is disabled: the EHR did not grant this app permission to write "
            f"{', '.join(missing)}. You can read the assessment, but not sign it here."
        )
    if tokens.fhir_user is None:
        return (
            "Signing is disabled: the EHR did not say who you are (no fhirUser), "
            "so the report could not name its author."
        )
    return None


@router.get("/patient")
def patient_page(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    http: HttpDep,
    now: ClockDep,
    session: SessionDep,
    jwks: JwksDep,
) -> Response:
    tokens = signed_in(session)
    assert session is not None
    _raw, result = fetch_session_patient(session, store, settings, http, now, jwks)
    tokens = session.tokens or tokens
    notices = (
        []
        if not tokens.grant.unreadable
        else [f"The EHR did not grant read access to {', '.join(tokens.grant.unreadable)}; that data is missing below."]
    )
    return render(
        request,
        "patient.html",
        {
            "v": page_view(result, "/source"),
            "demo": False,
            "notices": notices,
            "sign_blocked": sign_blocked(session),
            "csrf": session.csrf,
            "signer": tokens.user_display or tokens.fhir_user,
        },
    )


@router.get("/source/{resource_type}/{resource_id}")
def source(
    request: Request,
    resource_type: str,
    resource_id: str,
    settings: SettingsDep,
    store: StoreDep,
    http: HttpDep,
    now: ClockDep,
    session: SessionDep,
    jwks: JwksDep,
) -> Response:
    signed_in(session)
    assert session is not None
    if resource_type not in READ_TYPES:
        raise AppError(404, "Not found", "Only the resources the analysis reads can be shown here.")
    _check(resource_id)
    tokens = fresh_tokens(session, store, settings, http, now, jwks)
    try:
        with ehr_client(tokens) as client:
            resource = client.read(resource_type, resource_id)
    except FhirNotFound:
        raise AppError(404, "Not found", "The EHR has no such resource.") from None
    except FhirError as exc:
        raise AppError(502, "The EHR could not be read", str(exc)) from None
    if not belongs_to(resource, tokens.patient or "", tokens.iss):
        # Whatever the EHR granted: this session is about the launch patient only.
        audit.record(
            "read",
            "refused",
            user=tokens.fhir_user,
            patient=tokens.patient,
            resource=resource_type,
            reason="other-patient",
        )
        raise AppError(404, "Not found", "This resource is not part of the launch patient's record.")
    audit.record("read", "success", user=tokens.fhir_user, patient=tokens.patient, resource=resource_type)
    ref = f"{resource_type}/{resource_id}"
    return render(request, "source.html", {"ref": ref, "body": source_body(resource), "back": "/patient"})


def _audit_sign(
    tokens: TokenSet,
    settings: WebSettings,
    now: datetime,
    outcome: audit.Outcome,
    written: tuple[str, ...],
    action: Literal["C", "U"],
    reason: str | None,
    **detail: str | int,
) -> str | None:
    """The sign attempt as a log event and as a FHIR AuditEvent on the EHR (its reference, if written)."""
    audit.record("sign", outcome, user=tokens.fhir_user, patient=tokens.patient, written=len(written), **detail)
    with ehr_client(tokens) as client:
        return audit.record_write(
            client,
            tokens,
            app_url=settings.public_url,
            written=written,
            action=action,
            outcome=outcome,
            now=now,
            reason=reason,
        )


def source_body(resource: dict[str, Any]) -> str:
    """The resource as indented JSON without its narrative (EHR XHTML is never rendered); the
    template escapes it."""
    shown = {k: v for k, v in resource.items() if k not in ("text", "contained")}
    return json.dumps(shown, indent=2, ensure_ascii=False)[:100_000]


def _check(resource_id: str) -> None:
    try:
        check_id(resource_id)
    except ValueError:
        raise AppError(404, "Not found", "There is nothing at this address.") from None


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise AppError(413, "Too large", "The form is too large.")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise AppError(400, "Bad request", "The form could not be read.")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
    return {k: v[0] for k, v in parsed.items() if v}


def _same_origin(request: Request, public_url: str) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # "null" comes from sandboxed or privacy-redirected contexts: refuse
    return httpx.URL(origin).netloc == httpx.URL(public_url).netloc


@router.post("/sign")
async def sign(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    http: HttpDep,
    now: ClockDep,
    session: SessionDep,
    jwks: JwksDep,
) -> Response:
    form = await _form(request)
    tokens = signed_in(session)
    assert session is not None
    if not hmac.compare_digest(form.get("csrf", ""), session.csrf) or not _same_origin(request, settings.public_url):
        audit.record("sign", "refused", user=tokens.fhir_user, patient=tokens.patient, reason="csrf-or-origin")
        raise AppError(
            403, "Not signed", "This form has expired or did not come from this app. Reload the page and sign again."
        )
    blocked = sign_blocked(session)
    if blocked:
        audit.record("sign", "refused", user=tokens.fhir_user, patient=tokens.patient, reason="not-permitted")
        raise AppError(403, "Not signed", blocked)
    tokens = fresh_tokens(session, store, settings, http, now, jwks)
    comment = form.get("comment", "").strip()[:MAX_COMMENT] or None
    signature = Signature(tokens.fhir_user or "", tokens.user_display, comment)
    try:
        with ehr_client(tokens) as client, patient_lock(client.base, tokens.patient or ""):
            raw = read_launch_patient(client, tokens)
            findings = settings.write_findings and tokens.grant.can_write("Observation")
            result = process_patient(
                raw.resources,
                now,
                patient_id=raw.patient_id,
                source_issues=raw.issues,
                signature=signature,
                write_findings=findings,
            )
            outcome = write_back(client, raw, result)
    except FhirConflict:
        _audit_sign(tokens, settings, now, "failed", (), "U", "version conflict: nothing written")
        raise AppError(
            409,
            "Not signed: the record changed",
            "Someone changed this patient's report in the EHR after it was read. Nothing was written. "
            "Reload the page to see the current data, then sign again.",
        ) from None
    except FhirError as exc:
        _audit_sign(tokens, settings, now, "failed", (), "C", f"the EHR refused the write ({type(exc).__name__})")
        raise AppError(502, "Not signed: the EHR refused the report", f"Nothing was written. {exc}") from None
    report = outcome.resource("DiagnosticReport")
    what = {"created": "written", "updated": "updated", "unchanged": "already up to date"}[outcome.status.value]
    written = tuple(f"{w.resource_type}/{w.id}" for w in outcome.resources if w.id)
    action: Literal["C", "U"] = "C" if outcome.status.value == "created" else "U"
    audit_ref = _audit_sign(tokens, settings, now, "success", written, action, None, status=outcome.status.value)
    return message(
        request,
        "Signed and saved",
        f"The report was {what} in the EHR as final (DiagnosticReport/{report.id}, version "
        f"{report.version_id}), with its ClinicalImpression, RiskAssessment and Provenance naming you "
        "as author." + (f" The write is recorded as {audit_ref}." if audit_ref else ""),
        kind="success",
        back="/patient",
    )
