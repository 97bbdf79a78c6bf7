"""The one path every entry point takes: resources → record → derive → differential → outputs.

Pure: no I/O and no clock. ``now`` is passed in, so the same input gives
byte-identical output. Sources (``bmefhir.fhir``) feed it raw resources and
sinks write what it returns; the CLI, the web app and the sync workers all call
``process_patient``.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bmefhir.analysis import Analysis, analyse
from bmefhir.differential.knowledge_base import KnowledgeBase
from bmefhir.normalize import build_record
from bmefhir.normalize.dates import EARLIEST, LATEST, plausible
from bmefhir.record import DataQualityIssue
from bmefhir.render.bundle import Outputs, render_outputs
from bmefhir.render.signature import Signature
from bmefhir.render.summary import summarize

# ``Analysis`` and ``analyse`` live in ``bmefhir.analysis`` (below render); re-exported for callers.
__all__ = ["Analysis", "PatientResult", "analyse", "analyse_patient", "process_patient", "settle", "warm_up"]


@dataclass(frozen=True, slots=True)
class PatientResult:
    analysis: Analysis
    outputs: Outputs
    summary: dict[str, Any]


def analyse_patient(
    resources: Iterable[dict[str, Any]],
    now: datetime,
    *,
    patient_id: str | None = None,
    source_issues: Iterable[DataQualityIssue] = (),
    kb: KnowledgeBase | None = None,
) -> Analysis:
    """Build the record from raw FHIR JSON and analyse it: everything but the output resources,
    for callers that show the result and write nothing (CDS Hooks cards)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not plausible(now.date()):
        raise ValueError(f"now must be between {EARLIEST.year} and {LATEST.year}")
    record = build_record(resources, patient_id=patient_id, source_issues=source_issues)
    analysis = analyse(record, now, kb)
    settle()
    return analysis


_settled = threading.Event()
_settling = threading.Lock()


# Full collections after the freeze: one per this many collections of the middle generation.
_FULL_COLLECTION_EVERY = 100
# Young collections: one per this many net new container objects (Python's default is 700).
_YOUNG_COLLECTION_AFTER = 50_000


def settle() -> None:
    """Once per process, after its first analysis (or ``warm_up``): keep what the process has loaded
    (fhir.resources models, the report reader's pipelines, the tables: ~250,000 objects, alive as long
    as the process) out of the garbage collector's sight (``gc.freeze``, after a collection so that no
    garbage is kept). Otherwise every full collection walks them again, and a large record triggers
    several: parsing the ten search pages of a 5,000-resource patient took 155 ms instead of 43 ms.
    Then full collections are made ten times rarer: Python runs one only when a quarter of the
    long-lived objects is new, and after the freeze those are the few not frozen, so a 1,000-resource
    CDS Hooks call ran one in 12 of 60 calls (17–44 ms each, the calls that set the p95;
    docs/performance.md). Young collections wait for 50,000 net new objects instead of 700: what a
    record is built from and into (a 1,000-resource prefetch parses into ~30,000 objects) lives until
    the call ends and is then freed by reference counting (the build makes no reference cycles:
    tests/normalize/test_build.py), so the ~20 young and ~2 middle collections of each such call
    (~4.5 ms of CPU) found nothing to free; they only walked the objects again. Cyclic garbage still
    goes, at a young collection (at most ~50,000 objects waiting) or the next full one. It changes no
    result; later calls cost one check."""
    if _settled.is_set():
        return
    with _settling:
        if not _settled.is_set():
            gc.collect()
            gc.freeze()
            young, middle, old = gc.get_threshold()
            gc.set_threshold(max(young, _YOUNG_COLLECTION_AFTER), middle, max(old, _FULL_COLLECTION_EVERY))
            _settled.set()


def process_patient(
    resources: Iterable[dict[str, Any]],
    now: datetime,
    *,
    patient_id: str | None = None,
    source_issues: Iterable[DataQualityIssue] = (),
    kb: KnowledgeBase | None = None,
    signature: Signature | None = None,
    write_findings: bool = False,
) -> PatientResult:
    """:func:`analyse_patient`, then render the output resources.

    ``write_findings`` adds the findings read from report text as ``bmefhir-imaging-finding``
    Observations to the outputs (``bmefhir.render.findings``).
    """
    analysis = analyse_patient(resources, now, patient_id=patient_id, source_issues=source_issues, kb=kb)
    summary = summarize(analysis)  # made once: the content hash reads it too
    outputs = render_outputs(analysis, signature=signature, write_findings=write_findings, summary=summary)
    return PatientResult(analysis, outputs, summary)


# One MRI report sentence per language the reader reads (not patient data): enough to load each
# language's spaCy pipeline and the language detector.
_WARM_UP_REPORTS = (
    "MRI right hip: diffuse bone marrow edema of the right femoral head. No fracture line.",
    "Sağ kalça MR: sağ femur başında yaygın kemik iliği ödemi. Kırık hattı izlenmedi.",
    "右髋关节MRI：右侧股骨头弥漫性骨髓水肿，未见骨折线。",
)


def warm_up(now: datetime) -> Analysis:
    """Load, once, what the first analysis of a process would otherwise load on a request: the
    fhir.resources models of every type read and how each is validated in parts, the report
    reader's pipelines and language detector, the terminology tables and the knowledge base. A
    service calls it before taking requests, so its first CDS Hooks call is as fast as the others.
    Returns the warm-up analysis (its record holds what the reader found in each language)."""
    from bmefhir.normalize.parse import READ_TYPES, model_for, prepare
    from bmefhir.reporttext.language import preload_models

    preload_models()
    for resource_type in sorted(READ_TYPES):
        model_for(resource_type)
    prepare()  # how each model the read types reach is validated in parts (normalize/parse.py)
    patient = {"resourceType": "Patient", "id": "warm-up", "gender": "female", "birthDate": "1970-01-01"}
    reports = [
        {
            "resourceType": "DiagnosticReport",
            "id": f"warm-up-{i}",
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
            "code": {"text": "MRI"},
            "subject": {"reference": "Patient/warm-up"},
            "effectiveDateTime": "2024-01-01",
            "conclusion": text,
        }
        for i, text in enumerate(_WARM_UP_REPORTS)
    ]
    return analyse_patient([patient, *reports], now)
