"""gunicorn settings shared by `make run`, `make serve` and the benchmarks (gunicorn reads this
file from the working directory; command-line flags still choose workers and threads)."""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Move the app's long-lived objects (models, routes, schemas) out of the collector's way.

    Without this, every full collection walks them again; on the live view for 1,000
    collectors that was a fifth of the request's CPU.
    """
    gc.freeze()


def pins_workers(environ: Mapping[str, str]) -> bool:
    """On SQLite, each worker's threads stay on one core (``GUNICORN_PIN_WORKERS`` = 1 or 0
    forces it either way; bench/tracking.py reads this to label its table).

    The threads of one process take turns holding the GIL; when the scheduler spreads them
    over cores, every hand-off wakes a thread on another core and the GIL and the request's
    data travel with it. Pinned (worker n on core n, round robin), two SQLite workers took
    4.4-5.4 ms of CPU per position batch instead of 6.7-7.2 ms (bench/tracking.py). With a
    PostgreSQL server on the same cores it did harm while the connection pool still churned
    (its backends and the pinned workers queued for the same core); one later run with a
    right-sized pool did better pinned, which does not settle it, so there the scheduler
    keeps its freedom.
    """
    wanted = environ.get("GUNICORN_PIN_WORKERS")
    if wanted is not None:
        return wanted == "1"
    return environ.get("DATABASE_URL", "sqlite").startswith("sqlite")


def post_fork(server: Any, worker: Any) -> None:
    """Pin the worker to its core when :func:`pins_workers` says so."""
    if not pins_workers(os.environ) or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[(worker.age - 1) % len(cores)]})
