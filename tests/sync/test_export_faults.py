"""Faults on ``$export`` discovery at the HTTP edge (respx): retries of polls and downloads, the
fallback to search after repeated export failure, a restart with another ``--discovery``.

Nothing sleeps: the export's ``sleep`` and ``clock`` are injected and record what was asked for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
import respx

from bmefhir.fhir.errors import FhirHttpError, FhirTimeout
from bmefhir.fhir.retry import RetryPolicy
from bmefhir.sync.bulk_export import discover_by_export
from bmefhir.sync.discovery import CHANGE_TYPES, Discovery
from bmefhir.sync.executors import Known, PatientOutcome
from bmefhir.sync.runner import ExportDiscoveryFailed, SyncOptions, server_key, sync_once
from bmefhir.sync.spec import SyncJobSpec
from bmefhir.sync.store import SyncStore

BASE = "https://ehr.test/fhir"
SERVER = server_key(BASE)
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CURSOR = "2025-02-01T00:00:00.000Z"
STATUS = f"{BASE}/$export-poll-status?_jobId=j1"
MANIFEST_TIME = "2025-03-01T11:59:00.000Z"
SEARCH_TIME = "2025-03-01T12:00:05.000Z"
POLICY = RetryPolicy(max_attempts=3)


def ndjson(*patients: str) -> bytes:
    lines = [
        {"resourceType": "Observation", "id": f"o-{p}", "subject": {"reference": f"Patient/{p}"}} for p in patients
    ]
    return b"\n".join(orjson.dumps(line) for line in lines) + b"\n"


def manifest(*files: str, at: str = MANIFEST_TIME) -> httpx.Response:
    output = [{"type": "Observation", "url": f"{BASE}/Binary/{name}"} for name in files]
    return httpx.Response(200, json={"transactionTime": at, "request": "x", "output": output})


KICKOFF = httpx.Response(202, headers={"Content-Location": STATUS})


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


def export_ids(sleeps: list[float], found: Discovery | None = None, jobs: list[str | None] | None = None) -> list[str]:
    return list(
        discover_by_export(
            BASE,
            CURSOR,
            found or Discovery(),
            policy=POLICY,
            sleep=sleeps.append,
            clock=lambda: NOW,
            random=lambda: 0.5,
            on_job=(jobs.append if jobs is not None else None),
        )
    )


# -- retries inside one export ---------------------------------------------------------------


def test_a_429_on_a_file_download_is_retried_after_retry_after_seconds(router: respx.MockRouter) -> None:
    router.get("/$export").mock(return_value=KICKOFF)
    router.get("/$export-poll-status").mock(return_value=manifest("f1"))
    download = router.get("/Binary/f1").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, content=ndjson("p1", "p2"))]
    )
    delete = router.delete("/$export-poll-status").mock(return_value=httpx.Response(202))
    sleeps: list[float] = []
    jobs: list[str | None] = []
    found = Discovery()
    assert export_ids(sleeps, found, jobs) == ["p1", "p2"]
    assert sleeps == [3.0]
    assert download.call_count == 2
    assert delete.called
    assert jobs == [STATUS, None]  # remembered while running, forgotten once deleted
    assert found.until == MANIFEST_TIME


def test_a_503_on_the_status_poll_honours_an_http_date(router: respx.MockRouter) -> None:
    router.get("/$export").mock(return_value=KICKOFF)
    poll = router.get("/$export-poll-status").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "Sat, 01 Mar 2025 12:00:20 GMT"}),
            httpx.Response(202, headers={"Retry-After": "120", "X-Progress": "busy"}),
            manifest("f1"),
        ]
    )
    router.get("/Binary/f1").mock(return_value=httpx.Response(200, content=ndjson("p3")))
    router.delete("/$export-poll-status").mock(return_value=httpx.Response(202))
    sleeps: list[float] = []
    assert export_ids(sleeps) == ["p3"]
    assert sleeps == [20.0, 120.0]  # 20 s to the HTTP date (injected clock), then the 202's own Retry-After
    assert poll.call_count == 3


def test_retry_after_is_capped_by_the_policy(router: respx.MockRouter) -> None:
    router.get("/$export").mock(return_value=KICKOFF)
    router.get("/$export-poll-status").mock(return_value=manifest("f1"))
    router.get("/Binary/f1").mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "86400"}), httpx.Response(200, content=ndjson("p1"))]
    )
    router.delete("/$export-poll-status").mock(return_value=httpx.Response(202))
    sleeps: list[float] = []
    ids = list(
        discover_by_export(
            BASE, CURSOR, Discovery(), policy=RetryPolicy(max_retry_after=30), sleep=sleeps.append, clock=lambda: NOW
        )
    )
    assert ids == ["p1"]
    assert sleeps == [30]


def test_a_download_that_keeps_failing_gives_up_with_a_clear_error_and_deletes_the_job(
    router: respx.MockRouter,
) -> None:
    router.get("/$export").mock(return_value=KICKOFF)
    router.get("/$export-poll-status").mock(return_value=manifest("f1"))
    download = router.get("/Binary/f1").mock(return_value=httpx.Response(503, headers={"Retry-After": "1"}))
    delete = router.delete("/$export-poll-status").mock(return_value=httpx.Response(202))
    sleeps: list[float] = []
    with pytest.raises(FhirHttpError) as info:
        export_ids(sleeps)
    assert info.value.status == 503
    assert download.call_count == 3 == info.value.attempts
    assert sleeps == [1.0, 1.0]
    assert str(info.value).startswith("GET export file → 503 Service Unavailable (after 3 attempts)")
    assert "ehr.test" not in str(info.value)  # a label, never the URL
    assert delete.called


class _BreaksAfterFirstLine(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield ndjson("p1")
        raise httpx.RemoteProtocolError("peer closed connection")


def test_a_download_broken_mid_file_starts_the_file_again(router: respx.MockRouter) -> None:
    router.get("/$export").mock(return_value=KICKOFF)
    router.get("/$export-poll-status").mock(return_value=manifest("f1"))
    router.get("/Binary/f1").mock(
        side_effect=[
            httpx.Response(200, stream=_BreaksAfterFirstLine()),
            httpx.Response(200, content=ndjson("p1", "p2")),
        ]
    )
    router.delete("/$export-poll-status").mock(return_value=httpx.Response(202))
    sleeps: list[float] = []
    ids = export_ids(sleeps)
    assert ids == ["p1", "p1", "p2"]  # p1 again: the store ignores the duplicate
    assert len(sleeps) == 1


def test_the_kick_off_is_retried_on_429_but_not_after_a_timeout(router: respx.MockRouter) -> None:
    kickoff = router.get("/$export").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), httpx.ReadTimeout("slow")]
    )
    sleeps: list[float] = []
    with pytest.raises(FhirTimeout) as info:
        export_ids(sleeps)
    assert kickoff.call_count == 2  # a timed-out kick-off may have started a job: not sent a third time
    assert sleeps == [2.0]
    assert info.value.attempts == 2


# -- the sync run: fallback and restart --------------------------------------------------------


class RecordingExecutor:
    """Stands in for the per-patient work (not under test here): records which patients it was given."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def run(self, job: SyncJobSpec, patient_ids: Iterable[str], known: Known | None = None) -> Iterator[PatientOutcome]:
        for pid in patient_ids:
            self.seen[pid] += 1
            yield PatientOutcome(pid, "unchanged", None, 0, None)


def search_answers(router: respx.MockRouter, by_type: dict[str, list[str]]) -> respx.Route:
    """``_lastUpdated`` searches: per type, resources of the named patients; every other type empty."""

    def answer(request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        entries = [
            {"resource": {"resourceType": kind, "id": p}}
            if kind == "Patient"
            else {"resource": {"resourceType": kind, "id": f"{kind}-{p}", "subject": {"reference": f"Patient/{p}"}}}
            for p in by_type.get(kind, [])
        ]
        bundle = {"resourceType": "Bundle", "type": "searchset", "meta": {"lastUpdated": SEARCH_TIME}, "entry": entries}
        return httpx.Response(200, json=bundle)

    return router.get(url__regex=rf"/({'|'.join(CHANGE_TYPES)})\?").mock(side_effect=answer)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SyncStore]:
    s = SyncStore(f"sqlite:///{tmp_path / 'sync.db'}")
    s.set_cursor(SERVER, CURSOR)
    yield s
    s.close()


def options(**kw: object) -> SyncOptions:
    return SyncOptions(discovery="export", overlap=timedelta(0), dry_run=True, **kw)  # type: ignore[arg-type]


def test_repeated_export_failure_falls_back_to_search_and_a_success_resets_the_count(
    router: respx.MockRouter, store: SyncStore
) -> None:
    kickoff = router.get("/$export").mock(return_value=httpx.Response(503, headers={"Retry-After": "1"}))
    search = search_answers(router, {"Observation": ["p1", "p2"]})
    sleeps: list[float] = []
    executor = RecordingExecutor()

    with pytest.raises(ExportDiscoveryFailed, match=r"503.*1 of 2 consecutive failures"):
        sync_once(store, BASE, options=options(export_fallback_after=2), executor=executor, sleep=sleeps.append)
    (run,) = store.runs(SERVER)
    assert (run.state, run.method) == ("discovering", "export")
    assert store.cursor(SERVER) == CURSOR
    assert kickoff.call_count == 6  # bounded: the export policy's attempts
    assert not search.called

    second = sync_once(store, BASE, options=options(export_fallback_after=2), executor=executor, sleep=sleeps.append)
    assert second.run_id == run.id  # the same run, resumed
    assert second.method == "search"
    assert second.complete
    assert any("2 export failure(s) in a row" in note for note in second.notes)
    assert {c.request.url.params["_lastUpdated"] for c in search.calls} == {f"ge{CURSOR}"}  # no gap
    assert executor.seen == Counter({"p1": 1, "p2": 1})
    assert store.cursor(SERVER) == SEARCH_TIME
    assert store.export_state(SERVER).failures == 2
    assert sleeps == [1.0] * 10  # 5 retries in each of the two failed exports, as asked by Retry-After

    # the server recovers: the next run uses $export again and the count starts over
    kickoff.mock(return_value=KICKOFF)
    router.get("/$export-poll-status").mock(return_value=manifest("f1", at="2025-03-02T08:00:00.000Z"))
    router.get("/Binary/f1").mock(return_value=httpx.Response(200, content=ndjson("p3")))
    router.delete("/$export-poll-status").mock(return_value=httpx.Response(202))
    third = sync_once(store, BASE, options=options(export_fallback_after=2), executor=executor, sleep=sleeps.append)
    assert third.method == "export"
    assert third.complete
    assert store.export_state(SERVER).failures == 0
    assert {c.request.url.params["_since"] for c in kickoff.calls[-1:]} == {SEARCH_TIME}  # from the new cursor
    assert store.cursor(SERVER) == "2025-03-02T08:00:00.000Z"
    assert executor.seen["p3"] == 1


def test_a_fallback_after_a_half_read_export_skips_and_duplicates_no_patient(
    router: respx.MockRouter, store: SyncStore
) -> None:
    router.get("/$export").mock(return_value=KICKOFF)
    router.get("/$export-poll-status").mock(return_value=manifest("f1", "f2"))
    router.get("/Binary/f1").mock(return_value=httpx.Response(200, content=ndjson("p1", "p2")))
    router.get("/Binary/f2").mock(return_value=httpx.Response(503, headers={"Retry-After": "1"}))
    router.delete("/$export-poll-status").mock(return_value=httpx.Response(202))
    search_answers(router, {"Observation": ["p2", "p3"], "Condition": ["p1"]})
    executor = RecordingExecutor()
    summary = sync_once(store, BASE, options=options(export_fallback_after=1), executor=executor, sleep=lambda _s: None)
    assert summary.method == "search"
    assert summary.complete
    assert executor.seen == Counter({"p1": 1, "p2": 1, "p3": 1})  # the export's p1, p2 kept, each done once
    # the cursor comes from the search that completed discovery, not the abandoned export's manifest
    assert store.cursor(SERVER) == SEARCH_TIME
    assert store.runs(SERVER)[0].method == "search"
    assert store.export_state(SERVER).job_url is None


def test_a_restart_with_another_discovery_mode_is_not_stuck_on_export(
    router: respx.MockRouter, store: SyncStore
) -> None:
    router.get("/$export").mock(return_value=KICKOFF)
    router.get("/$export-poll-status").mock(return_value=manifest("f1"))
    router.get("/Binary/f1").mock(return_value=httpx.Response(503, headers={"Retry-After": "1"}))
    delete = router.delete("/$export-poll-status").mock(
        side_effect=[httpx.Response(500), httpx.Response(202)]  # the first delete fails: the job stays behind
    )
    search = search_answers(router, {"Patient": ["p9"]})
    executor = RecordingExecutor()

    with pytest.raises(ExportDiscoveryFailed, match=r"no fallback \(--export-fallback none\)"):
        sync_once(store, BASE, options=options(export_fallback="none"), executor=executor, sleep=lambda _s: None)
    assert store.export_state(SERVER).job_url == STATUS
    assert store.open_run(SERVER) is not None

    restarted = SyncOptions(discovery="search", overlap=timedelta(0), dry_run=True, export_fallback="none")
    summary = sync_once(store, BASE, options=restarted, executor=executor, sleep=lambda _s: None)
    assert summary.resumed
    assert summary.method == "search"
    assert summary.complete
    assert delete.call_count == 2  # the stale job cancelled on the server
    assert store.export_state(SERVER).job_url is None
    assert any("--discovery search given" in n for n in summary.notes)
    assert any("cancelled the $export job" in n for n in summary.notes)
    assert search.called
    assert executor.seen == Counter({"p9": 1})
    assert store.open_run(SERVER) is None
    assert store.cursor(SERVER) == SEARCH_TIME


def test_the_cli_falls_back_and_tells_the_user(router: respx.MockRouter, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bmefhir.cli import app

    kickoff = router.get("/$export").mock(return_value=httpx.Response(503, headers={"Retry-After": "0"}))
    search_answers(router, {})
    args = ["sync", "--fhir-base", BASE, "--state", f"sqlite:///{tmp_path / 's.db'}", "--since", "2025-02-01"]
    args += ["--discovery", "export", "--export-fallback-after", "1", "--dry-run", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert kickoff.call_count == 6
    assert "note: $export discovery failed" in result.output
    assert '"method":"search"' in result.output
    assert CliRunner().invoke(app, [*args[:6], "--export-fallback", "maybe"]).exit_code == 2
