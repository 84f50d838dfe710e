"""Photo uploads over tus 1.0 (core, creation, checksum, expiration), stored durably by sha256.

While an upload is in progress its part file is the record of what arrived: a chunk is
appended under an exclusive file lock before it is acknowledged, the file's size is the
offset the server reports and its modification time starts the upload's expiry. Chunks are
not flushed one by one: a server process that dies loses nothing the kernel holds, and after
a power cut the part is at most shorter, so the device's HEAD resumes from there (it keeps
the photo until the upload completes). The whole file is flushed and its hash checked before
the upload counts as complete, so nothing is called stored before it is on disk. The database
row only changes when the upload is created, completes, is refused or expires, so a chunk
costs one read of the row through a plain connection (no session, no ORM
objects). A finished file is hashed (as its chunks arrive, or read again when another
worker wrote some of them), sniffed and moved to ``<media>/<aa>/<sha256>``; a file the
server already holds completes at once, so the same photo is stored once.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import ClientDisconnected

from server import jobs
from server.auth import Caller
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

if TYPE_CHECKING:
    from hashlib import _Hash as HASH

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HASH_BLOCK = 1024 * 1024
_READ_BLOCK = 1024 * 1024
_purge_lock = threading.Lock()
# Running sha256 of the uploads this process is receiving, by upload id: (bytes hashed,
# hash). Fed under the part's lock and only while it matches the part's size, so a chunk
# written by another worker simply leaves the finish to re-read the file.
_RUNNING_DIGESTS_KEPT = 256
_running_digests: OrderedDict[str, tuple[int, HASH]] = OrderedDict()
_digests_lock = threading.Lock()
# Built once, as the chunk path reads the row on every request.
_UPLOAD_COLUMNS = (MediaUpload.id, MediaUpload.sha256, MediaUpload.size_bytes, MediaUpload.status)
_OWNED_BY_DEVICE = select(*_UPLOAD_COLUMNS).where(
    MediaUpload.id == bindparam("upload_id"),
    MediaUpload.user_id == bindparam("user_id"),
    MediaUpload.device_id == bindparam("device_id"),
)
_OWNED_BY_USER = select(*_UPLOAD_COLUMNS).where(
    MediaUpload.id == bindparam("upload_id"),
    MediaUpload.user_id == bindparam("user_id"),
    MediaUpload.device_id.is_(None),
)


@dataclass(frozen=True, slots=True)
class UploadState:
    """What a tus response reports about an upload."""

    id: str
    offset: int
    length: int
    complete: bool
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Upload:
    """The columns of an upload row the chunk path needs."""

    id: str
    sha256: str
    size_bytes: int
    status: str


def media_root() -> Path:
    return Path(current_app.config["MEDIA_DIR"])


def max_bytes() -> int:
    return int(current_app.config.get("MEDIA_MAX_BYTES", 15 * 1024 * 1024))


def upload_ttl_s() -> int:
    """How long an unfinished upload is kept after its last chunk (tus expiration)."""
    return int(current_app.config["MEDIA_UPLOAD_TTL_S"])


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


def _expiry(mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, UTC) + timedelta(seconds=upload_ttl_s())


def _bad_header(exc: TusHeaderError) -> ProblemError:
    return ProblemError(400, "Bad Request", str(exc))


def _gone(detail: str) -> ProblemError:
    return ProblemError(410, "Gone", detail)


def _wrong_offset(received: int) -> ProblemError:
    return ProblemError(
        409,
        "Conflict",
        f"The server holds {received} bytes; send from there.",
        headers={"Upload-Offset": str(received)},
    )


def _complete(upload: _Upload) -> UploadState:
    return UploadState(upload.id, upload.size_bytes, upload.size_bytes, True)


def create_upload(
    caller: Caller, length_header: str | None, metadata_header: str | None
) -> UploadState:
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
    upload = MediaUpload(
        id=str(uuid.uuid4()),
        user_id=caller.user_id,
        device_id=caller.device_id,
        sha256=sha256,
        size_bytes=length,
        metadata_={"filename": metadata_text(metadata, "filename"), "filetype": declared_type},
    )
    held = db.session.execute(
        select(MediaUpload)
        .where(MediaUpload.sha256 == sha256, MediaUpload.status == "complete")
        .limit(1)
    ).scalar_one_or_none()
    expires_at = None
    if held is not None and held.size_bytes == length and stored_path(sha256).exists():
        upload.offset, upload.status, upload.mime = length, "complete", held.mime
        upload.completed_at = datetime.now(UTC)
    else:
        part = _part_path(upload.id)
        part.parent.mkdir(parents=True, exist_ok=True)
        # Not flushed: like an unflushed chunk, a part lost to a power cut only makes the
        # device create the upload again (it keeps the photo until the upload completes).
        part.touch()
        expires_at = _expiry(part.stat().st_mtime)
    complete = upload.status == "complete"
    # Read before the commit, which would expire the object and reload it row by row.
    state = UploadState(upload.id, length if complete else 0, length, complete, expires_at)
    db.session.add(upload)
    db.session.commit()
    _schedule_purge()
    return state


def _owned_upload(upload_id: str, caller: Caller) -> _Upload:
    """The upload, if the caller owns it (its device, or its user when made without one)."""
    params: dict[str, object] = {"upload_id": upload_id, "user_id": caller.user_id}
    statement = _OWNED_BY_USER
    if caller.device_id is not None:
        statement, params["device_id"] = _OWNED_BY_DEVICE, caller.device_id
    with db.engine.connect() as connection:
        row = connection.execute(statement, params).first()
    if row is None:
        raise ProblemError(404, "Not Found", "No such upload.")
    upload = _Upload(*row)
    if upload.status == "failed":
        raise _gone("This upload was refused; create a new one.")
    if upload.status == "expired":
        raise _gone("This upload expired; create a new one.")
    return upload


@contextmanager
def _locked_part(upload_id: str) -> Iterator[int | None]:
    """The part file opened for appending under an exclusive lock, or None once it is gone.

    The lock serialises the chunks of one upload across threads and worker processes. The
    file is never created here: a part that was finished (moved under its hash), refused or
    purged while this request waited must not come back empty.
    """
    path = _part_path(upload_id)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        yield None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        yield fd if current == os.fstat(fd).st_ino else None
    finally:
        os.close(fd)


def upload_state(upload_id: str, caller: Caller) -> UploadState:
    """How much the server holds (tus HEAD); finishes an upload whose bytes all arrived."""
    upload = _owned_upload(upload_id, caller)
    if upload.status == "complete":
        return _complete(upload)
    with _locked_part(upload.id) as fd:
        if fd is None:
            return _settle_without_part(upload.id, caller)
        stat = os.fstat(fd)
        if stat.st_size == upload.size_bytes:
            # Every byte arrived but the server stopped before finishing: finish now.
            return _finish(upload)
        if _expiry(stat.st_mtime) <= datetime.now(UTC):
            raise _gone("This upload expired; create a new one.")
        return UploadState(
            upload.id, stat.st_size, upload.size_bytes, False, _expiry(stat.st_mtime)
        )


def append_chunk(
    upload_id: str,
    caller: Caller,
    offset_header: str | None,
    checksum_header: str | None,
    body: IO[bytes],
    content_length: int | None,
) -> UploadState:
    """Append one PATCH chunk at the offset the server holds (tus core, checksum, expiration).

    The body is read before the lock is taken, so a stalled connection never holds an
    upload; without a checksum, the part of a body cut off on the way is kept (tus asks
    servers to store as much as they received), with one it is refused as a whole.
    """
    try:
        offset = parse_non_negative(offset_header, "Upload-Offset")
        checksum = parse_checksum(checksum_header)
    except TusHeaderError as exc:
        raise _bad_header(exc) from exc
    upload = _owned_upload(upload_id, caller)
    if upload.status == "complete":
        if offset == upload.size_bytes and not content_length:
            return _complete(upload)
        raise _wrong_offset(upload.size_bytes)
    room = max(upload.size_bytes - offset, 0)
    if content_length is not None and content_length > room:
        raise _past_length()
    data, cut_off = _read_body(body, room, content_length)
    if checksum is not None:
        if cut_off:
            raise ProblemError(400, "Bad Request", "The chunk was cut off; send it again.")
        if not checksum_matches(checksum[0], checksum[1], data):
            raise ProblemError(
                CHECKSUM_MISMATCH, "Checksum Mismatch", "The chunk does not match Upload-Checksum."
            )
    with _locked_part(upload.id) as fd:
        if fd is None:
            settled = _settle_without_part(upload.id, caller)
            if offset == settled.offset and not data:
                return settled
            raise _wrong_offset(settled.offset)
        stat = os.fstat(fd)
        received = stat.st_size
        if received == upload.size_bytes:
            state = _finish(upload)
            if offset == received and not data:
                return state
            raise _wrong_offset(received)
        if _expiry(stat.st_mtime) <= datetime.now(UTC):
            raise _gone("This upload expired; create a new one.")
        if offset != received:
            raise _wrong_offset(received)
        hashed, digest = _take_digest(upload.id)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            # A full or failing disk: the size must stay the acknowledged offset.
            os.ftruncate(fd, received)
            log.error("could not store a photo chunk: %s", exc.strerror)
            raise _disk_unavailable() from exc
        if hashed == received:
            digest.update(data)
            _keep_digest(upload.id, received + len(data), digest)
        if offset + len(data) < upload.size_bytes:
            return UploadState(
                upload.id,
                offset + len(data),
                upload.size_bytes,
                False,
                datetime.now(UTC) + timedelta(seconds=upload_ttl_s()),
            )
        return _finish(upload)


def _disk_unavailable() -> ProblemError:
    return ProblemError(
        503,
        "Service Unavailable",
        "Could not store the photo; retry.",
        headers={"Retry-After": "5"},
    )


def _past_length() -> ProblemError:
    return ProblemError(413, "Payload Too Large", "The chunk runs past the declared Upload-Length.")


def _read_body(body: IO[bytes], room: int, announced: int | None) -> tuple[bytes, bool]:
    """The request body in large reads, at most ``room`` bytes; and whether it was cut off.

    A server may hand over a dropped connection as an early end of the stream, so a body
    shorter than its Content-Length counts as cut off too.
    """
    parts: list[bytes] = []
    size = 0
    try:
        while block := body.read(min(_READ_BLOCK, room + 1 - size)):
            parts.append(block)
            size += len(block)
            if size > room:
                raise _past_length()
    except (ClientDisconnected, ConnectionError):
        return b"".join(parts), True
    return b"".join(parts), announced is not None and size < announced


def _settle_without_part(upload_id: str, caller: Caller) -> UploadState:
    """The part file is gone: the upload finished meanwhile, or it was purged."""
    upload = _owned_upload(upload_id, caller)
    if upload.status == "complete":
        return _complete(upload)
    return _recover(upload)


def _recover(upload: _Upload) -> UploadState:
    """Record an upload whose part was moved under its hash by a finish that then stopped.

    A finish moves the verified part before recording it; if the server stopped in between,
    the file is there under its hash and the upload is complete. Otherwise it is gone.
    """
    target = stored_path(upload.sha256)
    if target.exists() and target.stat().st_size == upload.size_bytes:
        with target.open("rb") as handle:
            mime = sniff_image_type(handle.read(SNIFF_BYTES))
        if mime is not None:
            _record(upload, status="complete", mime=mime)
            return _complete(upload)
    raise _gone("This upload is no longer held; create a new one.")


def _take_digest(upload_id: str) -> tuple[int, HASH]:
    """The running hash of an upload and how many bytes it covers (0 and a new one if none)."""
    with _digests_lock:
        return _running_digests.pop(upload_id, None) or (0, hashlib.sha256())


def _keep_digest(upload_id: str, hashed: int, digest: HASH) -> None:
    with _digests_lock:
        _running_digests[upload_id] = (hashed, digest)
        while len(_running_digests) > _RUNNING_DIGESTS_KEPT:
            _running_digests.popitem(last=False)


def _finish(upload: _Upload) -> UploadState:
    """Hash and sniff the whole file, then keep it under its hash (or refuse it).

    The file is hashed from the bytes this process wrote as they arrived, or else read
    again (chunks written by another worker, or a finish after a restart). The caller holds
    the part file's lock, so one request finishes an upload exactly once.
    """
    part = _part_path(upload.id)
    hashed, digest = _take_digest(upload.id)
    with part.open("rb") as handle:
        # The one flush of the upload: nothing counts as stored before it is on disk.
        try:
            os.fsync(handle.fileno())
        except OSError as exc:
            log.error("could not flush a photo upload: %s", exc.strerror)
            raise _disk_unavailable() from exc
        head = handle.read(SNIFF_BYTES)
        if hashed != upload.size_bytes:
            digest = hashlib.sha256(head)
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    mime = sniff_image_type(head)
    if digest.hexdigest() != upload.sha256 or mime is None:
        _record(upload, status="failed")
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
    _record(upload, status="complete", mime=mime)
    return _complete(upload)


def _record(upload: _Upload, *, status: str, mime: str | None = None) -> None:
    """Record an upload's outcome in its own transaction; a busy database answers 503."""
    values: dict[str, object] = {"status": status}
    if status == "complete":
        values.update(offset=upload.size_bytes, mime=mime, completed_at=datetime.now(UTC))
    try:
        with db.engine.begin() as connection:
            connection.execute(
                update(MediaUpload)
                .where(MediaUpload.id == upload.id, MediaUpload.status == "uploading")
                .values(**values)
            )
            attached = status == "complete" and bool(
                connection.execute(
                    update(Photo).where(Photo.sha256 == upload.sha256).values(mime=mime)
                ).rowcount
            )
    except DBAPIError as exc:
        raise ProblemError(
            503,
            "Service Unavailable",
            "Could not record the finished upload; retry.",
            headers={"Retry-After": "1"},
        ) from exc
    if attached:
        _verify_photo_locations(upload.sha256)


def _verify_photo_locations(sha256: str) -> None:
    """Compare the stored photo's EXIF GPS with the account of every visit that attached it."""
    photos = db.session.execute(select(Photo).where(Photo.sha256 == sha256)).scalars().all()
    for photo in photos:
        tracking.verify_photo_location(photo, stored_path(sha256))
    if photos:
        db.session.commit()


def purge_expired_uploads() -> dict[str, int]:
    """Delete unfinished uploads idle longer than the TTL; answer what was done.

    An upload whose bytes all arrived is finished rather than purged. A part being written
    right now (its lock is held) is left for the next run, as is one touched since the
    cutoff. Part files without an unfinished upload behind them (a creation that failed to
    commit) are removed once they are as old as the TTL.
    """
    cutoff = time.time() - upload_ttl_s()
    counts = {"expired": 0, "finished": 0, "orphans": 0}
    uploads = db.session.execute(
        select(*_UPLOAD_COLUMNS)
        .where(
            MediaUpload.status == "uploading",
            MediaUpload.created_at < datetime.fromtimestamp(cutoff, UTC),
        )
        .order_by(MediaUpload.created_at)
    ).all()
    db.session.rollback()
    for row in uploads:
        upload = _Upload(*row)
        outcome = _purge_one(upload, cutoff)
        if outcome:
            counts[outcome] += 1
    unfinished = set(
        db.session.execute(
            select(MediaUpload.id).where(MediaUpload.status == "uploading")
        ).scalars()
    )
    db.session.rollback()
    for part in (media_root() / "uploads").glob("*.part"):
        if part.stem not in unfinished and part.stat().st_mtime < cutoff:
            part.unlink(missing_ok=True)
            counts["orphans"] += 1
    log.info("purged uploads: %s", counts)
    return counts


def _purge_one(upload: _Upload, cutoff: float) -> str | None:
    path = _part_path(upload.id)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        try:
            _recover(upload)
        except ProblemError:
            _record(upload, status="expired")
            return "expired"
        return "finished"
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a chunk is being written now
        stat = os.fstat(fd)
        if os.stat(path).st_ino != stat.st_ino or stat.st_mtime >= cutoff:
            return None
        if stat.st_size == upload.size_bytes:
            try:
                _finish(upload)
            except ProblemError:
                return "expired"  # refused on completion (recorded as failed)
            return "finished"
        path.unlink()
        _record(upload, status="expired")
        return "expired"
    finally:
        os.close(fd)


def _schedule_purge() -> None:
    """Queue a purge at most every MEDIA_PURGE_EVERY_S per process, riding on new uploads.

    Uploads only go stale where uploads are made, so creation is a natural clock; it needs
    no scheduler and goes to the RQ queue ``media`` when REDIS_URL is set.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    every = float(app.config["MEDIA_PURGE_EVERY_S"])
    now = time.monotonic()
    with _purge_lock:
        due = app.extensions.setdefault("media_purge_due", now + every)
        if now < due:
            return
        app.extensions["media_purge_due"] = now + every
    jobs.enqueue("media", purge_expired_uploads)
