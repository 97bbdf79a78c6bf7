"""bmefhir's profiles loaded into the server, and everything bmefhir writes validated by HAPI's $validate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bmefhir.conformance import load_conformance_resources
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.outcome import parse_outcome
from bmefhir.render import ids
from bmefhir.sandbox.loading import upload_conformance
from bmefhir.testing.examples import list_examples, load_bundle
from bmefhir.writeback import fetch_analyse_write

from .conftest import VALIDATION_WARNINGS
from .target import TEST_TAG, Target

pytestmark = pytest.mark.slow  # HAPI $validate of every output: 30-50 s

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CASES = list_examples()
PROFILED = {
    "DiagnosticReport": "diagnostic-report",
    "ClinicalImpression": "clinical-impression",
    "RiskAssessment": "risk-assessment",
    "Provenance": "provenance",
}
FINDING_SYSTEM = "http://bmefhir.org/fhir/CodeSystem/imaging-finding"


@pytest.fixture(scope="module")
def profiles(target: Target) -> Target:
    with target.client() as client:
        uploaded = list(upload_conformance(client))
    assert len(uploaded) == len(load_conformance_resources())
    if target.external:
        target.created += uploaded
    return target


def _validate(http: httpx.Client, resource: dict[str, Any], profile: str | None, where: str) -> list[str]:
    """Errors of ``$validate`` (profile as URL parameter: a Parameters body is buggy in HAPI 8.6.5)."""
    params = {"profile": profile} if profile else None
    response = http.post(f"{resource['resourceType']}/$validate", params=params, json=resource)
    issues = parse_outcome(response.json())
    assert issues, f"{where}: no OperationOutcome (HTTP {response.status_code})"
    against = profile.rsplit("/", 1)[-1] if profile else "base R4"
    for issue in issues:
        if issue.severity == "warning":
            VALIDATION_WARNINGS.append(f"{resource['resourceType']} vs {against}: {issue}")
    return [f"{where} vs {against}: {i}" for i in issues if i.severity in ("error", "fatal")]


def test_profiles_are_stored_by_id(profiles: Target, client: FhirClient) -> None:
    for resource in load_conformance_resources():
        stored = client.read(resource["resourceType"], resource["id"])
        assert stored.get("url") == resource.get("url")


def test_everything_bmefhir_writes_validates_against_its_profile_and_base_r4(
    profiles: Target, loaded: Target, client: FhirClient
) -> None:
    errors: list[str] = []
    with profiles.http() as http:
        for case in CASES:
            pid = loaded.prefix + case.expectation.patient
            _, outcome = fetch_analyse_write(client, pid, NOW, extra_tags=(TEST_TAG,))
            for written in outcome.resources:
                assert written.id is not None
                resource = client.read(written.resource_type, written.id)
                where = f"{case.name} {written.resource_type}"
                errors += _validate(http, resource, ids.profile_url(PROFILED[written.resource_type]), where)
                errors += _validate(http, resource, None, where)
            device = next(
                iter(client.search("Device", {"identifier": f"{ids.DEVICE_SYSTEM}|{ids.device_identifier_value()}"}))
            )
            errors += _validate(http, device, None, f"{case.name} Device")
    assert not errors, "\n".join(errors)


def test_example_imaging_findings_validate_against_the_imaging_finding_profile(profiles: Target) -> None:
    errors: list[str] = []
    checked = 0
    with profiles.http() as http:
        for case in CASES:
            for entry in load_bundle(case.name)["entry"]:
                resource = entry["resource"]
                codings = resource.get("code", {}).get("coding", [])
                if resource["resourceType"] == "Observation" and any(
                    c.get("system") == FINDING_SYSTEM for c in codings
                ):
                    checked += 1
                    errors += _validate(
                        http, resource, ids.profile_url("imaging-finding"), f"{case.name} {resource['id']}"
                    )
    assert checked >= len(CASES)
    assert not errors, "\n".join(errors)


def test_published_knowledge_and_naming_systems_validate_on_the_server(profiles: Target) -> None:
    """The PlanDefinition (the knowledge base ClinicalImpression.protocol cites) and the NamingSystems."""
    errors: list[str] = []
    checked = 0
    with profiles.http() as http:
        for resource in load_conformance_resources():
            if resource["resourceType"] in ("PlanDefinition", "NamingSystem", "CapabilityStatement"):
                checked += 1
                errors += _validate(http, resource, None, f"profiles/{resource['resourceType']}-{resource['id']}")
    assert checked >= 5
    assert not errors, "\n".join(errors)
