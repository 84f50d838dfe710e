"""A photo's EXIF GPS is compared with the account's location, whichever arrives last."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from typing import Any

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from .conftest import Handheld

TUS = {"Tus-Resumable": "1.0.0"}
M_PER_DEG = 111_195.08


def jpeg_at(lat: float | None, lon: float | None = None, label: str = "") -> bytes:
    """A small JPEG whose EXIF GPS says (lat, lon); no GPS block when lat is None."""
    exif = Image.Exif()
    if lat is not None and lon is not None:

        def dms(value: float) -> tuple[IFDRational, ...]:
            degrees = int(abs(value))
            minutes = int((abs(value) - degrees) * 60)
            seconds = round((abs(value) - degrees - minutes / 60) * 3600, 4)
            return (IFDRational(degrees), IFDRational(minutes), IFDRational(seconds))

        exif[0x8825] = {
            1: "S" if lat < 0 else "N",
            2: dms(lat),
            3: "W" if lon < 0 else "E",
            4: dms(lon),
        }
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), label or "white").save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def upload(handheld: Handheld, data: bytes) -> None:
    """The whole file in one tus PATCH."""
    sha = hashlib.sha256(data).hexdigest()
    metadata = (
        f"sha256 {base64.b64encode(sha.encode()).decode()},"
        f"filename {base64.b64encode(b'f.jpg').decode()}"
    )
    created = handheld.client.post(
        "/api/v1/media/",
        headers={**TUS, **handheld.headers, "Upload-Length": str(len(data)),
                 "Upload-Metadata": metadata},
    )  # fmt: skip
    assert created.status_code == 201, created.json
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    done = handheld.client.patch(
        created.headers["Location"],
        data=data,
        headers={**TUS, **handheld.headers, "Upload-Offset": "0",
                 "Content-Type": "application/offset+octet-stream",
                 "Upload-Checksum": f"sha256 {digest}"},
    )  # fmt: skip
    assert done.status_code == 204, done.get_data()


def attach(handheld: Handheld, visit_uuid: str, data: bytes) -> dict[str, Any]:
    return handheld.mutation(
        "attach_photo",
        {
            "photo_uuid": str(uuid.uuid4()),
            "visit_uuid": visit_uuid,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "kind": "facade",
        },
    )


def listed_photos(handheld: Handheld, auth_header: Any) -> dict[str, dict[str, Any]]:
    visits = handheld.client.get("/api/v1/visits", headers=auth_header("manager")).json
    return {photo["sha256"]: photo for visit in visits for photo in visit["photos"]}


def test_photo_geo_status_when_the_bytes_arrive_after_the_visit(
    handheld: Handheld, day_route: Any, staff: Any, auth_header: Any
) -> None:
    account = day_route[1][0]
    at_door = jpeg_at(account.lat + 40 / M_PER_DEG, account.lon, "white")
    across_town = jpeg_at(account.lat + 2_000 / M_PER_DEG, account.lon, "gray")
    no_gps = jpeg_at(None, label="black")
    visit_uuid, batch = handheld.visit(account)
    pushed = handheld.push(
        [*batch, *(attach(handheld, visit_uuid, p) for p in (at_door, across_town, no_gps))]
    )
    assert pushed.status_code == 200, pushed.json
    pending = listed_photos(handheld, auth_header)
    assert {p["geo_status"] for p in pending.values()} == {None}  # nothing to compare yet
    for data in (at_door, across_town, no_gps):
        upload(handheld, data)
    photos = listed_photos(handheld, auth_header)
    door = photos[hashlib.sha256(at_door).hexdigest()]
    assert door["geo_status"] == "verified"
    assert abs(door["geo_distance_m"] - 40) < 1
    far = photos[hashlib.sha256(across_town).hexdigest()]
    assert far["geo_status"] == "far_from_address" and abs(far["geo_distance_m"] - 2_000) < 5
    assert photos[hashlib.sha256(no_gps).hexdigest()]["geo_status"] == "no_fix"


def test_photo_geo_status_when_the_bytes_arrived_first(
    handheld: Handheld, day_route: Any, staff: Any, auth_header: Any
) -> None:
    account = day_route[1][1]
    data = jpeg_at(account.lat, account.lon + 100 / M_PER_DEG)
    upload(handheld, data)
    visit_uuid, batch = handheld.visit(account)
    result = handheld.push([*batch, attach(handheld, visit_uuid, data)]).json["results"][3]
    assert result["result"]["arrived"] is True
    [photo] = listed_photos(handheld, auth_header).values()
    assert photo["geo_status"] == "verified"
    assert 95 < photo["geo_distance_m"] < 105  # 100 m of longitude at 12 deg S is ~98 m
