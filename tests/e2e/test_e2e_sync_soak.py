"""Soak: several handhelds over a flaky network while the server is killed and restarted.

At the end the server's records must equal the union of what the devices created: nothing
lost, nothing twice.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from .test_e2e_sync_harness import (
    PASSWORD,
    ROOT,
    Dispatcher,
    FlakyProxy,
    ServerProcess,
    build_database,
)

pytestmark = pytest.mark.e2e
COLLECTORS = 3
STOPS = 6


def test_soak_nothing_lost_nothing_twice(tmp_path: Path) -> None:
    url = build_database(tmp_path, collectors=COLLECTORS, stops=STOPS)
    server = ServerProcess(tmp_path, url)
    server.start()
    proxy = FlakyProxy(server.port, seed=7, drop=0.1, cut=0.1, max_delay_s=0.2)
    done = threading.Event()
    restarts = 0

    def chaos() -> None:
        nonlocal restarts
        rng = random.Random(3)
        # The first kill comes early so that even a fast machine sees one mid-walk.
        pause = rng.uniform(1.0, 2.0)
        while not done.wait(pause):
            pause = rng.uniform(4, 7)
            server.kill()
            time.sleep(rng.uniform(0.2, 1.0))
            server.start()
            restarts += 1

    handhelds = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mobile_client_stub",
                "simulate",
                "--server",
                proxy.url,
                "--username",
                f"walker{c}",
                "--password",
                PASSWORD,
                "--seed",
                str(c),
                "--state-dir",
                str(tmp_path / f"walker{c}"),
                "--speedup",
                "8000",
                "--offline-every",
                "90",
                "--offline-for",
                "40",
                "--max-wait",
                "45",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for c in range(COLLECTORS)
    ]
    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()
    try:
        outputs = [h.communicate(timeout=120) for h in handhelds]
    finally:
        done.set()
        chaos_thread.join(30)
        proxy.close()
    try:
        if server.process is None:
            server.start()
        for h, (_out, err) in zip(handhelds, outputs, strict=True):
            assert h.returncode == 0, err.decode()[-3000:]
        summaries = [json.loads(out) for out, _ in outputs]
        dispatcher = Dispatcher.login(server.url, tmp_path, url)
        visits = dispatcher.visits()
    finally:
        server.close()

    assert restarts >= 1 and proxy.stats["dropped"] > 0
    for summary in summaries:
        assert summary["pending"] == {"mutations": 0, "photos": [], "positions": 0}
        assert summary["rejected"] == []

    def union(kind: str) -> Counter[str]:
        return Counter(key for s in summaries for key in s["created"][kind])

    assert sum(union("visits").values()) == COLLECTORS * STOPS
    assert Counter(v["client_uuid"] for v in visits) == union("visits")
    payments = Counter(p["client_uuid"] for v in visits for p in v["payments"])
    assert payments == union("payments")
    promises = Counter(v["promise"]["client_uuid"] for v in visits if v["promise"])
    assert promises == union("promises")
    photos = [p for v in visits for p in v["photos"]]
    assert Counter(p["sha256"] for p in photos) == union("photos")
    assert all(p["arrived"] for p in photos)
    assert all(v["disposition"] and v["checked_out_at"] for v in visits)
