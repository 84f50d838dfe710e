"""RQ cron configuration, used with Redis: ``rq cron server.cron --url $REDIS_URL``.

Enqueues the periodic alert checks on the ``alerts`` queue every ``ALERT_CHECK_INTERVAL_S``
seconds (default 60); ``rq worker alerts`` runs them in an app built from the environment.
Run one ``rq cron`` per installation.
"""

from __future__ import annotations

import os

from rq import cron

from server.jobs import run_job

cron.register(
    run_job,
    "alerts",
    args=("server.schedule:periodic_checks",),
    interval=max(1, int(float(os.environ.get("ALERT_CHECK_INTERVAL_S", "60")))),
    job_timeout=300,
    name="periodic_checks",
)
