"""Photo uploads over tus 1.0 (core, creation, checksum), stored durably by sha256.

While an upload is in progress its part file is the record of what arrived: a chunk is
appended and fsync'ed under an exclusive file lock before it is acknowledged, and the
file's size is the offset the server reports. The database row only changes when the
upload is created and when it completes, so a chunk costs no database write. A finished
file is re-hashed, sniffed and moved to ``<media>/<aa>/<sha256>``; a file the server already
holds completes at once, so the same photo is stored once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from server.auth import current_device
from server.errors import ProblemError
from server.extensions import db
from server.models import MediaUpload, Photo
from server.services import tracking
from sync.media import SNIFF_BYTES, sniff_image_type
from sync.tus import (
    CHECKSUM_MISMATCH,
    TusHeaderError,
    checksum_matches,
    metadata_text,
    parse_checksum,
    parse_metadata,
    parse_non_negative,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HASH_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class UploadState:
    """What a tus response reports about an upload."""

    id: str
    offset: int
    length: int
    complete: bool


def media_root() -> Path:
    root = Path(current_app.config["MEDIA_DIR"])
    (root / "uploads").mkdir(parents=True, exist_ok=True)
    return root


def max_bytes() -> int:
    return int(current_app.config.get("MEDIA_MAX_BYTES", 15 * 1024 * 1024))


def stored_path(sha256: str) -> Path:
    """Where a finished photo's bytes live."""
    return media_root() / sha256[:2] / sha256


def _part_path(upload_id: str) -> Path:
    return media_root() / "uploads" / f"{upload_id}.part"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _state(upload: MediaUpload) -> UploadState:
    complete = upload.status == "complete"
    offset = upload.size_bytes if complete else _received(upload.id)
    return UploadState(upload.id, offset, upload.size_bytes, complete)


def _received(upload_id: str) -> int:
    """Bytes durably received so far: the size of the part file."""
    try:
        return _part_path(upload_id).stat().st_size
    except FileNotFoundError:
        return 0


def _bad_header(exc: TusHeaderError) -> ProblemError:
    return ProblemError(400, "Bad Request", str(exc))


def create_upload(length_header: str | None, metadata_header: str | None) -> UploadState:
    """Declare an upload by size and sha256 (tus creation)."""
    try:
        length = parse_non_negative(length_header, "Upload-Length")
        metadata = parse_metadata(metadata_header)
        sha256 = (metadata_text(metadata, "sha256") or "").lower()
        declared_type = metadata_text(metadata, "filetype")
    except TusHeaderError as exc:
        raise _bad_header(exc) from exc
    if not _SHA256.match(sha256):
        raise ProblemError(
            400, "Bad Request", "Upload-Metadata must declare the file's sha256 (hex)."
        )
    if length == 0:
        raise ProblemError(400, "Bad Request", "An empty file is not a photo.")
    if length > max_bytes():
        raise ProblemError(413, "Payload Too Large", f"Photos are limited to {max_bytes()} bytes.")
    device = current_device()
    upload = MediaUpload(
        id=str(uuid.uuid4()),
        device_id=device.id if device else None,
        sha256=sha256,
        size_bytes=length,
        metadata_={"filename": metadata_text(metadata, "filename"), "filetype": declared_type},
    )
    held = db.session.execute(
        select(MediaUpload)
        .where(MediaUpload.sha256 == sha256, MediaUpload.status == "complete")
        .limit(1)
    ).scalar_one_or_none()
    if held is not None and held.size_bytes == length and stored_path(sha256).exists():
        upload.offset, upload.status, upload.mime = length, "complete", held.mime
        upload.completed_at = datetime.now(UTC)
    else:
        _part_path(upload.id).touch()
    db.session.add(upload)
    db.session.commit()
    return _state(upload)


def get_upload(upload_id: str) -> MediaUpload:
    """The upload, if it exists and belongs to the caller's device; else 404."""
    upload = db.session.get(MediaUpload, upload_id)
    device = current_device()
    if upload is None or (
        upload.device_id and device is not None and upload.device_id != device.id
    ):
        raise ProblemError(404, "Not Found", "No such upload.")
    if upload.status == "failed":
        raise ProblemError(410, "Gone", "This upload was refused; create a new one.")
    return upload


def upload_state(upload_id: str) -> UploadState:
    upload = get_upload(upload_id)
    if upload.status != "complete" and _received(upload.id) == upload.size_bytes:
        # Every byte arrived but the server stopped before finishing: finish now.
        with _part_path(upload.id).open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            _finish_recorded(upload)
    return _state(upload)


def append_chunk(
    upload_id: str, offset_header: str | None, checksum_header: str | None, data: bytes
) -> UploadState:
    """Append one PATCH chunk at the offset the server holds (tus core + checksum)."""
    try:
        offset = parse_non_negative(offset_header, "Upload-Offset")
        checksum = parse_checksum(checksum_header)
    except TusHeaderError as exc:
        raise _bad_header(exc) from exc
    upload = get_upload(upload_id)
    if upload.status == "complete":
        if offset == upload.size_bytes and not data:
            return _state(upload)
        raise _wrong_offset(upload.size_bytes)
    if checksum is not None and not checksum_matches(checksum[0], checksum[1], data):
        raise ProblemError(
            CHECKSUM_MISMATCH, "Checksum Mismatch", "The chunk does not match Upload-Checksum."
        )
    part = _part_path(upload.id)
    # Append mode creates a missing part file and always writes at its end (== offset).
    with part.open("a+b") as handle:
        # The lock serialises chunks of one upload across threads and worker processes.
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        received = os.fstat(handle.fileno()).st_size
        if received == upload.size_bytes:
            _finish_recorded(upload)
            if offset == received and not data:
                return _state(upload)
        if offset != received:
            raise _wrong_offset(received)
        if offset + len(data) > upload.size_bytes:
            raise ProblemError(
                400, "Bad Request", "The chunk runs past the declared Upload-Length."
            )
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
        if offset + len(data) < upload.size_bytes:
            return UploadState(upload.id, offset + len(data), upload.size_bytes, False)
        _finish_recorded(upload)
    return _state(upload)


def _finish_recorded(upload: MediaUpload) -> None:
    """Finish an upload whose bytes have all arrived (caller holds the part file's lock)."""
    try:
        _finish(upload, _part_path(upload.id))
        db.session.commit()
    except DBAPIError as exc:
        db.session.rollback()
        raise ProblemError(
            503,
            "Service Unavailable",
            "Could not record the finished upload; retry.",
            headers={"Retry-After": "1"},
        ) from exc


def _wrong_offset(received: int) -> ProblemError:
    return ProblemError(
        409,
        "Conflict",
        f"The server holds {received} bytes; send from there.",
        headers={"Upload-Offset": str(received)},
    )


def _finish(upload: MediaUpload, part: Path) -> None:
    """Re-hash and sniff the whole file, then keep it under its hash (or refuse it)."""
    digest = hashlib.sha256()
    with part.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        digest.update(head)
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    mime = sniff_image_type(head)
    if digest.hexdigest() != upload.sha256 or mime is None:
        upload.status = "failed"
        db.session.commit()
        part.unlink(missing_ok=True)
        if mime is None:
            raise ProblemError(415, "Unsupported Media Type", "Only JPEG, PNG, HEIC and WebP.")
        raise ProblemError(
            CHECKSUM_MISMATCH, "Checksum Mismatch", "The file does not match its declared sha256."
        )
    target = stored_path(upload.sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        part.unlink()
    else:
        os.replace(part, target)
        _fsync_dir(target.parent)
    upload.offset = upload.size_bytes
    upload.status, upload.mime, upload.completed_at = "complete", mime, datetime.now(UTC)
    db.session.execute(update(Photo).where(Photo.sha256 == upload.sha256).values(mime=mime))
    _verify_photo_locations(upload.sha256, target)


def _verify_photo_locations(sha256: str, image: Path) -> None:
    """Compare the stored photo's EXIF GPS with the account of every visit that attached it."""
    photos = db.session.execute(select(Photo).where(Photo.sha256 == sha256)).scalars()
    for photo in photos:
        tracking.verify_photo_location(photo, image)
