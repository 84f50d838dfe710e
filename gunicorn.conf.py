"""gunicorn settings shared by `make run`, `make serve` and the benchmarks (gunicorn reads this
file from the working directory; command-line flags still choose workers and threads)."""

from __future__ import annotations

import gc
import os
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Move the app's long-lived objects (models, routes, schemas) out of the collector's way.

    Without this, every full collection walks them again; on the live view for 1,000
    collectors that was a fifth of the request's CPU.
    """
    gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    """Keep each worker's threads on one core (``GUNICORN_PIN_WORKERS=0`` turns this off).

    The threads of one process take turns holding the GIL; when the scheduler spreads them
    over cores, every hand-off wakes a thread on another core and the GIL and the request's
    data travel with it. Pinned (worker n on core n, round robin), two SQLite workers took
    about 4.4 ms of CPU per position batch instead of 6.7-7.2 ms and sustained about 17,000
    fixes/s instead of 10,000 (bench/tracking.py); on PostgreSQL it made no clear difference.
    """
    if os.environ.get("GUNICORN_PIN_WORKERS", "1") == "0" or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[(worker.age - 1) % len(cores)]})
