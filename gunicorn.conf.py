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
    """Each worker's threads stay on one core unless ``GUNICORN_PIN_WORKERS=0``
    (bench/tracking.py reads this to label its table).

    The threads of one process take turns holding the GIL; when the scheduler spreads them
    over cores, every hand-off wakes a thread on another core and the GIL and the request's
    data travel with it. Pinned (worker n on core n, round robin), two SQLite workers took
    4.4-5.4 ms of CPU per position batch instead of 6.7-7.2 ms. On PostgreSQL, with the
    database on the same two cores, four pinned and four unpinned OsmAnd runs (300 fixes/s,
    back to back) gave p99 of 12-23 ms against 28-345 ms after a first run, and 12.9-16.7k
    against 9.2-12.5k batch fixes/s (bench/tracking.py's load, 2026-11-27).
    """
    return environ.get("GUNICORN_PIN_WORKERS", "1") != "0"


def post_fork(server: Any, worker: Any) -> None:
    """Pin the worker to its core when :func:`pins_workers` says so."""
    if not pins_workers(os.environ) or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[(worker.age - 1) % len(cores)]})
