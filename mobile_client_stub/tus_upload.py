"""Resumable photo upload over tus 1.0 (core, creation, checksum), implemented on requests.

A photo taken in a stairwell goes up in chunks whenever there is signal. The upload URL is
kept in the local store, so after a crash or a lost connection the client asks the server
how much it holds (``HEAD``) and sends only the rest. Every chunk carries a sha256 checksum
so the server refuses a chunk damaged on the way.
"""

from __future__ import annotations

import base64
import hashlib

from mobile_client_stub.api import TUS_HEADERS, ClientError, ServerApi, TransientError
from mobile_client_stub.store import LocalStore, PendingPhoto

MEDIA_PATH = "/api/v1/media/"
CHECKSUM_MISMATCH = 460
_MAX_CHECKSUM_RETRIES = 3


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


class TusUploader:
    """Uploads pending photos for one device; resumes where the server says it stopped."""

    def __init__(self, api: ServerApi, store: LocalStore, chunk_size: int = 256 * 1024) -> None:
        self.api = api
        self.store = store
        self.chunk_size = chunk_size

    def create(self, photo: PendingPhoto) -> tuple[str, int]:
        """Declare the upload by size and sha256; a photo the server holds completes at once."""
        metadata = ",".join(
            [
                f"sha256 {_b64(photo.sha256)}",
                f"filename {_b64(photo.path.name)}",
                f"filetype {_b64(photo.mime)}",
            ]
        )
        response = self.api.request(
            "POST",
            MEDIA_PATH,
            ok=(201,),
            headers={**TUS_HEADERS, "Upload-Length": str(photo.size), "Upload-Metadata": metadata},
        )
        location = response.headers["Location"]
        offset = int(response.headers.get("Upload-Offset", "0"))
        return location, offset

    def offset(self, url: str) -> int | None:
        """How many bytes the server holds for ``url``; None when it no longer knows it."""
        try:
            response = self.api.request("HEAD", url, ok=(200, 204), headers=TUS_HEADERS)
        except ClientError as exc:
            if exc.status in (404, 410):
                return None
            raise
        return int(response.headers["Upload-Offset"])

    def upload(self, photo: PendingPhoto) -> None:
        """Bring one photo to the server, resuming any earlier partial upload."""
        data = photo.path.read_bytes()
        url = photo.upload_url
        offset = self.offset(url) if url else None
        if url is None or offset is None:
            url, offset = self.create(photo)
            self.store.set_upload_url(photo.sha256, url)
        mismatches = 0
        while offset < photo.size:
            chunk = data[offset : offset + self.chunk_size]
            digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode("ascii")
            try:
                response = self.api.request(
                    "PATCH",
                    url,
                    ok=(204,),
                    headers={
                        **TUS_HEADERS,
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                        "Upload-Checksum": f"sha256 {digest}",
                    },
                    data=chunk,
                )
            except ClientError as exc:
                if exc.status == 409:
                    held = self.offset(url)
                    if held is None:
                        raise TransientError("upload vanished; will recreate") from exc
                    offset = held
                    continue
                if exc.status == CHECKSUM_MISMATCH and mismatches < _MAX_CHECKSUM_RETRIES:
                    mismatches += 1
                    continue
                if exc.status in (404, 410):
                    self.store.set_upload_url(photo.sha256, None)
                    raise TransientError("upload expired on the server; will recreate") from exc
                raise
            offset = int(response.headers["Upload-Offset"])
        self.store.photo_uploaded(photo.sha256)
