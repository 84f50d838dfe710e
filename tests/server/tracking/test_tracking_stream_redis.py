"""Two real server processes share the tracking stream through a real Redis server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up within {timeout_s} s")


def start_server(database_url: str, redis_url: str, tmp: Path, secret: str) -> tuple[Any, str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secret,
        "INSTANCE_PATH": str(tmp),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "server",
            "run",
            "--port",
            str(port),
            "--no-reload",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(f"{base}/healthz", timeout=1).ok, 30, "server")
    return process, base


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
    app: Any,
    database_url: str,
    handheld: Any,
    auth_header: Any,
    staff: Any,
    redis_url: str,
    tmp_path: Path,
) -> None:
    token = auth_header("dispatcher")
    secret = app.config["SECRET_KEY"]
    first, first_url = start_server(database_url, redis_url, tmp_path / "a", secret)
    second, second_url = start_server(database_url, redis_url, tmp_path / "b", secret)
    try:
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
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(timeout=10)
