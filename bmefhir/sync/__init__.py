"""Scheduled sync jobs: discover changed patients, re-analyse them, write back only changes.

``executors`` holds the per-patient unit of work and the executor interface
(``LocalExecutor`` here, ``CeleryExecutor`` in ``celery_app``); ``store`` the
state (cursors, runs, dead letters, the per-server lease); ``discovery`` finds
changed patients; ``runner`` ties one run together; ``schedule`` repeats it.
"""

from bmefhir.sync.executors import Executor, LocalExecutor, PatientJob, PatientOutcome, process_one
from bmefhir.sync.spec import AuthConfig, SyncJobSpec

__all__ = ["AuthConfig", "Executor", "LocalExecutor", "PatientJob", "PatientOutcome", "SyncJobSpec", "process_one"]
