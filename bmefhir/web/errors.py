"""Errors the web app turns into plain pages (or JSON under /api and /cds-services), and the generic fallbacks.

Messages are written for the clinician and never hold tokens, codes or patient data;
unexpected exceptions get a generic page and are logged by type only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from bmefhir.smart.launch import LaunchError
from bmefhir.web import audit
from bmefhir.web.templating import render

__all__ = ["AppError", "install_error_handlers"]

log = logging.getLogger("bmefhir.web")

_GENERIC = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Not signed in", "Your session has ended. Launch the app again from the EHR."),
    403: ("Not allowed", "This action is not allowed."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "This method is not allowed here."),
    413: ("Too large", "The request is too large."),
    422: ("Invalid request", "The request is not valid."),
    500: ("Something went wrong", "The app hit an unexpected problem. Nothing was written. Try again or launch anew."),
    502: ("The EHR could not be reached", "The EHR did not answer as expected. Try again in a moment."),
}


class AppError(Exception):
    """A failure with a status, a heading and a message the user can act on."""

    def __init__(self, status: int, heading: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.heading = heading
        self.message = message
        self.hint = hint


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/cds-services")) or request.url.path == "/api"


def _respond(request: Request, status: int, heading: str, message: str, hint: str | None = None) -> Response:
    if _is_api(request):
        return JSONResponse({"error": heading, "detail": message}, status_code=status)
    return render(
        request, "message.html", {"kind": "error", "heading": heading, "message": message, "hint": hint}, status=status
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> Response:
        return _respond(request, exc.status, exc.heading, exc.message, exc.hint)

    @app.exception_handler(LaunchError)
    async def launch_error(request: Request, exc: LaunchError) -> Response:
        # The message is safe (LaunchError never holds a token); it names the check that failed.
        audit.record("launch", "refused" if exc.status < 500 else "failed", reason=str(exc))
        return _respond(
            request,
            exc.status,
            "The launch did not work",
            str(exc),
            "Launch the app again from the EHR. If it keeps failing, tell your EHR administrator.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        heading, message = _GENERIC.get(exc.status_code, ("Error", "The request failed."))
        if _is_api(request) and isinstance(exc.detail, str):
            message = exc.detail
        response = _respond(request, exc.status_code, heading, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            # Field locations and messages only; the offending input values are not echoed back.
            errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
            return JSONResponse({"error": "Invalid request", "detail": errors}, status_code=422)
        return _respond(request, 422, *_GENERIC[422])

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected %s handling %s %s", type(exc).__name__, request.method, request.url.path)
        return _respond(request, 500, *_GENERIC[500])
