"""One sync run: take the server's lease, discover, process every patient, move the cursor.

Crash safety comes from the store's order of events: the discovered set is
recorded before any patient is processed, each outcome is recorded as it
completes, and the cursor moves (to the server time at which discovery began)
in the same transaction that marks the run complete, and only when no patient
is pending. A failed patient is not pending: it is in the dead-letter table and
later runs retry it. A run killed at any point is resumed by the next start
with the same job (the same analysis time), so no patient is missed and none is
done twice.

Discovery by ``$export`` that fails (after its own retries) counts one failure
for the server; after ``export_fallback_after`` in a row the run discovers by
``_lastUpdated`` search instead, from the same ``since`` (so no change is
skipped; patients the export already yielded stay, once). A restart with
another ``--discovery`` than the interrupted run's switches that run over, and
an export job a killed run left on the server is cancelled first.

A patient whose inputs did not change since the analysis behind its current
outputs is not analysed again (``bmefhir.sync.fingerprint``): recognised at
discovery when every resource found for it is at the version that analysis used
(so the overlap window finds the same resources again at no cost), or after the
fetch by the fingerprint of its inputs. ``SyncOptions.reanalyse`` turns both off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from bmefhir.fhir.errors import FhirError
from bmefhir.fhir.patient_fetch import DEFAULT_COUNT
from bmefhir.fhir.urls import normalise_base
from bmefhir.sync.bulk_export import abandon_export, discover_by_export, supports_export
from bmefhir.sync.connect import auth_for, open_client
from bmefhir.sync.discovery import Discovery, discover_all, discover_changed, iso, since_with_overlap
from bmefhir.sync.executors import Executor, LocalExecutor, PatientOutcome
from bmefhir.sync.fingerprint import analysis_version
from bmefhir.sync.spec import AuthConfig, SyncJobSpec
from bmefhir.sync.store import PatientStateView, RunView, SyncStore, owner_name
from bmefhir.writeback import ensure_device

__all__ = ["ExportDiscoveryFailed", "LeaseHeld", "SyncOptions", "SyncSummary", "server_key", "sync_once"]

log = logging.getLogger("bmefhir.sync")

DiscoveryMode = Literal["auto", "search", "export"]
ExportFallback = Literal["search", "none"]


class LeaseHeld(RuntimeError):
    """Another run holds this server's lease."""


class ExportDiscoveryFailed(RuntimeError):
    """``$export`` discovery failed and no fallback applies yet; the run resumes on the next start."""


@dataclass(frozen=True, slots=True)
class SyncOptions:
    auth: AuthConfig = field(default_factory=AuthConfig)
    overlap: timedelta = timedelta(minutes=5)
    since: str | None = None  # overrides the stored cursor (e.g. a re-sync from a date)
    discovery: DiscoveryMode = "auto"
    page_size: int = DEFAULT_COUNT
    dry_run: bool = False
    write_findings: bool = False  # also write the findings read from report text
    lease_ttl: timedelta = timedelta(minutes=2)
    retry_base: timedelta = timedelta(minutes=5)
    retry_cap: timedelta = timedelta(hours=24)
    export_poll_max: timedelta = timedelta(seconds=120)  # longest wait between $export status polls
    export_fallback: ExportFallback = "search"  # what discovery does after repeated $export failure
    export_fallback_after: int = 3  # consecutive failed $export discoveries before falling back (1: at once)
    reanalyse: bool = False  # analyse every discovered patient, even one whose inputs did not change

    def __post_init__(self) -> None:
        if self.export_fallback_after < 1:
            raise ValueError("export_fallback_after must be at least 1")


@dataclass(slots=True)
class SyncSummary:
    server: str
    run_id: int = 0
    method: str = ""
    resumed: bool = False
    discovered: int = 0
    analysed: int = 0
    inputs_unchanged: int = 0  # recognised as unchanged since their last analysis: not analysed
    unchanged: int = 0  # analysed, and the outputs came out the same: nothing written
    written: int = 0
    failed: int = 0
    requests: int = 0
    seconds: float = 0.0
    complete: bool = False
    cursor: str | None = None
    notes: list[str] = field(default_factory=list)  # what the user should know (a fallback, a switched mode)

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


def server_key(base_url: str) -> str:
    return str(normalise_base(base_url))


class _Heartbeat:
    """Renews the lease every ttl/3; if it is ever lost, ``stop`` is set so the run winds down."""

    def __init__(self, store: SyncStore, server: str, owner: str, ttl: timedelta, stop: threading.Event) -> None:
        self._args = (store, server, owner, ttl)
        self._stop = stop
        self._done = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._beat, name="bmefhir-sync-lease", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        store, server, owner, ttl = self._args
        while not self._done.wait(ttl.total_seconds() / 3):
            try:
                ok = store.renew(server, owner, ttl)
            except Exception:  # a database hiccup: try again at the next beat, the lease has slack
                log.warning("sync: could not renew the lease; retrying", exc_info=True)
                continue
            if not ok:
                log.error("sync: the lease was lost (expired and taken by another run); stopping")
                self.lost = True
                self._stop.set()
                return


def sync_once(
    store: SyncStore,
    base_url: str,
    *,
    options: SyncOptions = SyncOptions(),
    executor: Executor | None = None,
    stop: threading.Event | None = None,
    on_discovered: Callable[[int], None] | None = None,
    on_outcome: Callable[[PatientOutcome], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncSummary:
    """Run (or resume) one sync of ``base_url``. ``stop`` ends it gracefully: no new patients start.

    ``sleep`` is how the ``$export`` discovery waits between polls and retries (tests inject a recorder).
    """
    server = server_key(base_url)
    stop = stop or threading.Event()
    executor = executor or LocalExecutor()
    summary = SyncSummary(server=server)
    started = time.perf_counter()
    owner = owner_name()
    if not store.acquire(server, owner, options.lease_ttl):
        held = store.lease(server)
        until = f" until {held[1]:%Y-%m-%d %H:%M:%SZ}" if held else ""
        raise LeaseHeld(f"another sync run holds the lock for {server}{until}; try again later")
    try:
        with _Heartbeat(store, server, owner, options.lease_ttl, stop):
            run = store.open_run(server)
            if run is not None and run.state == "processing":
                job = SyncJobSpec.from_json(run.job)
                summary.run_id, summary.method, summary.resumed = run.id, run.method, True
                if options.discovery not in ("auto", run.method) and run.method != "full":
                    _note(
                        summary,
                        f"run {run.id} had already discovered its patients by {run.method}; it is finished "
                        f"as it is, --discovery {options.discovery} applies from the next run",
                    )
            else:
                job, run_id = _discover(store, server, options, run, summary, sleep)
                summary.run_id = run_id
            summary.discovered = sum(store.runs(server, limit=1)[0].counts.values())
            if on_discovered is not None:
                on_discovered(summary.discovered)
            _process(store, server, job, executor, stop, options, summary, on_outcome)
            if not stop.is_set() and not store.pending(summary.run_id):
                store.finish_run(summary.run_id)
                summary.complete = True
    finally:
        store.release(server, owner)
        summary.seconds = time.perf_counter() - started
        summary.cursor = store.cursor(server)
    return summary


def _note(summary: SyncSummary, text: str) -> None:
    summary.notes.append(text)
    log.warning("sync: %s", text)


def _discover(
    store: SyncStore,
    server: str,
    options: SyncOptions,
    run: RunView | None,
    summary: SyncSummary,
    sleep: Callable[[float], None],
) -> tuple[SyncJobSpec, int]:
    """Start a run (or redo the discovery of one killed while discovering) and record its patient set."""
    if run is not None:  # killed during discovery: same run, same job; ids already stored stay
        job, run_id, since, method = SyncJobSpec.from_json(run.job), run.id, run.since, run.method
        summary.resumed = True
        wanted = options.discovery
        if method != "full" and wanted not in ("auto", method):
            _note(
                summary,
                f"run {run_id} was interrupted while discovering by {method}; --discovery {wanted} given: "
                f"it discovers by {wanted} instead, from the same point (the patients found so far are kept)",
            )
            store.set_run_method(run_id, wanted)
            method = wanted
    else:
        cursor = store.cursor(server)
        since = options.since or (since_with_overlap(cursor, options.overlap) if cursor else None)
        job = SyncJobSpec(
            fhir_base=server,
            now=iso(datetime.now(UTC)),
            auth=options.auth,
            page_size=options.page_size,
            dry_run=options.dry_run,
            write_findings=options.write_findings,
        )
        method = _method(job, since, options.discovery)
        run_id = store.start_run(server, job.to_json(), since=since, method=method)
    _cancel_stale_export(store, server, job, summary)
    found = Discovery()
    if method == "export":
        try:
            ids: Iterator[str] = discover_by_export(
                server,
                since,
                found,
                auth=auth_for(job.auth),
                timeout=job.timeout,
                max_poll_interval=options.export_poll_max.total_seconds(),
                sleep=sleep,
                on_job=lambda url: store.set_export_job(server, url),
            )
            store.add_patients(run_id, ids)
        except FhirError as exc:
            summary.requests += found.pages
            method = _export_failed(store, server, run_id, options, summary, exc)
            found = Discovery()  # the cursor's upper bound comes from the search, not a half-read export
        else:
            summary.requests += found.pages
            store.export_succeeded(server)
    if method != "export":
        with open_client(job) as client:
            ids = discover_all(client, found) if since is None else discover_changed(client, since, found)
            store.add_patients(run_id, ids)
            summary.requests += client.requests_sent
    summary.method = method
    store.add_patients(run_id, store.due_failures(server))
    if not options.reanalyse:
        summary.inputs_unchanged += _recognise_unchanged(store, server, run_id, found)
    until = found.until
    if until is None:  # no server time seen (an odd server): this machine's clock, less the overlap
        log.warning("sync: the server sent no Bundle.meta.lastUpdated; using the local clock for the cursor")
        until = iso(datetime.now(UTC) - options.overlap)
    store.discovered(run_id, until)
    return job, run_id


def _recognise_unchanged(store: SyncStore, server: str, run_id: int, found: Discovery) -> int:
    """Mark the patients whose every discovered resource is at the version their last analysis used
    (with the same knowledge base and software) as ``same-inputs``; returns how many.

    Done before the run leaves ``discovering``, so a crash redoes it with the discovery. Dead-lettered
    patients are left pending (their last attempt failed; the fetch-time check still applies)."""
    if not found.versions:
        return 0
    failed = {letter.patient_id for letter in store.failures(server)}
    analysis = analysis_version()
    states = store.patient_states(server, (pid for pid in found.versions if pid not in failed))
    same = [
        pid for pid, state in states.items() if state.analysis == analysis and _all_seen(found.versions[pid], state)
    ]
    return store.mark_same_inputs(run_id, same)


def _all_seen(seen: dict[str, str | None], state: PatientStateView) -> bool:
    return all(version is not None and state.inputs.get(key) == version for key, version in seen.items())


def _export_failed(
    store: SyncStore, server: str, run_id: int, options: SyncOptions, summary: SyncSummary, exc: FhirError
) -> str:
    """Count the failure; returns ``search`` when the run falls back, else raises ``ExportDiscoveryFailed``."""
    failures = store.export_failed(server, str(exc))
    after = options.export_fallback_after
    if options.export_fallback == "search" and failures >= after:
        _note(
            summary,
            f"$export discovery failed ({exc}); {failures} export failure(s) in a row: run {run_id} discovers "
            "by _lastUpdated search instead, from the same point",
        )
        store.set_run_method(run_id, "search")
        return "search"
    hint = (
        f"{failures} of {after} consecutive failures before discovery falls back to search"
        if options.export_fallback == "search"
        else "no fallback (--export-fallback none)"
    )
    raise ExportDiscoveryFailed(f"$export discovery failed: {exc} ({hint}); the next run tries again") from None


def _cancel_stale_export(store: SyncStore, server: str, job: SyncJobSpec, summary: SyncSummary) -> None:
    """An export job an interrupted run left on the server: cancel it (the run discovers anew)."""
    stale = store.export_state(server).job_url
    if stale is None:
        return
    if abandon_export(server, stale, auth=auth_for(job.auth), timeout=job.timeout):
        store.set_export_job(server, None)
        _note(summary, "cancelled the $export job an interrupted run had left on the server")
    else:
        _note(summary, "could not cancel the $export job an interrupted run left on the server; next run retries")


def _method(job: SyncJobSpec, since: str | None, mode: DiscoveryMode) -> str:
    if since is None:
        return "full"  # no cursor yet: every Patient is new
    if mode != "auto":
        return mode
    with open_client(job) as client:
        try:
            return "export" if supports_export(client.capabilities()) else "search"
        except Exception:
            log.warning("sync: could not read the CapabilityStatement; discovering by search")
            return "search"


def _process(
    store: SyncStore,
    server: str,
    job: SyncJobSpec,
    executor: Executor,
    stop: threading.Event,
    options: SyncOptions,
    summary: SyncSummary,
    on_outcome: Callable[[PatientOutcome], None] | None,
) -> None:
    def feed() -> Iterator[str]:
        for pid in store.pending(summary.run_id):
            if stop.is_set():
                return
            yield pid

    if not job.dry_run:
        with open_client(job) as client:
            ensure_device(client)

    def known(pid: str) -> PatientStateView | None:
        return store.patient_state(server, pid)

    outcomes = executor.run(job, feed(), None if options.reanalyse else known)
    try:
        for outcome in outcomes:
            store.record(
                summary.run_id,
                server,
                outcome.patient_id,
                outcome.status,
                reason=outcome.reason,
                requests=outcome.requests,
                content_hash=outcome.content_hash,
                state=None if job.dry_run else outcome.state,
                retry_base=options.retry_base,
                retry_cap=options.retry_cap,
            )
            summary.requests += outcome.requests
            if outcome.status == "failed":
                summary.failed += 1
            elif outcome.status == "same-inputs":
                summary.inputs_unchanged += 1
            else:
                summary.analysed += 1
                summary.written += outcome.status == "written"
                summary.unchanged += outcome.status == "unchanged"
            if on_outcome is not None:
                on_outcome(outcome)
            if stop.is_set():
                break
    finally:
        close = getattr(outcomes, "close", None)
        if close is not None:  # a generator: stop submitting, let started patients finish
            close()
