"""Two real server processes share the tracking stream through a real Redis server."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e


class Listener(threading.Thread):
    """Reads one SSE connection and keeps its events."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.connected = threading.Event()
        self.events: list[tuple[str, dict[str, Any]]] = []

    def run(self) -> None:
        with requests.get(self.url, headers=self.headers, stream=True, timeout=30) as response:
            kind = None
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("retry:"):
                    self.connected.set()
                elif line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind:
                    self.events.append((kind, json.loads(line.removeprefix("data: "))))
                    if kind == "position":
                        return


def test_position_posted_to_one_process_reaches_subscribers_of_both(
    handheld: Any,
    auth_header: Any,
    staff: Any,
    redis_url: str,
    live_server: Any,
) -> None:
    token = auth_header("dispatcher")
    first_url = live_server(REDIS_URL=redis_url)
    second_url = live_server(REDIS_URL=redis_url)
    listeners = [
        Listener(f"{base}/api/v1/tracking/stream", token) for base in (first_url, second_url)
    ]
    for listener in listeners:
        listener.start()
        assert listener.connected.wait(10)
    fix = {"fix_time": datetime.now(UTC).isoformat(), "lat": -12.05, "lon": -77.03}
    response = requests.post(
        f"{second_url}/api/v1/tracking/positions",
        json={"positions": [fix]},
        headers=handheld.bearer,
        timeout=10,
    )
    assert response.json()["accepted"] == 1
    for listener in listeners:
        listener.join(timeout=10)
        positions = [data for kind, data in listener.events if kind == "position"]
        assert [p["collector_id"] for p in positions] == [handheld.collector.id]


def test_events_published_together_reach_subscribers_once_each_in_order(
    redis_url: str, app: Any
) -> None:
    """The publisher sends a burst as one Redis message; the listener splits it again."""
    from server.services.tracking import StreamHub

    publisher, listener = StreamHub(redis_url), StreamHub(redis_url)
    subscription = listener.subscribe()
    try:
        for n in range(5):
            publisher.publish("position", {"n": n, "note": "line\nbreak"})
        received = [subscription.get(timeout=5) for _ in range(5)]
        assert [json.loads(m)["data"]["n"] for m in received if m] == [0, 1, 2, 3, 4]
        assert json.loads(received[0] or "{}")["data"]["note"] == "line\nbreak"
        assert subscription.get(timeout=0.2) is None
    finally:
        subscription.close()
        publisher.close()
        listener.close()
