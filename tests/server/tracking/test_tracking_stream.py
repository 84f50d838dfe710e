"""GET /api/v1/tracking/stream: Server-Sent Events to two subscribers in one process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import Flask
from flask.testing import FlaskClient

STREAM = "/api/v1/tracking/stream"


def next_event(chunks: Iterator[bytes], kind: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """Read SSE chunks until an event of ``kind`` arrives (keep-alives are skipped)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = next(chunks).decode()
        fields = dict(
            line.split(": ", 1) for line in text.strip().splitlines() if not line.startswith(":")
        )
        if fields.get("event") == kind:
            return json.loads(fields["data"])  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} event within {timeout_s} s")


def test_two_subscribers_both_receive_a_position(
    app: Flask, client: FlaskClient, handheld: Any, auth_header: Any, staff: Any
) -> None:
    app.config["TRACKING_SSE_HEARTBEAT_S"] = 0.2
    first = client.get(STREAM, headers=auth_header("dispatcher"), buffered=False)
    second = client.get(STREAM, headers=auth_header("manager"), buffered=False)
    assert first.mimetype == "text/event-stream"
    streams = [cast(Iterator[bytes], iter(sub.response)) for sub in (first, second)]
    assert all(next(chunks).startswith(b"retry:") for chunks in streams)

    moment = datetime.now(UTC) - timedelta(seconds=5)
    fix = {"fix_time": moment.isoformat(), "lat": -12.05, "lon": -77.03, "accuracy_m": 5}
    client.post("/api/v1/tracking/positions", json={"positions": [fix]}, headers=handheld.bearer)

    for chunks in streams:
        event = next_event(chunks, "position")
        assert event["collector_id"] == handheld.collector.id
        assert event["username"] == "collector01"
        assert (event["lat"], event["lon"]) == (-12.05, -77.03)
        assert event["fix_time"] == moment.isoformat()
    first.close()
    second.close()


def test_alerts_are_pushed_on_the_stream(
    app: Flask, client: FlaskClient, handheld: Any, auth_header: Any, staff: Any
) -> None:
    app.config["TRACKING_SSE_HEARTBEAT_S"] = 0.2
    response = client.get(STREAM, headers=auth_header("dispatcher"), buffered=False)
    chunks = cast(Iterator[bytes], iter(response.response))
    next(chunks)
    fix = {"fix_time": datetime.now(UTC).isoformat(), "lat": -12.05, "lon": -77.03, "mock": True}
    client.post("/api/v1/tracking/positions", json={"positions": [fix]}, headers=handheld.bearer)
    alert = next_event(chunks, "alert")
    assert (alert["kind"], alert["collector_id"]) == ("mock_location", handheld.collector.id)
    response.close()


def test_stream_needs_a_staff_token(client: FlaskClient, handheld: Any) -> None:
    assert client.get(STREAM).status_code == 401
    assert client.get(STREAM, headers=handheld.bearer).status_code == 403
