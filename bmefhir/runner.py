"""Run the pipeline over many patients: source → process_patient → sink, with a report.

One patient's failure never stops the run: it is recorded with a one-line
reason (no patient data) and the next patient is processed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bmefhir.fhir.errors import FhirError
from bmefhir.fhir.raw import RawPatient
from bmefhir.pipeline import PatientResult, process_patient
from bmefhir.privacy import pseudonym
from bmefhir.render.bundle import collection_bundle, transaction_bundle
from bmefhir.sinks import ResultSink, Sink

log = logging.getLogger(__name__)

BundleKind = Literal["collection", "transaction"]


@dataclass(frozen=True, slots=True)
class Failure:
    patient_id: str
    reason: str


@dataclass(slots=True)
class RunReport:
    analysed: int = 0
    written: int = 0  # patients whose outputs the sink stored (or found already stored: see ``unchanged``)
    unchanged: int = 0  # of those, patients a server sink left as they were (same content, or signed)
    red_flagged: int = 0
    data_quality_issues: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


Progress = Callable[[str, PatientResult | Failure], None]


def run(
    patients: Iterable[RawPatient],
    now: datetime,
    *,
    sink: Sink | None = None,
    bundle_kind: BundleKind = "collection",
    on_patient: Progress | None = None,
    write_findings: bool = False,
) -> RunReport:
    report = RunReport()
    started = time.perf_counter()
    for raw in patients:
        outcome: PatientResult | Failure
        if raw.failure is not None:  # the source found the patient but could not make it analysable
            report.failures.append(outcome := Failure(raw.patient_id, raw.failure))
            if on_patient is not None:
                on_patient(raw.patient_id, outcome)
            continue
        try:
            result = process_patient(
                raw.resources, now, patient_id=raw.patient_id, source_issues=raw.issues, write_findings=write_findings
            )
            report.analysed += 1
            report.red_flagged += bool(result.analysis.differential.red_flags)
            report.data_quality_issues += len(result.analysis.record.issues)
            if isinstance(sink, ResultSink):
                # A server sink decides per patient what to send (write-back rules: bmefhir.writeback).
                report.unchanged += not sink.write_result(raw, result).changed
                report.written += 1
            elif sink is not None:
                bundle = (transaction_bundle if bundle_kind == "transaction" else collection_bundle)(result.outputs)
                sink.write(raw.patient_id, bundle, result.summary)
                report.written += 1
            outcome = result
        except FhirError as exc:
            outcome = Failure(raw.patient_id, str(exc))
        except Exception as exc:  # one patient's bug must not end a population run
            log.exception("patient %s failed", pseudonym(raw.patient_id))
            outcome = Failure(raw.patient_id, f"internal error ({type(exc).__name__}); see the log")
        if isinstance(outcome, Failure):
            report.failures.append(outcome)
        if on_patient is not None:
            on_patient(raw.patient_id, outcome)
    if sink is not None:
        sink.finish()
    report.seconds = time.perf_counter() - started
    return report
