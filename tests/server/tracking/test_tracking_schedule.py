"""Time-driven alerts: the in-process scheduler and, with Redis, RQ's cron plus a worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue

from server import create_app
from server.extensions import db
from server.models import FieldAlert
from server.schedule import AlertScheduler
from server.services.tracking import stream_hub
from tests.conftest import base_config

URL = "/api/v1/tracking/positions"
ROOT = Path(__file__).resolve().parents[3]


def quiet_since(minutes: float) -> dict[str, Any]:
    moment = datetime.now(UTC) - timedelta(minutes=minutes)
    return {"fix_time": moment.isoformat(), "lat": -12.05, "lon": -77.03}


def open_alerts() -> list[tuple[int, str]]:
    db.session.expire_all()
    rows = db.session.execute(
        db.select(FieldAlert.collector_id, FieldAlert.kind).where(FieldAlert.resolved_at.is_(None))
    ).all()
    return [(row.collector_id, row.kind) for row in rows]


def test_scheduler_raises_a_silent_device_alert_without_any_read(
    app: Flask, client: FlaskClient, handheld: Any
) -> None:
    """Nothing is posted or read after the last fix: only the clock can notice the silence."""
    response = client.post(URL, json={"positions": [quiet_since(25)]}, headers=handheld.bearer)
    assert response.get_json()["accepted"] == 1
    assert open_alerts() == []
    subscription = stream_hub().subscribe()
    scheduler = AlertScheduler(app, interval_s=0.05)
    scheduler.ensure_started()
    try:
        message = subscription.get(timeout=10)
        assert message is not None
        event = json.loads(message)
        assert event["event"] == "alert"
        assert (event["data"]["collector_id"], event["data"]["kind"]) == (
            handheld.collector.id,
            "device_silent",
        )
        time.sleep(0.3)  # several more ticks: the open alert is not raised again
        assert subscription.get(timeout=0.1) is None
    finally:
        scheduler.stop()
        subscription.close()
    assert open_alerts() == [(handheld.collector.id, "device_silent")]


def test_the_first_request_starts_the_scheduler_unless_redis_takes_over(
    database_url: str, tmp_path: Path
) -> None:
    config = {**base_config(tmp_path, database_url), "ALERT_CHECK_INTERVAL_S": 30.0}
    local = create_app(config)
    scheduler = local.extensions["alert_scheduler"]
    assert scheduler._thread is None  # CLI commands build the app too: no thread for them
    local.test_client().get("/healthz")
    try:
        assert scheduler._thread is not None and scheduler._thread.is_alive()
    finally:
        scheduler.stop()
    shared = create_app({**config, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert "alert_scheduler" not in shared.extensions
    testing = create_app(base_config(tmp_path, database_url))
    assert "alert_scheduler" not in testing.extensions


@pytest.mark.e2e
def test_with_redis_rq_cron_enqueues_the_checks_and_a_worker_raises_the_alert(
    app: Flask, client: FlaskClient, handheld: Any, database_url: str, redis_url: str
) -> None:
    client.post(URL, json={"positions": [quiet_since(25)]}, headers=handheld.bearer)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": app.config["INSTANCE_PATH"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "REDIS_URL": redis_url,
        "ALERT_CHECK_INTERVAL_S": "60",
    }
    rq = str(Path(sys.executable).parent / "rq")
    queue = Queue("alerts", connection=Redis.from_url(redis_url))
    cron = subprocess.Popen(
        [rq, "cron", "server.cron", "--url", redis_url],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while queue.count == 0 and time.monotonic() < deadline and cron.poll() is None:
            time.sleep(0.2)
    finally:
        cron.terminate()
        _, stderr = cron.communicate(timeout=30)
    assert queue.count == 1, stderr.decode()[-2000:]
    assert open_alerts() == []
    worker = subprocess.run(
        [rq, "worker", "alerts", "--burst", "--url", redis_url],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert open_alerts() == [(handheld.collector.id, "device_silent")]
