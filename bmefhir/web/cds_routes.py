"""CDS Hooks service (CDS Hooks 2.0): ``patient-view`` cards with the BME differential.

    GET  /cds-services                            discovery: the service, its prefetch templates
    POST /cds-services/bmefhir-bme-differential   a hook call → {"cards": [...]}

(and ``POST …/feedback``, what clinicians did with the cards: ``cds_feedback``).

Data comes from the request's prefetch when it is complete; otherwise from the
request's ``fhirServer`` with its ``fhirAuthorization`` token, if that server is on
the app's allow-list (``allowed_issuers``); otherwise the answer is 412. The same
pipeline as every other entry point analyses it; nothing is written back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from bmefhir.fhir.binaries import binary_refs, fetch_binaries
from bmefhir.fhir.errors import FhirAuthError, FhirError, FhirNotFound
from bmefhir.fhir.patient_fetch import fetch_patient
from bmefhir.fhir.prefetch import prefetch_templates, read_prefetch
from bmefhir.fhir.raw import RawPatient
from bmefhir.fhir.urls import check_id
from bmefhir.pipeline import analyse_patient
from bmefhir.render.cards import cds_cards
from bmefhir.safetext import bounded
from bmefhir.web import audit
from bmefhir.web.cds_auth import CdsAuthError, CdsClientVerifier
from bmefhir.web.data import fhir_client
from bmefhir.web.deps import ClockDep, HttpDep, SettingsDep
from bmefhir.web.errors import AppError
from bmefhir.web.settings import WebSettings

__all__ = ["OVERRIDE_REASONS", "OVERRIDE_SYSTEM", "SERVICE_ID", "authenticate", "router", "service_url"]

log = logging.getLogger("bmefhir.web")


class _OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson (a prefetch may be a mebibyte: about twice as
    fast as the standard library), as every other source parses FHIR JSON (``jsonlimits.loads``).
    What orjson refuses goes to the standard library, which accepts what JSON allows and orjson
    does not (a lone surrogate escape: the prefetch reader then skips that resource) and raises
    FastAPI's usual 422 for the rest."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._json = json.loads(body)
        return self._json


class _OrjsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return route


router = APIRouter(prefix="/cds-services", tags=["cds-hooks"], route_class=_OrjsonRoute)

SERVICE_ID = "bmefhir-bme-differential"
OVERRIDE_SYSTEM = "http://bmefhir.org/fhir/CodeSystem/cds-override-reason"
# Why a clinician may dismiss a card (CDS Hooks 2.0 Card.overrideReasons): offered on every card,
# all of which are decision support the clinician is free to set aside.
OVERRIDE_REASONS: tuple[dict[str, str], ...] = (
    {"system": OVERRIDE_SYSTEM, "code": "already-assessed", "display": "Already assessed or worked up"},
    {"system": OVERRIDE_SYSTEM, "code": "not-applicable", "display": "Does not apply to this patient"},
    {"system": OVERRIDE_SYSTEM, "code": "disagree", "display": "Clinical judgement differs"},
)


class _FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"
    scope: str = ""


# Field names are CDS Hooks' own (camelCase) so the models read the JSON as it is.
class _Context(BaseModel):
    model_config = ConfigDict(extra="ignore")
    patientId: str = Field(min_length=1, max_length=64)
    userId: str | None = None


class HookRequest(BaseModel):
    """The part of a CDS Hooks request this service reads."""

    model_config = ConfigDict(extra="ignore")
    hook: str
    hookInstance: str = Field(min_length=1, max_length=200)
    fhirServer: str | None = None
    fhirAuthorization: _FhirAuthorization | None = None
    context: _Context
    prefetch: dict[str, Any] | None = None


class HookResponse(BaseModel):
    cards: list[dict[str, Any]]


class ServiceOut(BaseModel):
    hook: Literal["patient-view"]
    id: str
    title: str
    description: str
    prefetch: dict[str, str]
    usageRequirements: str


class DiscoveryOut(BaseModel):
    services: list[ServiceOut]


@router.get("", response_model=DiscoveryOut)
def discovery() -> DiscoveryOut:
    return DiscoveryOut(
        services=[
            ServiceOut(
                hook="patient-view",
                id=SERVICE_ID,
                title="Bone marrow edema differential (bmefhir)",
                description=(
                    "When the patient has bone marrow edema on MRI: the ranked differential (transient osteoporosis, "
                    "osteonecrosis, insufficiency fracture, infection, tumour, ...) with red flags, each criterion "
                    "cited. Decision support; no card for patients without BME imaging."
                ),
                prefetch=prefetch_templates(),
                usageRequirements=(
                    "Prefetch, or fhirServer with fhirAuthorization granting read of the prefetch resource types."
                ),
            )
        ]
    )


@router.post(f"/{SERVICE_ID}", response_model=HookResponse, response_model_exclude_none=True)
def patient_view(
    body: HookRequest,
    request: Request,
    settings: SettingsDep,
    http: HttpDep,
    now: ClockDep,
    authorization: Annotated[str | None, Header()] = None,
) -> HookResponse:
    client_iss = authenticate(request, settings, http, authorization, service_url(settings))
    if body.hook != "patient-view":
        raise AppError(400, "Unsupported hook", f"this service answers patient-view, not {bounded(body.hook, 40)!r}")
    patient_id = body.context.patientId
    try:
        check_id(patient_id)
    except ValueError:
        raise AppError(400, "Invalid patient id", "context.patientId is not a FHIR id") from None
    prefetched = read_prefetch(body.prefetch, patient_id)
    if prefetched.complete:
        raw = _with_binaries(body, settings, prefetched.raw)
    else:
        raw = _fetch(body, settings, prefetched.missing + prefetched.incomplete)
    # Cards only: nothing is written back, so the output resources are not rendered.
    analysis = analyse_patient(raw.resources, now, patient_id=raw.patient_id, source_issues=raw.issues)
    app_url = settings.public_url.rstrip("/") + "/launch" if settings.allowed_issuers else None
    cards = [
        {**card, "overrideReasons": [dict(r) for r in OVERRIDE_REASONS]}
        for card in cds_cards(analysis, app_url=app_url)
    ]
    audit.record(
        "cds",
        "success",
        user=body.context.userId or client_iss,
        patient=patient_id,
        client=client_iss or "dev",
        hook=body.hook,
        cards=len(cards),
        prefetch="complete" if prefetched.complete else "fetched",
    )
    return HookResponse(cards=cards)


def service_url(settings: WebSettings) -> str:
    """This service's URL: the ``aud`` a CDS client's JWT must name."""
    return settings.public_url.rstrip("/") + f"/cds-services/{SERVICE_ID}"


def authenticate(
    request: Request, settings: WebSettings, http: HttpDep, authorization: str | None, *audiences: str
) -> str | None:
    """The calling CDS client's issuer, its JWT's ``aud`` one of ``audiences`` (None in development
    without registered clients); else 401 with the failed check."""
    if not settings.cds_clients:
        if settings.dev:
            return None  # local development: no JWT needed (documented; never in production)
        audit.record("cds", "refused", reason="no CDS clients registered")
        raise AppError(401, "Not allowed", "no CDS clients are registered with this service (cds_clients)")
    verifier: CdsClientVerifier | None = getattr(request.app.state, "cds_verifier", None)
    if verifier is None:
        verifier = request.app.state.cds_verifier = CdsClientVerifier(settings.cds_clients, http)
    try:
        claims = verifier.verify(authorization, audiences)
    except CdsAuthError as exc:
        audit.record("cds", "refused", reason=str(exc))
        raise AppError(401, "Not allowed", str(exc)) from None
    return str(claims["iss"])


def _with_binaries(body: HookRequest, settings: WebSettings, raw: RawPatient) -> RawPatient:
    """A prefetch cannot carry the Binaries that report attachments point to (report text held as
    ``url``): read them from the hook's FHIR server when it is allowed and authorised; otherwise the
    record says the text was not read."""
    present = {f"Binary/{r.get('id')}" for r in raw.resources if r.get("resourceType") == "Binary"}
    if not any(ref not in present for r in raw.resources for ref in binary_refs(r)):
        return raw
    server = (body.fhirServer or "").rstrip("/")
    if not server or body.fhirAuthorization is None or not settings.allows_issuer(server):
        return raw
    try:
        with fhir_client(server, body.fhirAuthorization.access_token) as client:
            binaries, issues = fetch_binaries(client, raw.resources)
    except FhirError as exc:
        log.warning("CDS Binary fetch failed: %s", type(exc).__name__)
        return raw
    return replace(raw, resources=(*raw.resources, *binaries), issues=(*raw.issues, *issues))


def _fetch(body: HookRequest, settings: WebSettings, gaps: tuple[str, ...]) -> RawPatient:
    """Read the patient from the hook's FHIR server when the prefetch did not bring it all."""
    server = (body.fhirServer or "").rstrip("/")
    if not server or body.fhirAuthorization is None:
        raise AppError(
            412, "Data needed", f"prefetch incomplete ({', '.join(gaps)}) and no fhirServer with fhirAuthorization"
        )
    if not settings.allows_issuer(server):
        raise AppError(412, "Data needed", "prefetch incomplete and fhirServer is not an allowed FHIR server")
    try:
        with fhir_client(server, body.fhirAuthorization.access_token) as client:
            return fetch_patient(client, body.context.patientId)
    except FhirNotFound:
        raise AppError(412, "Patient not found", "the FHIR server has no such patient") from None
    except FhirAuthError:
        raise AppError(412, "Access refused", "the FHIR server refused the hook's fhirAuthorization") from None
    except FhirError as exc:
        log.warning("CDS fetch failed: %s", type(exc).__name__)
        raise AppError(502, "The FHIR server could not be read", str(exc)) from None
