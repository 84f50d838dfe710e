"""The tus chunk path: owners, size limits, cut-off bodies, racing finishes, expiration, purge."""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from server import jobs
from server.extensions import db
from server.models import MediaUpload
from server.services import media
from sync.tus import encode_metadata

from .conftest import Handheld, register
from .test_sync_api_media import TUS, create, head, patch, photo, stored_files

CHUNK = {"Content-Type": "application/offset+octet-stream"}


def upload_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def part_file(app: Flask, url: str) -> Path:
    return Path(app.config["MEDIA_DIR"]) / "uploads" / f"{upload_id(url)}.part"


def status(url: str) -> str:
    with db.engine.connect() as other:
        return str(
            other.execute(
                select(MediaUpload.status).where(MediaUpload.id == upload_id(url))
            ).scalar_one()
        )


def age(app: Flask, url: str, seconds: float) -> None:
    """Make an upload look as if it was created and last written ``seconds`` ago."""
    past = time.time() - seconds
    os.utime(part_file(app, url), (past, past))
    db.session.execute(
        update(MediaUpload)
        .where(MediaUpload.id == upload_id(url))
        .values(created_at=datetime.now(UTC) - timedelta(seconds=seconds))
    )
    db.session.commit()


def test_only_the_owning_device_continues_an_upload(
    client: Any, auth_header: Any, factory: Any, handheld: Handheld
) -> None:
    data = photo(20)
    url = create(handheld, data).headers["Location"]
    # The same collector signed in without the device, and another collector's device.
    user_headers = {**TUS, **CHUNK, **auth_header(handheld.collector.user), "Upload-Offset": "0"}
    assert client.patch(url, data=data, headers=user_headers).status_code == 404
    other = register(client, auth_header, factory.collector("beto"))
    assert patch(other, url, 0, data).status_code == 404
    assert patch(handheld, url, 0, data).status_code == 204


def test_an_upload_made_with_a_user_token_belongs_to_that_user(
    client: Any, auth_header: Any, handheld: Handheld
) -> None:
    data = photo(20, seed=3)
    user = auth_header(handheld.collector.user)
    created = client.post(
        "/api/v1/media/",
        headers={
            **TUS,
            **user,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": encode_metadata({"sha256": hashlib.sha256(data).hexdigest()}),
        },
    )
    url = created.headers["Location"]
    assert patch(handheld, url, 0, data).status_code == 404
    response = client.patch(url, data=data, headers={**TUS, **CHUNK, **user, "Upload-Offset": "0"})
    assert response.status_code == 204
    assert status(url) == "complete"


def test_a_revoked_device_cannot_send_chunks(
    client: Any, auth_header: Any, handheld: Handheld
) -> None:
    data = photo(20, seed=4)
    url = create(handheld, data).headers["Location"]
    revoked = client.delete(
        f"/api/v1/devices/{handheld.device_id}", headers=auth_header(handheld.collector.user)
    )
    assert revoked.status_code == 204
    response = patch(handheld, url, 0, data)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"


def test_a_chunk_past_the_declared_length_is_refused(app: Flask, handheld: Handheld) -> None:
    data = photo(20, seed=5)
    url = create(handheld, data).headers["Location"]
    response = patch(handheld, url, 0, data + b"extra")
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 413 and response.headers["Tus-Resumable"] == "1.0.0"
    assert head(handheld, url).headers["Upload-Offset"] == "0"


def test_a_body_cut_off_on_the_way_is_kept_without_checksum_and_refused_with_one(
    app: Flask, handheld: Handheld
) -> None:
    data = photo(60, seed=6)
    url = create(handheld, data).headers["Location"]
    headers = {**TUS, **CHUNK, **handheld.headers}
    # The connection drops after 20,000 bytes of a body announced as the whole file.
    cut = handheld.client.patch(
        url,
        input_stream=io.BytesIO(data[:20_000]),
        headers={**headers, "Upload-Offset": "0"},
        environ_overrides={"CONTENT_LENGTH": str(len(data))},
    )
    assert cut.status_code == 204
    assert head(handheld, url).headers["Upload-Offset"] == "20000"
    digest = "sha256 " + base64.b64encode(hashlib.sha256(data[20_000:]).digest()).decode()
    refused = handheld.client.patch(
        url,
        input_stream=io.BytesIO(data[20_000:30_000]),
        headers={**headers, "Upload-Offset": "20000", "Upload-Checksum": digest},
        environ_overrides={"CONTENT_LENGTH": str(len(data) - 20_000)},
    )
    assert refused.status_code == 400
    assert head(handheld, url).headers["Upload-Offset"] == "20000"
    assert patch(handheld, url, 20_000, data[20_000:]).status_code == 204
    assert stored_files(app)[0].read_bytes() == data


def test_racing_final_chunks_finish_the_upload_exactly_once(app: Flask, handheld: Handheld) -> None:
    data = photo(200, seed=7)
    url = create(handheld, data).headers["Location"]
    half = len(data) // 2
    assert patch(handheld, url, 0, data[:half]).status_code == 204
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def send() -> None:
        with app.app_context():
            barrier.wait()
            statuses.append(patch(handheld, url, half, data[half:]).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [204, 409, 409, 409]
    assert [p.read_bytes() == data for p in stored_files(app)] == [True]
    assert status(url) == "complete"
    assert head(handheld, url).headers["Upload-Offset"] == str(len(data))


def test_a_finish_that_stopped_after_moving_the_file_is_recorded_on_the_next_head(
    app: Flask, handheld: Handheld
) -> None:
    data = photo(30, seed=20)
    url = create(handheld, data).headers["Location"]
    sha = hashlib.sha256(data).hexdigest()
    (Path(app.config["MEDIA_DIR"]) / sha[:2]).mkdir(parents=True)
    part_file(app, url).write_bytes(data)
    part_file(app, url).rename(Path(app.config["MEDIA_DIR"]) / sha[:2] / sha)
    assert head(handheld, url).headers["Upload-Offset"] == str(len(data))
    assert status(url) == "complete"
    # A part lost with nothing under its hash is gone, not silently restarted.
    lost = create(handheld, photo(30, seed=21)).headers["Location"]
    part_file(app, lost).unlink()
    assert head(handheld, lost).status_code == 410
    assert patch(handheld, lost, 0, b"\xff\xd8\xff").status_code == 410


def test_responses_say_when_an_unfinished_upload_expires(app: Flask, handheld: Handheld) -> None:
    data = photo(40, seed=8)
    created = create(handheld, data)
    url = created.headers["Location"]
    ttl = timedelta(seconds=app.config["MEDIA_UPLOAD_TTL_S"])
    for response in (created, patch(handheld, url, 0, data[:1000]), head(handheld, url)):
        expires = parsedate_to_datetime(response.headers["Upload-Expires"])
        assert abs(expires - (datetime.now(UTC) + ttl)) < timedelta(seconds=5)
    finished = patch(handheld, url, 1000, data[1000:])
    assert finished.status_code == 204 and "Upload-Expires" not in finished.headers


def test_an_expired_upload_is_gone(app: Flask, handheld: Handheld) -> None:
    data = photo(40, seed=9)
    url = create(handheld, data).headers["Location"]
    assert patch(handheld, url, 0, data[:1000]).status_code == 204
    age(app, url, app.config["MEDIA_UPLOAD_TTL_S"] + 60)
    assert head(handheld, url).status_code == 410
    response = patch(handheld, url, 1000, data[1000:])
    assert response.status_code == 410
    assert response.content_type == "application/problem+json"


def test_purge_removes_abandoned_uploads_and_keeps_live_ones(
    app: Flask, handheld: Handheld
) -> None:
    stale_ttl = app.config["MEDIA_UPLOAD_TTL_S"] + 60
    abandoned, live, arrived = photo(30, seed=10), photo(30, seed=11), photo(30, seed=12)
    abandoned_url = create(handheld, abandoned).headers["Location"]
    patch(handheld, abandoned_url, 0, abandoned[:5000])
    age(app, abandoned_url, stale_ttl)
    live_url = create(handheld, live).headers["Location"]
    patch(handheld, live_url, 0, live[:5000])
    # Every byte arrived but the server stopped before finishing: purging finishes it.
    arrived_url = create(handheld, arrived).headers["Location"]
    part_file(app, arrived_url).write_bytes(arrived)
    age(app, arrived_url, stale_ttl)
    # Moved under its hash by a finish that stopped before recording it.
    moved = photo(30, seed=19)
    moved_url = create(handheld, moved).headers["Location"]
    age(app, moved_url, stale_ttl)
    target = Path(app.config["MEDIA_DIR"]) / hashlib.sha256(moved).hexdigest()[:2]
    target.mkdir(parents=True)
    part_file(app, moved_url).write_bytes(moved)
    part_file(app, moved_url).rename(target / hashlib.sha256(moved).hexdigest())
    # A part file whose upload row never committed.
    orphan = Path(app.config["MEDIA_DIR"]) / "uploads" / "never-committed.part"
    orphan.write_bytes(b"\xff\xd8\xff")
    os.utime(orphan, (time.time() - stale_ttl, time.time() - stale_ttl))

    result = app.test_cli_runner().invoke(args=["purge-uploads"])
    assert result.exit_code == 0, result.output
    assert "Expired 1 uploads, finished 2, removed 1 orphaned part files." in result.output
    assert status(abandoned_url) == "expired" and not part_file(app, abandoned_url).exists()
    assert head(handheld, abandoned_url).status_code == 410
    assert status(live_url) == "uploading"
    assert head(handheld, live_url).headers["Upload-Offset"] == "5000"
    assert status(arrived_url) == "complete" and status(moved_url) == "complete"
    assert sorted(p.read_bytes() for p in stored_files(app)) == sorted([arrived, moved])
    assert not orphan.exists()


def test_creating_uploads_queues_the_purge_in_the_background(
    app: Flask, handheld: Handheld
) -> None:
    app.config["MEDIA_PURGE_EVERY_S"] = 0
    url = create(handheld, photo(30, seed=13)).headers["Location"]
    age(app, url, app.config["MEDIA_UPLOAD_TTL_S"] + 60)
    create(handheld, photo(30, seed=14))
    jobs.wait_for_queue("media")
    assert status(url) == "expired"
    # The next purge is due an interval after the last one: within it, nothing is queued.
    app.config["MEDIA_PURGE_EVERY_S"] = 3600
    create(handheld, photo(30, seed=15))
    jobs.wait_for_queue("media")
    url = create(handheld, photo(30, seed=17)).headers["Location"]
    age(app, url, app.config["MEDIA_UPLOAD_TTL_S"] + 60)
    create(handheld, photo(30, seed=16))
    jobs.wait_for_queue("media")
    assert status(url) == "uploading"


def test_a_chunk_the_disk_could_not_store_is_not_counted(
    app: Flask, handheld: Handheld, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = photo(40, seed=18)
    url = create(handheld, data).headers["Location"]
    assert patch(handheld, url, 0, data[:10_000]).status_code == 204

    real_write = os.write
    calls = []

    def disk_full(fd: int, data: memoryview) -> int:
        # The first write stores part of the chunk, the next finds the disk full.
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(media.os, "write", disk_full)
    failed = patch(handheld, url, 10_000, data[10_000:])
    assert failed.status_code == 503 and failed.headers["Retry-After"]
    assert head(handheld, url).headers["Upload-Offset"] == "10000"
    monkeypatch.undo()
    assert patch(handheld, url, 10_000, data[10_000:]).status_code == 204
    assert stored_files(app)[0].read_bytes() == data


@pytest.mark.parametrize("other_worker_wrote_a_chunk", [False, True])
def test_the_whole_file_is_checked_against_its_sha256_however_its_chunks_arrived(
    app: Flask, handheld: Handheld, other_worker_wrote_a_chunk: bool
) -> None:
    """Hashed as the chunks arrive, or read again when this process did not see them all."""
    data, chunk = photo(96, seed=8), 32 * 1024
    half = len(data) // 2
    liar = data[:half] + photo(96, seed=9)[: len(data) - half]  # same size, another file
    good = create(handheld, data).headers["Location"]
    bad = create(handheld, data).headers["Location"]
    for offset in range(0, len(data), chunk):
        if other_worker_wrote_a_chunk and offset == chunk:
            media._running_digests.clear()  # as if another process had taken the last chunk
        assert patch(handheld, good, offset, data[offset : offset + chunk]).status_code == 204
        # Every chunk is intact on the way (its checksum matches), yet the file is another.
        sent = patch(handheld, bad, offset, liar[offset : offset + chunk])
        assert sent.status_code == (460 if offset + chunk >= len(data) else 204)
    assert [p.read_bytes() for p in stored_files(app)] == [data]
    assert (status(good), status(bad)) == ("complete", "failed")
