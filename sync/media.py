"""Recognise photo types by their first bytes, never by the name or the declared type."""

from __future__ import annotations

from typing import Final

SNIFF_BYTES: Final = 16
"""How many leading bytes ``sniff_image_type`` needs."""

_HEIF_BRANDS: Final = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"hevc": "image/heic",
    b"hevx": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
}


def sniff_image_type(head: bytes) -> str | None:
    """The MIME type of a JPEG, PNG, HEIC/HEIF or WebP image from its first bytes, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(head[8:12])
    return None
