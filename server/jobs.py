"""Background jobs: an in-process thread pool by default, an RQ queue when REDIS_URL is set."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import import_module
from typing import Any

from flask import Flask, current_app

from server.extensions import db

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def enqueue(queue: str, func: Callable[..., Any], *args: Any) -> Future[Any] | None:
    """Run `func(*args)` in an app context in the background, one job at a time per queue.

    With REDIS_URL, the job goes to the RQ queue of that name (run `rq worker QUEUE`);
    otherwise to this process's pool, and the future is returned for tests and shutdown.
    """
    target = f"{func.__module__}:{func.__qualname__}"
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        from redis import Redis
        from rq import Queue

        Queue(queue, connection=Redis.from_url(redis_url)).enqueue(
            run_job, target, *args, job_timeout=900
        )
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return _pool(queue).submit(_run_in_app, app, target, args)


def _pool(queue: str) -> ThreadPoolExecutor:
    with _pools_lock:
        if queue not in _pools:
            _pools[queue] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=queue)
        return _pools[queue]


def _run_in_app(app: Flask, target: str, args: tuple[Any, ...]) -> Any:
    module, name = target.split(":")
    with app.app_context():
        try:
            return getattr(import_module(module), name)(*args)
        finally:
            db.session.remove()


def run_job(target: str, *args: Any) -> Any:
    """RQ entry point: the worker builds its own app from the environment."""
    from server import create_app

    return _run_in_app(create_app(), target, args)


def wait_for_queue(queue: str, timeout_s: float = 60.0) -> None:
    """Block until the in-process jobs queued so far on `queue` have run (tests, shutdown)."""
    with _pools_lock:
        pool = _pools.get(queue)
    if pool is not None:
        pool.submit(lambda: None).result(timeout=timeout_s)
