"""``bmefhir worker``: a Celery worker that analyses the patients ``bmefhir sync --executor celery`` queues."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from enum import StrEnum
from typing import Annotated

import typer


class Pool(StrEnum):
    prefork = "prefork"
    threads = "threads"
    solo = "solo"


def worker(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", min=1, help="Patients analysed at once (default: CPUs)")
    ] = None,
    broker: Annotated[
        str | None, typer.Option("--broker", help="Broker URL (default: $BMEFHIR_BROKER_URL or local Redis)")
    ] = None,
    pool: Annotated[Pool, typer.Option("--pool", help="prefork (processes), threads or solo")] = Pool.prefork,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Celery log level")] = "INFO",
) -> None:
    """Run a worker until SIGTERM (warm shutdown: running patients finish; unfinished ones are redelivered)."""
    from bmefhir.sync import celery_app  # imported here: Celery is only needed by this command

    if broker:
        settings = celery_app.CelerySettings.from_env()
        celery_app.configure(replace(settings, broker_url=broker, result_backend=settings.result_backend or broker))
    # Celery logs every task's return value at INFO, and outcomes name patients.
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--pool={pool.value}",
        f"--queues={celery_app.QUEUE}",
        f"--hostname=bmefhir-{os.getpid()}@%h",  # unique per process: several workers may share a host
        "--without-gossip",
    ]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    celery_app.app.worker_main(argv)
