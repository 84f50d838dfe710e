"""tus 1.0 header parsing and validation (core, creation, checksum and expiration extensions).

Photo uploads must survive a stairwell: the client asks the server how much it holds
(``HEAD``), then sends the rest in ``PATCH`` chunks. These helpers read and check the
protocol headers exactly as the specification words them, so the server's views stay thin.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Final

TUS_VERSION: Final = "1.0.0"
TUS_EXTENSIONS: Final = ("creation", "checksum", "expiration")
CHECKSUM_ALGORITHMS: Final = ("sha1", "sha256")
CHECKSUM_MISMATCH: Final = 460
"""Status the checksum extension assigns to a chunk whose checksum does not match."""
PATCH_CONTENT_TYPE: Final = "application/offset+octet-stream"

_DIGITS: Final = re.compile(r"^[0-9]{1,19}$")
_METADATA_KEY: Final = re.compile(r"^[^\s,]+$")


class TusHeaderError(ValueError):
    """A tus header is missing or malformed; the request answers 400."""


def parse_non_negative(value: str | None, header: str) -> int:
    """Read ``Upload-Offset`` / ``Upload-Length``: a non-negative decimal integer."""
    if value is None:
        raise TusHeaderError(f"{header} is required")
    if not _DIGITS.match(value.strip()):
        raise TusHeaderError(f"{header} must be a non-negative integer")
    return int(value)


def parse_metadata(value: str | None) -> dict[str, bytes | None]:
    """Read ``Upload-Metadata``: comma-separated ``key base64value`` pairs (value optional)."""
    result: dict[str, bytes | None] = {}
    if value is None or not value.strip():
        return result
    for pair in value.split(","):
        parts = pair.strip().split(" ")
        if not parts[0] or len(parts) > 2 or not _METADATA_KEY.match(parts[0]):
            raise TusHeaderError(f"Upload-Metadata pair {pair.strip()!r} is malformed")
        key = parts[0]
        if key in result:
            raise TusHeaderError(f"Upload-Metadata key {key!r} is repeated")
        if len(parts) == 1:
            result[key] = None
            continue
        try:
            result[key] = base64.b64decode(parts[1], validate=True)
        except binascii.Error:
            raise TusHeaderError(f"Upload-Metadata value of {key!r} is not base64") from None
    return result


def metadata_text(metadata: dict[str, bytes | None], key: str) -> str | None:
    """A metadata value as UTF-8 text, or None when absent or empty."""
    raw = metadata.get(key)
    if not raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TusHeaderError(f"Upload-Metadata value of {key!r} is not UTF-8") from None


def encode_metadata(values: dict[str, str]) -> str:
    """Build an ``Upload-Metadata`` header, as a client sends it."""
    return ",".join(
        f"{key} {base64.b64encode(text.encode()).decode('ascii')}" for key, text in values.items()
    )


def parse_checksum(value: str | None) -> tuple[str, bytes] | None:
    """Read ``Upload-Checksum: <algorithm> <base64 digest>``; None when the header is absent.

    An unsupported algorithm or a digest of the wrong length is a 400, as the extension asks.
    """
    if value is None:
        return None
    parts = value.strip().split(" ")
    if len(parts) != 2:
        raise TusHeaderError("Upload-Checksum must be '<algorithm> <base64 digest>'")
    algorithm = parts[0].lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusHeaderError(f"checksum algorithm {parts[0]!r} is not supported")
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise TusHeaderError("Upload-Checksum digest is not base64") from None
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise TusHeaderError(f"Upload-Checksum digest has the wrong length for {algorithm}")
    return algorithm, digest


def checksum_matches(algorithm: str, digest: bytes, data: bytes) -> bool:
    """Whether ``data`` hashes to ``digest`` under ``algorithm``."""
    return hmac.compare_digest(hashlib.new(algorithm, data).digest(), digest)


def checksum_header(algorithm: str, data: bytes) -> str:
    """The ``Upload-Checksum`` value a client sends for ``data``."""
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm} {base64.b64encode(digest).decode('ascii')}"
