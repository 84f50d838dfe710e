"""Periodic checks that no request triggers: time-driven field alerts and cash in hand.

A collector who stops moving, or whose phone goes quiet, sends nothing that could raise the
``idle_too_long`` or ``device_silent`` alert, and field cash arrives by sync, not through the
cash report. So these are re-evaluated on a clock:

* by default a daemon thread of each server process runs :func:`periodic_checks` every
  ``ALERT_CHECK_INTERVAL_S`` seconds, started by the first request (CLI commands such as
  ``flask db upgrade`` never start it);
* with ``REDIS_URL``, where several server processes would each run it, none does: ``rq cron
  server.cron`` enqueues the same job on the ``alerts`` queue and ``rq worker alerts`` runs it.

What was announced is kept in ``field_alerts``, so a check that runs twice announces nothing
twice.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask

from server.extensions import db

log = logging.getLogger(__name__)


def periodic_checks() -> dict[str, int]:
    """Re-evaluate every collector's field alerts and cash in hand; announce the changes."""
    from server.services import cash, tracking

    raised = tracking.refresh_alerts()
    cash_events = cash.check_cash_limits()
    return {"alerts_raised": len(raised), "cash_events": len(cash_events)}


class AlertScheduler:
    """A daemon thread running :func:`periodic_checks` in an app context at a fixed interval."""

    def __init__(self, app: Flask, interval_s: float) -> None:
        self._app = app
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="alert-scheduler", daemon=True
                )
                self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._app.app_context():
                try:
                    periodic_checks()
                except Exception:  # the next tick tries again; a request must never see this
                    log.exception("alert scheduler: periodic checks failed")
                    db.session.rollback()
                finally:
                    db.session.remove()


def init_scheduler(app: Flask) -> None:
    """Run the checks in this process unless Redis hands them to ``rq cron`` (or disabled)."""
    interval_s = float(app.config.get("ALERT_CHECK_INTERVAL_S") or 0)
    if interval_s <= 0 or app.config.get("REDIS_URL"):
        return
    scheduler = AlertScheduler(app, interval_s)
    app.extensions["alert_scheduler"] = scheduler

    @app.before_request
    def _start_alert_scheduler() -> Any:
        scheduler.ensure_started()
        return None
