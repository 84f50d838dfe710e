"""tus uploads through the API: chunks, resume, refusals, dedupe, and photos arriving late."""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from mobile_client_stub.photos import make_jpeg
from server.extensions import db
from server.models import MediaUpload
from sync.tus import encode_metadata

from .conftest import Handheld

TUS = {"Tus-Resumable": "1.0.0"}


def photo(size_kb: int = 100, seed: int = 1) -> bytes:
    return make_jpeg(random.Random(seed), f"photo {seed}", size_kb * 1024)


def create(handheld: Handheld, data: bytes, sha: str | None = None) -> Any:
    headers = {
        **TUS,
        **handheld.headers,
        "Upload-Length": str(len(data)),
        "Upload-Metadata": encode_metadata(
            {"sha256": sha or hashlib.sha256(data).hexdigest(), "filename": "f.jpg"}
        ),
    }
    return handheld.client.post("/api/v1/media/", headers=headers)


def patch(
    handheld: Handheld, url: str, offset: int, chunk: bytes, checksum: bytes | None = None
) -> Any:
    digest = base64.b64encode(hashlib.sha256(checksum if checksum is not None else chunk).digest())
    headers = {
        **TUS,
        **handheld.headers,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Upload-Checksum": f"sha256 {digest.decode()}",
    }
    return handheld.client.patch(url, data=chunk, headers=headers)


def head(handheld: Handheld, url: str) -> Any:
    return handheld.client.head(url, headers={**TUS, **handheld.headers})


def stored_files(app: Flask) -> list[Path]:
    root = Path(app.config["MEDIA_DIR"])
    return [p for p in root.glob("??/*") if p.is_file()]


def test_options_advertise_the_protocol(handheld: Handheld) -> None:
    response = handheld.client.options("/api/v1/media/")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation",
        "checksum",
        "expiration",
    }
    assert "sha256" in response.headers["Tus-Checksum-Algorithm"]
    assert int(response.headers["Tus-Max-Size"]) == 15 * 1024 * 1024


def test_chunked_upload_with_resume_and_refusals(app: Flask, handheld: Handheld) -> None:
    data = photo(300)
    created = create(handheld, data)
    assert created.status_code == 201
    url = created.headers["Location"]
    assert head(handheld, url).headers["Upload-Offset"] == "0"
    chunk = 64 * 1024
    assert patch(handheld, url, 0, data[:chunk]).status_code == 204
    # A stale chunk at an old offset is refused and changes nothing.
    stale = patch(handheld, url, 0, data[:chunk])
    assert stale.status_code == 409
    # A chunk corrupted on the way is refused with 460.
    corrupted = patch(
        handheld, url, chunk, b"\x00" + data[chunk + 1 : 2 * chunk], data[chunk : 2 * chunk]
    )
    assert corrupted.status_code == 460
    # Resume from what the server says it holds.
    offset = int(head(handheld, url).headers["Upload-Offset"])
    assert offset == chunk
    while offset < len(data):
        response = patch(handheld, url, offset, data[offset : offset + chunk])
        assert response.status_code == 204, response.json
        offset = int(response.headers["Upload-Offset"])
    files = stored_files(app)
    assert [p.name for p in files] == [hashlib.sha256(data).hexdigest()]
    assert files[0].read_bytes() == data
    upload = db.session.execute(select(MediaUpload)).scalar_one()
    assert upload.status == "complete" and upload.mime == "image/jpeg"


def test_same_photo_twice_is_stored_once(app: Flask, handheld: Handheld) -> None:
    data = photo(20)
    url = create(handheld, data).headers["Location"]
    assert patch(handheld, url, 0, data).status_code == 204
    again = create(handheld, data)
    assert again.status_code == 201
    assert again.headers["Upload-Offset"] == str(len(data))
    assert len(stored_files(app)) == 1


def test_file_not_matching_its_declared_hash_is_refused(app: Flask, handheld: Handheld) -> None:
    data = photo(10)
    url = create(handheld, data, sha="0" * 64).headers["Location"]
    response = patch(handheld, url, 0, data)
    assert response.status_code == 460
    assert stored_files(app) == []
    assert head(handheld, url).status_code == 410


def test_non_image_is_refused(handheld: Handheld) -> None:
    data = b"%PDF-1.7 not a photo" * 10
    url = create(handheld, data).headers["Location"]
    assert patch(handheld, url, 0, data).status_code == 415


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Upload-Length": str(16 * 1024 * 1024)}, 413),
        ({"Upload-Metadata": encode_metadata({"filename": "x.jpg"})}, 400),
        ({"Upload-Length": "-4"}, 400),
        ({"Tus-Resumable": "0.2.2"}, 412),
    ],
)
def test_bad_creations(handheld: Handheld, headers: dict[str, str], status: int) -> None:
    base = {
        **TUS,
        **handheld.headers,
        "Upload-Length": "100",
        "Upload-Metadata": encode_metadata({"sha256": "a" * 64}),
    }
    base.update(headers)
    response = handheld.client.post("/api/v1/media/", headers=base)
    assert response.status_code == status


def test_uploads_are_private_to_their_device(
    client: Any, auth_header: Any, factory: Any, handheld: Handheld
) -> None:
    from .conftest import register

    url = create(handheld, photo(5)).headers["Location"]
    other = register(client, auth_header, factory.collector("beto"))
    assert head(other, url).status_code == 404


def test_visit_lists_photo_pending_until_it_lands(
    handheld: Handheld, day_route: Any, staff: Any, auth_header: Any
) -> None:
    data = photo(8)
    sha = hashlib.sha256(data).hexdigest()
    visit_uuid, batch = handheld.visit(day_route[1][0])
    attach = handheld.mutation(
        "attach_photo",
        {
            "photo_uuid": str(uuid.uuid4()),
            "visit_uuid": visit_uuid,
            "sha256": sha,
            "size": len(data),
            "kind": "facade",
        },
    )
    result = handheld.push([*batch, attach]).json["results"][3]
    assert result["result"]["arrived"] is False

    def listed_photo() -> dict[str, Any]:
        visits = handheld.client.get("/api/v1/visits", headers=auth_header("manager")).json
        return dict(visits[0]["photos"][0])

    assert listed_photo()["arrived"] is False
    url = create(handheld, data).headers["Location"]
    patch(handheld, url, 0, data)
    landed = listed_photo()
    assert landed["arrived"] is True and landed["sha256"] == sha and landed["mime"] == "image/jpeg"
    assert db.session.execute(select(func.count()).select_from(MediaUpload)).scalar_one() == 1


def test_visits_listing_filters_and_roles(
    handheld: Handheld, day_route: Any, staff: Any, auth_header: Any
) -> None:
    for account in day_route[1]:
        handheld.push(handheld.visit(account)[1])
    listing = handheld.client.get(
        "/api/v1/visits", query_string={"page_size": 2}, headers=auth_header("dispatcher")
    )
    assert listing.status_code == 200 and len(listing.json) == 2
    assert '"total": 3' in listing.headers["X-Pagination"]
    none = handheld.client.get(
        "/api/v1/visits", query_string={"collector_id": 9999}, headers=auth_header("dispatcher")
    )
    assert none.json == []
    assert handheld.client.get("/api/v1/visits", headers=handheld.headers).status_code == 403


def test_completion_is_committed_and_seen_by_other_connections(
    app: Flask, handheld: Handheld
) -> None:
    data = photo(30, seed=9)
    url = create(handheld, data).headers["Location"]
    assert patch(handheld, url, 0, data[:10_000]).status_code == 204
    assert patch(handheld, url, 10_000, data[10_000:]).status_code == 204
    upload_id = url.rstrip("/").rsplit("/", 1)[-1]
    # A separate connection sees only what was committed, as another worker process would.
    with db.engine.connect() as other:
        status, offset = other.execute(
            select(MediaUpload.status, MediaUpload.offset).where(MediaUpload.id == upload_id)
        ).one()
    assert (status, offset) == ("complete", len(data))


def test_a_full_part_left_by_a_crash_is_finished_on_the_next_head(
    app: Flask, handheld: Handheld
) -> None:
    data = photo(30, seed=10)
    url = create(handheld, data).headers["Location"]
    upload_id = url.rstrip("/").rsplit("/", 1)[-1]
    # The server wrote every byte and stopped before finishing the upload.
    part = Path(app.config["MEDIA_DIR"]) / "uploads" / f"{upload_id}.part"
    part.write_bytes(data)
    response = head(handheld, url)
    assert response.headers["Upload-Offset"] == str(len(data))
    with db.engine.connect() as other:
        status = other.execute(
            select(MediaUpload.status).where(MediaUpload.id == upload_id)
        ).scalar_one()
    assert status == "complete"
    assert len(stored_files(app)) == 1
