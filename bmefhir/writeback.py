"""Writing one patient's assessment back to a FHIR server: once, safely, and only when it changed.

Used by ``bmefhir run --write`` (through ``RestSink``), the sync jobs and the
SMART app. The rules:

* **No duplicates.** An output that exists is updated by its logical id; one
  that was not found is created only if its business identifier is not on the
  server yet (``ifNoneExist``; Provenance by its fixed id). All of it in one
  all-or-nothing transaction. The read finds the outputs in one search, through
  bmefhir's Provenance (``bmefhir.fhir.existing.outputs_request``).
* **No lost updates.** Existing outputs are updated with ``If-Match`` on the
  version read together with the patient's data (``fetch_patient``). If anyone
  changed one in between (a clinician edited or signed the report), the server
  answers 412 (409 on stock HAPI), nothing is written, and ``FhirConflict``
  names the resource.
* **No needless versions.** Each output carries a content hash in ``meta.tag``
  (``bmefhir.render.content_hash``: conclusions and versioned inputs, no
  timestamps). When all four outputs on the server carry the new hash, nothing
  is sent (``unchanged``).
* **Signed is final.** When the server's DiagnosticReport is final (signed by a
  clinician), an unsigned re-run writes nothing (``skipped="signed"``); only a
  signed result (``Signature``) replaces it.
* **One writer per patient in a process.** ``patient_lock`` serialises
  fetch → analyse → write for the same server and patient, so parallel
  identical write-backs leave one of each resource; ``fetch_analyse_write`` does
  all three under it. Across processes the sync jobs take a lock per patient in
  their state store; If-Match and the conditional updates remain the backstop.

Usage::

    with FhirClient(base) as client:
        result, outcome = fetch_analyse_write(client, "123", now)
        # or, when the caller fetched and analysed itself:
        with patient_lock(client.base, "123"):
            raw = fetch_patient(client, "123")
            result = process_patient(raw.resources, now, patient_id=raw.patient_id, source_issues=raw.issues)
            outcome = write_back(client, raw, result)
        outcome.changed, outcome.status, outcome.resource("DiagnosticReport").id
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

import httpx

from bmefhir.differential.knowledge_base import KnowledgeBase
from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirConflict, FhirError, FhirResponseError
from bmefhir.fhir.existing import (
    OUTPUT_TYPES,
    ExistingOutput,
    existing_requests,
    outputs_request,
    read_existing,
    read_patient_and_outputs,
)
from bmefhir.fhir.outcome import OutcomeIssue
from bmefhir.fhir.patient_fetch import DEFAULT_COUNT, fetch_patient
from bmefhir.fhir.raw import RawPatient
from bmefhir.pipeline import PatientResult, process_patient
from bmefhir.render import ids
from bmefhir.render.bundle import create_once, transaction_bundle
from bmefhir.render.resources import device
from bmefhir.render.signature import Signature

log = logging.getLogger(__name__)

__all__ = [
    "Action",
    "ResourceWrite",
    "WriteOutcome",
    "fetch_analyse_write",
    "patient_lock",
    "write_back",
]

# HAPI keeps tags from earlier versions unless told the request's tags are the whole set;
# without it the old content-hash tag would linger next to the new one. Other servers ignore it.
SNAPSHOT_HEADERS: Final = {"X-Meta-Snapshot-Mode": "TAG"}
_LOCATION = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([^/]+))?$")
_MENTION = re.compile(r"\b(DiagnosticReport|ClinicalImpression|RiskAssessment|Provenance)/([A-Za-z0-9\-.]{1,64})")


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class ResourceWrite:
    """What happened to one output: its server id and version after the write."""

    resource_type: str
    action: Action
    id: str | None
    version_id: str | None


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """The result of ``write_back`` for one patient.

    ``resources`` has one entry per output (DiagnosticReport, ClinicalImpression,
    RiskAssessment, Provenance) that exists on the server afterwards.
    ``skipped`` says why nothing was sent: ``"same-content"`` (the server's
    outputs carry this content hash) or ``"signed"`` (a signed report is there
    and this result is unsigned); None when a transaction was posted.
    ``requests`` counts the HTTP requests write-back made (0 when skipped).
    """

    patient_id: str
    content_hash: str
    resources: tuple[ResourceWrite, ...]
    skipped: Literal["same-content", "signed"] | None = None
    requests: int = 0

    @property
    def changed(self) -> bool:
        return any(r.action is not Action.UNCHANGED for r in self.resources)

    @property
    def status(self) -> Action:
        """``created`` when every output was new, ``updated`` when any changed, else ``unchanged``."""
        if not self.changed:
            return Action.UNCHANGED
        if all(r.action is Action.CREATED for r in self.resources):
            return Action.CREATED
        return Action.UPDATED

    def resource(self, resource_type: str) -> ResourceWrite:
        for written in self.resources:
            if written.resource_type == resource_type:
                return written
        raise KeyError(f"no {resource_type} in this write-back outcome")


# -- the per-patient lock ------------------------------------------------------


class _PatientLock:
    """An RLock that can be held in a WeakValueDictionary (plain locks cannot be weakly referenced)."""

    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.RLock()


_locks: weakref.WeakValueDictionary[tuple[str, str], _PatientLock] = weakref.WeakValueDictionary()
_locks_guard = threading.Lock()


@contextlib.contextmanager
def patient_lock(base: str | httpx.URL, patient_id: str) -> Iterator[None]:
    """Serialise work on one patient of one server within this process (re-entrant).

    Locks live only while someone holds or waits for them, so a population run
    does not accumulate one per patient.
    """
    key = (str(base).rstrip("/"), patient_id)
    with _locks_guard:
        holder = _locks.get(key)
        if holder is None:
            holder = _locks[key] = _PatientLock()
    with holder.lock:
        yield


# -- write-back ------------------------------------------------------------------


def ensure_device(client: FhirClient) -> None:
    """Create bmefhir's Device once (conditional create) before writers fan out.

    Every write-back transaction also carries it with ``ifNoneExist``, so this is
    only an optimisation against the first-write race between parallel workers.
    """
    body, request = create_once(device())
    entry = {"resource": body, "request": request}
    try:
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [entry]})
    except FhirError as exc:  # best effort: each write-back creates it anyway if still missing
        log.warning("could not create the bmefhir Device up front: %s", exc)


def write_back(
    client: FhirClient,
    raw: RawPatient,
    result: PatientResult,
    *,
    extra_tags: Sequence[Mapping[str, str]] = (),
) -> WriteOutcome:
    """Write ``result``'s outputs for ``raw``'s patient; see the module docstring for the rules.

    ``raw.existing`` (from ``fetch_patient``) says what is on the server; when it is
    None (a file source, or the lookup failed) it is looked up first (one request),
    and a failed lookup raises rather than writing blind. ``extra_tags`` are added to
    every written resource's ``meta.tag``. Raises ``FhirConflict`` when an output
    changed on the server since it was read, and the ``bmefhir.fhir.errors`` tree
    for anything else; the server is then unchanged (one transaction).
    """
    outputs = result.outputs
    patient_key = ids.patient_key(outputs.patient_ref)
    with patient_lock(client.base, patient_key):
        before = client.requests_sent
        existing = raw.existing if raw.existing is not None else _look_up(client, patient_key)
        current = {e.resource_type: e for e in existing}
        as_is = _ordered(ResourceWrite(e.resource_type, Action.UNCHANGED, e.id, e.version_id) for e in existing)

        report = current.get("DiagnosticReport")
        if report is not None and report.signed and outputs.diagnostic_report.get("status") != "final":
            return WriteOutcome(patient_key, outputs.content_hash, as_is, "signed", client.requests_sent - before)
        if outputs.content_hash and all(
            kind in current and current[kind].content_hash == outputs.content_hash for kind in OUTPUT_TYPES
        ):
            return WriteOutcome(patient_key, outputs.content_hash, as_is, "same-content", client.requests_sent - before)

        bundle = transaction_bundle(
            outputs, {k: (e.id, e.version_id) for k, e in current.items()}, extra_tags=extra_tags, create_missing=True
        )
        try:
            response = client.transaction(bundle, headers=SNAPSHOT_HEADERS)
        except FhirConflict as exc:
            raise _conflict(exc, current) from None
        written = _read_response(response, bundle, current)
        return WriteOutcome(patient_key, outputs.content_hash, written, None, client.requests_sent - before)


def _look_up(client: FhirClient, patient_id: str) -> tuple[ExistingOutput, ...]:
    """The outputs on the server: one search, or one search per output where that one is refused.

    Raises when neither answers: without knowing what exists, a write could overwrite a signed report.
    """
    try:
        return read_patient_and_outputs(client.batch([outputs_request(patient_id)])[0], patient_id)[1]
    except FhirError as exc:
        log.info("the outputs search was refused (%s); looking the outputs up one by one", type(exc).__name__)
        return read_existing(client.batch(existing_requests(patient_id)))


def fetch_analyse_write(
    client: FhirClient,
    patient_id: str,
    now: datetime,
    *,
    count: int = DEFAULT_COUNT,
    kb: KnowledgeBase | None = None,
    signature: Signature | None = None,
    extra_tags: Sequence[Mapping[str, str]] = (),
    write_findings: bool = False,
) -> tuple[PatientResult, WriteOutcome]:
    """Fetch, analyse and write back one patient under ``patient_lock`` (the safe default path);
    ``write_findings`` also writes the findings read from report text."""
    with patient_lock(client.base, patient_id):
        raw = fetch_patient(client, patient_id, count=count)
        result = process_patient(
            raw.resources,
            now,
            patient_id=raw.patient_id,
            source_issues=raw.issues,
            kb=kb,
            signature=signature,
            write_findings=write_findings,
        )
        return result, write_back(client, raw, result, extra_tags=extra_tags)


def _read_response(
    response: Mapping[str, Any], bundle: Mapping[str, Any], current: Mapping[str, ExistingOutput]
) -> tuple[ResourceWrite, ...]:
    """Pair the transaction-response entries (request order) with what was sent."""
    sent = bundle["entry"]
    entries = response.get("entry")
    if not isinstance(entries, list) or len(entries) != len(sent):
        raise FhirResponseError(
            f"sent {len(sent)} entries but the transaction-response has "
            f"{len(entries) if isinstance(entries, list) else 'no'} entries",
            method="POST",
            request="Bundle (transaction)",
        )
    written = []
    for request, answer in zip(sent, entries, strict=True):
        kind = request["resource"]["resourceType"]
        if kind not in OUTPUT_TYPES:
            continue  # the shared Device
        reply = answer.get("response") if isinstance(answer, Mapping) else None
        reply = reply if isinstance(reply, Mapping) else {}
        status = str(reply.get("status", ""))
        location = _LOCATION.search(str(reply.get("location", "")))
        rid = location.group(2) if location else None
        version = _etag_version(reply.get("etag")) or (location.group(3) if location else None)
        before = current.get(kind)
        if status.startswith("201"):
            action = Action.CREATED
        elif request["request"]["method"] == "POST":
            action = Action.UNCHANGED  # create-once matched an output the lookup missed: left as it was
        elif before is not None and before.id == rid and before.version_id == version:
            action = Action.UNCHANGED  # the server saw no difference and kept the version
        else:
            action = Action.UPDATED
        written.append(ResourceWrite(kind, action, rid, version))
    return _ordered(written)


def _ordered(writes: Iterable[ResourceWrite]) -> tuple[ResourceWrite, ...]:
    order = list(OUTPUT_TYPES)
    return tuple(sorted(writes, key=lambda w: order.index(w.resource_type)))


def _etag_version(etag: object) -> str | None:
    if not isinstance(etag, str) or not etag:
        return None
    return etag.removeprefix("W/").strip('"') or None


def _conflict(error: FhirConflict, current: Mapping[str, ExistingOutput]) -> FhirConflict:
    """The server's conflict, restated to name the output(s) that changed under us."""
    mentioned = {m.group(1) for issue in error.issues for m in _MENTION.finditer(str(issue))}
    names = sorted(mentioned & current.keys()) or sorted(current)
    if names:
        what = ", ".join(f"{k}/{current[k].id} (read as version {current[k].version_id})" for k in names)
        verb = "was" if len(names) == 1 else "were"
        message = (
            f"{what} {verb} changed on the server after bmefhir read it (someone edited or signed it); "
            "nothing was written. Re-run to analyse the current data"
        )
    else:
        message = "another writer created or changed this patient's outputs at the same time; nothing was written"
    issue = OutcomeIssue("error", "conflict", message)
    return FhirConflict(
        method=error.method,
        request=f"{error.request} for {', '.join(names) or 'Patient outputs'}",
        status=error.status,
        issues=(issue, *error.issues),
        attempts=error.attempts,
    )
