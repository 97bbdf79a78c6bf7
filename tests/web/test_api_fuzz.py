"""Fuzz the JSON API from its OpenAPI schema: whatever comes in, no 500."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import schemathesis
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import not_a_server_error

from bmefhir.web import create_app, get_settings

from .client import settings_for

_settings = settings_for("https://ehr.example/fhir", demo=True)
_app = create_app(_settings)
_app.dependency_overrides[get_settings] = lambda: _settings
schema = schemathesis.openapi.from_asgi("/api/openapi.json", _app)


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.filterwarnings("ignore")
def test_api_never_answers_500(case: schemathesis.Case) -> None:
    response = case.call()
    case.validate_response(response, checks=(not_a_server_error,))
