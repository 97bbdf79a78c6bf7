"""Jinja2 templates (autoescaped) and the one render helper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

__all__ = ["render", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status)


def message(
    request: Request,
    heading: str,
    text: str,
    *,
    kind: str = "info",
    status: int = 200,
    back: str | None = None,
    hint: str | None = None,
) -> Response:
    return render(
        request,
        "message.html",
        {"kind": kind, "heading": heading, "message": text, "back": back, "hint": hint},
        status=status,
    )
