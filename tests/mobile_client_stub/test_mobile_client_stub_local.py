"""The handheld's local parts: generated photos, the store and outbox, backoff, CLI guards."""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from pathlib import Path

import pytest
from PIL import Image

from mobile_client_stub.cli import main
from mobile_client_stub.engine import Backoff
from mobile_client_stub.photos import make_jpeg, make_png
from mobile_client_stub.simulator import FUNNEL, haversine_m
from mobile_client_stub.store import LocalStore
from sync.media import sniff_image_type


@pytest.mark.parametrize("padding", [0, 50_000, 200_000])
def test_generated_jpeg_decodes_and_is_unique(padding: int) -> None:
    rng = random.Random(padding)
    a, b = make_jpeg(rng, "a", padding), make_jpeg(rng, "b", padding)
    for data in (a, b):
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.format == "JPEG"
        assert sniff_image_type(data[:16]) == "image/jpeg"
        assert len(data) >= padding
    assert hashlib.sha256(a).digest() != hashlib.sha256(b).digest()


def test_generated_png_decodes() -> None:
    data = make_png(random.Random(1), "receipt R-LIM-000001")
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG" and image.size == (16, 16)
    assert sniff_image_type(data[:16]) == "image/png"


def test_outbox_counts_without_gaps_and_survives_a_failed_stop(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with store.transaction():
        assert store.enqueue("add_note", {"text": "a"}, "2026-11-27T10:00:00Z") == 1
        assert store.enqueue("add_note", {"text": "b"}, "2026-11-27T10:01:00Z") == 2
    with pytest.raises(RuntimeError), store.transaction():
        store.enqueue("add_note", {"text": "lost"}, "2026-11-27T10:02:00Z")
        raise RuntimeError("killed mid-stop")
    with store.transaction():
        assert store.enqueue("add_note", {"text": "c"}, "2026-11-27T10:03:00Z") == 3
    assert [e.id for e in store.outbox(10)] == [1, 2, 3]
    store.acknowledge([(1, "add_note", "applied", None, {"note_id": 9})])
    assert [e.id for e in store.outbox(10)] == [2, 3]
    store.close()
    reopened = LocalStore(tmp_path)
    assert [e.args["text"] for e in reopened.outbox(10)] == ["b", "c"]


def test_upload_bookkeeping_is_kept_and_captures_stay_flushed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.add_photo("ab" * 32, b"\xff\xd8 photo", "image/jpeg")
    store.set_upload_url("ab" * 32, "http://server/api/v1/media/u1")
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
    store.close()
    reopened = LocalStore(tmp_path)
    assert [p.upload_url for p in reopened.pending_photos()] == ["http://server/api/v1/media/u1"]
    reopened.photo_uploaded("ab" * 32)
    assert reopened.pending_photos() == []
    assert reopened.db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_receipts_come_from_blocks_in_order(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.add_receipt_block("LIM", 1001, 1002)
    store.add_receipt_block("LIM", 1, 1)
    store.add_receipt_block("LIM", 1, 1)  # the same block announced twice is kept once
    assert store.receipts_left() == 3
    assert [store.take_receipt() for _ in range(4)] == [
        ("LIM", 1),
        ("LIM", 1001),
        ("LIM", 1002),
        None,
    ]


def test_day_replacement_and_tombstones(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for k in (1, 2, 3):
        store.upsert_stop(
            {"stop_id": k, "account_id": 10 + k, "sequence": 4 - k, "status": "active"}
        )
    store.upsert_stop({"stop_id": 2, "account_id": 12, "sequence": 9, "status": "done"})
    store.remove("stop", 1)
    assert [s["stop_id"] for s in store.stops_to_walk()] == [3]
    store.replace_day()
    assert store.stops_to_walk() == []


def test_backoff_grows_with_full_jitter() -> None:
    backoff = Backoff(random.Random(4), base_s=0.5, cap_s=4.0)
    delays = [backoff.next_delay() for _ in range(8)]
    for n, delay in enumerate(delays):
        assert 0 <= delay < min(4.0, 0.5 * 2**n)
    backoff.reset()
    assert backoff.next_delay() < 0.5


def test_funnel_and_distance() -> None:
    assert math.isclose(sum(w for _, w in FUNNEL), 1.0)
    assert {d for d, _ in FUNNEL} == {
        "address_not_found",
        "no_answer",
        "access_denied",
        "third_party_message",
        "debtor_moved",
        "debtor_deceased",
        "refused_to_pay",
        "dispute",
        "negotiating",
        "already_paid",
        "promise_to_pay",
        "payment_collected",
    }
    # Plaza de Armas to Miraflores' Parque Kennedy is about 8.7 km.
    assert 8_000 < haversine_m(-12.0464, -77.0300, -12.1219, -77.0297) < 9_000


def test_cli_guards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--state-dir", str(tmp_path / "empty")]) == 2
    store = LocalStore(tmp_path / "busy")
    store.put("server", "http://127.0.0.1:9")
    store.put("device_id", "d1")
    with store.transaction():
        store.enqueue("add_note", {"text": "unsent"}, "2026-11-27T10:00:00Z")
    assert main(["status", "--state-dir", str(tmp_path / "busy")]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"]["mutations"] == 1
    refused = main(
        [
            "simulate",
            "--server",
            "http://127.0.0.1:9",
            "--username",
            "u",
            "--password",
            "p",
            "--state-dir",
            str(tmp_path / "busy"),
        ]
    )
    assert refused == 2
    assert LocalStore(tmp_path / "busy").count("outbox") == 1
