"""The default (folded) read when the server does not play along: fault injection only (respx).

A server that refuses the folded Patient search, ignores its ``_revinclude``s, says there is more
than the page, warns, or may have cut a folded type short: the folded types are read by their own
search, nothing is lost, and a server that refused or ignored the parameter is read by the eight
searches from then on. That the folded read equals the eight searches on a real server, and HAPI's
silent cut at 1,000 included resources, are tested against HAPI in
``tests/integration/test_folded_fetch.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from fhir_helpers import BASE, batch_response, entry, fhir_json, outcome, searchset

from bmefhir.fhir import FhirClient
from bmefhir.fhir.existing import OUTPUT_TYPES
from bmefhir.fhir.patient_fetch import (
    FOLD_LIMIT,
    FOLDED_TYPES,
    PATIENT_SEARCHES,
    fetch_patient,
    folded_request,
    forget_capabilities,
    patient_requests,
)
from bmefhir.render import ids

PATIENT = {"resourceType": "Patient", "id": "p1"}
FOLDED = [r.url for r in patient_requests("p1", 1000)]
PLAIN = [r.url for r in patient_requests("p1", 1000, folded=False)]
FOLDED_SEARCHES = [f"{kind}?patient=p1&_count=1000" for kind in FOLDED_TYPES]
OTHERS = [kind for kind in PATIENT_SEARCHES if kind not in FOLDED_TYPES]


@pytest.fixture(autouse=True)
def _fresh_capabilities() -> Iterator[None]:
    forget_capabilities()
    yield
    forget_capabilities()


def res(kind: str, rid: str, subject: str = "Patient/p1") -> dict[str, Any]:
    return {"resourceType": kind, "id": rid, "subject": {"reference": subject}}


def head(
    *included: dict[str, Any], self_url: str | None = None, links: tuple[dict[str, str], ...] = ()
) -> dict[str, Any]:
    """The Patient search's page: the Patient, what the server included, a self link as HAPI's
    (naming the folded ``_revinclude``s, unless ``self_url`` says otherwise; "" for none)."""
    page = searchset([PATIENT])
    page["entry"] += [{"resource": r, "search": {"mode": "include"}} for r in included]
    url = f"{BASE}/{folded_request('p1').url}" if self_url is None else self_url
    page["link"] = ([{"relation": "self", "url": url}] if url else []) + list(links)
    return page


def folded_answer(page: dict[str, Any], **found: list[dict[str, Any]]) -> httpx.Response:
    """The folded batch answered: ``page`` for the Patient search, ``found[kind]`` for the other searches."""
    return batch_response(entry(page), *(entry(searchset(found.get(kind, []))) for kind in OTHERS))


def searches_of(*found: dict[str, Any], kinds: tuple[str, ...] = FOLDED_TYPES) -> list[dict[str, Any]]:
    return [entry(searchset([r for r in found if r["resourceType"] == kind])) for kind in kinds]


def sent_urls(route: respx.Route, call: int) -> list[str]:
    return [e["request"]["url"] for e in json.loads(route.calls[call].request.content)["entry"]]


def refs(resources: tuple[dict[str, Any], ...]) -> list[str]:
    return sorted(f"{r['resourceType']}/{r['id']}" for r in resources)


def test_folded_types_served_whole_are_read_in_one_request_of_six_operations(
    client: FhirClient, router: respx.MockRouter
) -> None:
    route = router.post("/").mock(
        return_value=folded_answer(
            head(res("ImagingStudy", "i1"), res("Procedure", "pr1")), Observation=[res("Observation", "o1")]
        )
    )
    raw = fetch_patient(client, "p1", count=1000)
    assert sent_urls(route, 0) == FOLDED
    assert len(FOLDED) == 6
    assert raw.requests == 1
    assert refs(raw.resources) == ["ImagingStudy/i1", "Observation/o1", "Patient/p1", "Procedure/pr1"]
    assert raw.issues == ()


def test_a_refused_folded_search_reads_the_patient_and_the_folded_types_by_search_and_is_remembered(
    client: FhirClient, router: respx.MockRouter
) -> None:
    refused = entry(
        None, "400 Bad Request", outcome("_revinclude Procedure:patient not supported", code="not-supported")
    )
    route = router.post("/").mock(
        side_effect=[
            batch_response(
                refused, *(entry(searchset([res("Condition", "c1")] if k == "Condition" else [])) for k in OTHERS)
            ),
            batch_response(entry(PATIENT), *searches_of(res("ImagingStudy", "i1"), res("Procedure", "pr1"))),
            batch_response(entry(searchset([PATIENT])), *(entry(searchset([])) for _ in PATIENT_SEARCHES)),
        ]
    )
    raw = fetch_patient(client, "p1", count=1000)
    assert sent_urls(route, 1) == ["Patient/p1", *FOLDED_SEARCHES]
    assert refs(raw.resources) == ["Condition/c1", "ImagingStudy/i1", "Patient/p1", "Procedure/pr1"]
    assert raw.existing is None  # unknown: write-back looks the outputs up again
    assert raw.issues == ()
    assert raw.requests == 2
    fetch_patient(client, "p1", count=1000)
    assert sent_urls(route, 2) == PLAIN  # remembered: the eight searches straight away


def test_a_server_error_on_the_folded_search_is_not_remembered(client: FhirClient, router: respx.MockRouter) -> None:
    failed = entry(None, "500 Internal Server Error", outcome("LIMIT must not be negative", code="exception"))
    route = router.post("/").mock(
        side_effect=[
            batch_response(failed, *(entry(searchset([])) for _ in OTHERS)),
            batch_response(entry(PATIENT), *searches_of(res("Procedure", "pr1"))),
            folded_answer(head(res("Procedure", "pr1"))),
        ]
    )
    assert refs(fetch_patient(client, "p1", count=1000).resources) == ["Patient/p1", "Procedure/pr1"]
    assert refs(fetch_patient(client, "p1", count=1000).resources) == ["Patient/p1", "Procedure/pr1"]
    assert sent_urls(route, 2) == FOLDED  # folded again for the next patient


@pytest.mark.parametrize(
    ("self_url", "searched"),
    [
        ("", FOLDED_TYPES),  # no self link: what the server did is unknown
        (  # every folded _revinclude ignored
            f"{BASE}/Patient?_id=p1&_revinclude=Provenance%3Aentity&_include%3Aiterate=Provenance%3Atarget",
            FOLDED_TYPES,
        ),
        (  # one ignored: the two it names are trusted
            f"{BASE}/Patient?_id=p1&_revinclude=ImagingStudy%3Apatient&_revinclude=Procedure%3Apatient",
            ("MedicationStatement",),
        ),
    ],
)
def test_a_server_that_does_not_confirm_the_revincludes_is_read_by_search_from_then_on(
    client: FhirClient, router: respx.MockRouter, self_url: str, searched: tuple[str, ...]
) -> None:
    # The server ignored the parameter: the folded types it did not name did not come back.
    route = router.post("/").mock(
        side_effect=[
            folded_answer(head(self_url=self_url)),
            batch_response(*searches_of(res("ImagingStudy", "i1"), res("MedicationStatement", "m1"), kinds=searched)),
            batch_response(entry(searchset([PATIENT])), *(entry(searchset([])) for _ in PATIENT_SEARCHES)),
        ]
    )
    raw = fetch_patient(client, "p1", count=1000)
    assert sent_urls(route, 1) == [f"{kind}?patient=p1&_count=1000" for kind in searched]
    assert {"MedicationStatement/m1", "Patient/p1"} <= set(refs(raw.resources))
    fetch_patient(client, "p1", count=1000)
    assert sent_urls(route, 2) == PLAIN


@pytest.mark.parametrize(
    "signal",
    [
        {"links": [{"relation": "next", "url": f"{BASE}?_getpages=x"}]},  # includes on further pages
        {"links": [{"relation": "related", "url": f"{BASE}/Patient?_id=p1&ct=abc"}]},  # the rest of the includes
        {"warning": True},  # an OperationOutcome in the page
        {"entry_link": True},  # a link on the match to all of its includes
    ],
)
def test_a_page_that_says_there_is_more_reads_the_folded_types_by_search_for_this_patient(
    client: FhirClient, router: respx.MockRouter, signal: dict[str, Any]
) -> None:
    page = head(res("Procedure", "pr1"), links=tuple(signal.get("links", ())))
    if signal.get("warning"):
        oo = outcome("included resources truncated", code="too-costly")
        oo["issue"][0]["severity"] = "warning"
        page["entry"].append({"resource": oo, "search": {"mode": "outcome"}})
    if signal.get("entry_link"):
        page["entry"][0]["link"] = [{"relation": "related", "url": f"{BASE}/Patient?_id=p1&_revinclude=*"}]
    more = router.get("/", params={"_getpages": "x"}).mock(return_value=fhir_json(searchset([])))
    route = router.post("/").mock(
        side_effect=[
            folded_answer(page),
            batch_response(*searches_of(res("Procedure", "pr1"), res("Procedure", "pr2"))),
            folded_answer(head()),
        ]
    )
    raw = fetch_patient(client, "p1", count=1000)
    assert sent_urls(route, 1) == FOLDED_SEARCHES
    assert refs(raw.resources) == ["Patient/p1", "Procedure/pr1", "Procedure/pr2"]
    assert more.call_count == 0  # the searches read the folded types; the Patient page is not paged
    fetch_patient(client, "p1", count=1000)
    assert sent_urls(route, 2) == FOLDED  # a per-patient signal: the server still folds


def test_a_folded_type_at_the_limit_alone_is_searched_and_the_others_are_kept(
    client: FhirClient, router: respx.MockRouter
) -> None:
    procedures = [res("Procedure", f"pr{i}") for i in range(FOLD_LIMIT)]
    route = router.post("/").mock(
        side_effect=[
            folded_answer(head(res("ImagingStudy", "i1"), *procedures[:-1])),
            folded_answer(head(res("ImagingStudy", "i1"), *procedures)),
            batch_response(*searches_of(*procedures, res("Procedure", "beyond"), kinds=("Procedure",))),
        ]
    )
    below = fetch_patient(client, "p1", count=1000)
    assert below.requests == 1
    at = fetch_patient(client, "p1", count=1000)
    assert sent_urls(route, 2) == ["Procedure?patient=p1&_count=1000"]
    assert sum(r["resourceType"] == "Procedure" for r in at.resources) == FOLD_LIMIT + 1
    assert [r["id"] for r in at.resources if r["resourceType"] == "ImagingStudy"] == ["i1"]  # not read twice
    assert at.requests == 2


def test_outputs_the_provenance_names_but_the_page_lacks_are_looked_up_again_at_write_back(
    client: FhirClient, router: respx.MockRouter
) -> None:
    provenance = {
        "resourceType": "Provenance",
        "id": ids.output_uuid("Patient/p1", "provenance"),
        "meta": {"versionId": "2"},
        "target": [
            {"reference": f"{kind}/{kind[:2].lower()}1/_history/1"} for kind in OUTPUT_TYPES if kind != "Provenance"
        ],
    }
    report = {
        "resourceType": "DiagnosticReport",
        "id": "di1",
        "meta": {"versionId": "1"},
        "identifier": [
            {"system": ids.ASSESSMENT_SYSTEM, "value": ids.identifier_value("Patient/p1", "diagnostic-report")}
        ],
        "status": "preliminary",
        "subject": {"reference": "Patient/p1"},
    }
    page = head(provenance, report)  # two of the three targets missing
    router.post("/").mock(
        side_effect=[
            folded_answer(page),
            batch_response(entry(page), *(entry(searchset([])) for _ in PATIENT_SEARCHES)),
        ]
    )
    assert fetch_patient(client, "p1", count=1000).existing is None
    plain = fetch_patient(client, "p1", count=1000, strategy="searches").existing  # as before: what was found
    assert plain is not None
    assert [e.resource_type for e in plain] == ["Provenance", "DiagnosticReport"]


def test_folded_types_another_systems_provenance_points_at_are_not_read_as_this_patients(
    client: FhirClient, router: respx.MockRouter
) -> None:
    # Included as the target of a Provenance naming this Patient, but about another patient.
    theirs = res("Procedure", "pr-other", subject="Patient/p2")
    router.post("/").mock(return_value=folded_answer(head(res("Procedure", "pr1"), theirs)))
    assert refs(fetch_patient(client, "p1", count=1000).resources) == ["Patient/p1", "Procedure/pr1"]
