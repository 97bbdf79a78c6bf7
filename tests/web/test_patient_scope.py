"""Reads stay inside the launch patient's record, whatever the EHR grants (issue 12, item 2),
and the app answers only its own Host names, never redirecting to one a request made up (item 5)."""

from __future__ import annotations

from bmefhir.fhir.client import FhirClient
from bmefhir.web.patient_scope import belongs_to

from .client import launch, make_client, settings_for
from .harness import MockEhr

OWN = "seed-000-transient-osteoporosis-hip"
OTHER = "synth-septic-arthritis"


def _first(hapi_base: str, kind: str, patient: str) -> str:
    with FhirClient(hapi_base) as fhir:
        found = next(iter(fhir.search(kind, {"patient": patient, "_count": "1"})))
    return str(found["id"])


def test_source_view_refuses_another_patients_resource(ehr: MockEhr, patients: dict[str, str], hapi_base: str) -> None:
    mine, theirs = _first(hapi_base, "Observation", patients[OWN]), _first(hapi_base, "Observation", patients[OTHER])
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patients[OWN]).status_code == 303
        assert client.get(f"/source/Observation/{mine}").status_code == 200
        # The mock EHR enforces scopes but not the patient compartment: it would hand this over.
        refused = client.get(f"/source/Observation/{theirs}")
        assert refused.status_code == 404
        assert "not part of the launch patient" in refused.text
        assert theirs not in refused.text
        assert client.get(f"/source/Patient/{patients[OTHER]}").status_code == 404
        assert client.get(f"/source/Patient/{patients[OWN]}").status_code == 200


def test_an_ehr_returning_other_patients_data_is_filtered(ehr: MockEhr, patients: dict[str, str]) -> None:
    with make_client(settings_for(ehr.iss)) as client:
        assert launch(client, ehr.iss, patients[OWN]).status_code == 303
        clean = client.get("/patient")
        ehr.control(leakPatient=patients[OTHER])
        leaky = client.get("/patient")
    assert clean.status_code == leaky.status_code == 200
    assert "not about the launch patient" not in clean.text
    assert "not about the launch patient; they were ignored" in leaky.text
    # Nothing of the other patient (septic arthritis: red flags) reaches the analysis.
    assert ("Red flags" in leaky.text) == ("Red flags" in clean.text)
    assert leaky.text.count("/source/") == clean.text.count("/source/")


def test_belongs_to_reads_subject_and_patient_references() -> None:
    base = "https://ehr.example/fhir"
    assert belongs_to({"resourceType": "Patient", "id": "p1"}, "p1", base)
    assert not belongs_to({"resourceType": "Patient", "id": "p2"}, "p1", base)
    assert belongs_to({"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}, "p1", base)
    assert belongs_to({"resourceType": "Condition", "subject": {"reference": f"{base}/Patient/p1"}}, "p1", base)
    assert not belongs_to({"resourceType": "Condition", "subject": {"reference": "https://x/Patient/p1"}}, "p1", base)
    assert not belongs_to({"resourceType": "Condition", "subject": {"reference": "Patient/p10"}}, "p1", base)
    assert belongs_to({"resourceType": "AuditEvent", "patient": {"reference": "Patient/p1"}}, "p1", base)
    assert not belongs_to({"resourceType": "Observation"}, "p1", base)


def test_forged_host_is_refused_and_never_redirected_to(ehr: MockEhr) -> None:
    with make_client(settings_for(ehr.iss)) as client:
        forged = client.get("/patient/", headers={"Host": "evil.example"}, follow_redirects=False)
        assert forged.status_code == 400
        assert "location" not in forged.headers
        assert "content-security-policy" in forged.headers
        # Our own host: a trailing slash is not redirected either (the redirect would use Host).
        slash = client.get("/patient/", follow_redirects=False)
        assert slash.status_code == 404
        assert "location" not in slash.headers
        launch_forged = client.get(
            "/launch", params={"iss": ehr.iss, "launch": "x"}, headers={"Host": "evil.example"}, follow_redirects=False
        )
        assert launch_forged.status_code == 400


def test_trusted_hosts_setting_allows_listed_names(ehr: MockEhr) -> None:
    settings = settings_for(ehr.iss, trusted_hosts=["testserver", "*.bmefhir.example"])
    with make_client(settings) as client:
        assert client.get("/api/health", headers={"Host": "app.bmefhir.example"}).status_code == 200
        assert client.get("/api/health", headers={"Host": "bmefhir.example.evil"}).status_code == 400
