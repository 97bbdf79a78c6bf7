"""Demo mode: the example patients, no EHR (``bmefhir serve --demo``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from bmefhir.smart.scopes import READ_TYPES
from bmefhir.web.data import demo_names, demo_patient
from bmefhir.web.deps import ClockDep, SettingsDep
from bmefhir.web.errors import AppError
from bmefhir.web.patient_routes import source_body
from bmefhir.web.templating import message, render
from bmefhir.web.view import page_view

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

DEMO_NOTICE = "Demo mode: synthetic example data; signing and write-back are not available."


def _require_demo(demo: bool) -> None:
    if not demo:
        raise AppError(404, "Not found", "Demo mode is off. Start the app with `bmefhir serve --demo`.")


@router.get("/")
def home(request: Request, settings: SettingsDep) -> Response:
    if settings.demo:
        return RedirectResponse("/demo", status_code=303)
    return message(
        request, "bmefhir SMART app", "Open this app from a patient's chart in your EHR (SMART on FHIR launch)."
    )


@router.get("/demo")
def demo_index(request: Request, settings: SettingsDep) -> Response:
    _require_demo(settings.demo)
    return render(request, "demo.html", {"cases": demo_names()})


@router.get("/demo/{name}")
def demo_page(request: Request, name: str, settings: SettingsDep, now: ClockDep) -> Response:
    _require_demo(settings.demo)
    _raw, result = demo_patient(name, now)
    return render(
        request,
        "patient.html",
        {
            "v": page_view(result, f"/demo/{name}/source"),
            "demo": True,
            "notices": [DEMO_NOTICE],
            "sign_blocked": DEMO_NOTICE,
            "csrf": "",
            "signer": None,
        },
    )


@router.get("/demo/{name}/source/{resource_type}/{resource_id}")
def demo_source(
    request: Request, name: str, resource_type: str, resource_id: str, settings: SettingsDep, now: ClockDep
) -> Response:
    _require_demo(settings.demo)
    raw, _result = demo_patient(name, now)
    for resource in raw.resources:
        if resource.get("resourceType") == resource_type in READ_TYPES and resource.get("id") == resource_id:
            ref = f"{resource_type}/{resource_id}"
            return render(request, "source.html", {"ref": ref, "body": source_body(resource), "back": f"/demo/{name}"})
    raise AppError(404, "Not found", "The example has no such resource.")
