"""The JSON API behind the page (``/api``): documented by the OpenAPI schema at ``/api/openapi.json``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path

from bmefhir.differential.knowledge_base import load_knowledge
from bmefhir.fhir.raw import screened_inputs
from bmefhir.pipeline import PatientResult, process_patient
from bmefhir.web.data import demo_names, demo_patient, fetch_session_patient, signed_in
from bmefhir.web.deps import ClockDep, HttpDep, JwksDep, SessionDep, SettingsDep, StoreDep
from bmefhir.web.errors import AppError
from bmefhir.web.schemas import AnalysisOut, AnalyzeIn, DemoPatientOut, HealthOut

__all__ = ["router"]

log = logging.getLogger("bmefhir.web")
router = APIRouter(prefix="/api", tags=["api"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no signed-in session"},
    404: {"description": "not found"},
    502: {"description": "the EHR could not be read"},
}


def _out(result: PatientResult) -> AnalysisOut:
    return AnalysisOut.model_validate(result.summary)


@router.get("/health", response_model=HealthOut)
def health() -> HealthOut:
    return HealthOut(status="ok", knowledge_version=load_knowledge().version)


@router.get("/patient", response_model=AnalysisOut, responses=_ERRORS)
def session_patient(
    settings: SettingsDep, store: StoreDep, http: HttpDep, now: ClockDep, session: SessionDep, jwks: JwksDep
) -> AnalysisOut:
    """The launch patient's analysis (needs the session cookie from a SMART launch)."""
    signed_in(session)
    assert session is not None
    _raw, result = fetch_session_patient(session, store, settings, http, now, jwks)
    return _out(result)


@router.get("/demo/patients", response_model=list[DemoPatientOut], responses={404: _ERRORS[404]})
def demo_list(settings: SettingsDep) -> list[DemoPatientOut]:
    if not settings.demo:
        raise AppError(404, "Not found", "demo mode is off")
    return [DemoPatientOut(name=n) for n in demo_names()]


@router.get("/demo/patients/{name}", response_model=AnalysisOut, responses={404: _ERRORS[404]})
def demo_analysis(name: Annotated[str, Path(max_length=100)], settings: SettingsDep, now: ClockDep) -> AnalysisOut:
    if not settings.demo:
        raise AppError(404, "Not found", "demo mode is off")
    _raw, result = demo_patient(name, now)
    return _out(result)


@router.post("/analyze", response_model=AnalysisOut, responses={422: {"description": "not analysable"}})
def analyze(body: AnalyzeIn, now: ClockDep) -> AnalysisOut:
    """Analyse posted resources; nothing is stored or written. Bad resources become data-quality issues."""
    resources, refused = screened_inputs(body.resources, "resources")
    result = process_patient(resources, body.when(now), source_issues=refused)
    return _out(result)
