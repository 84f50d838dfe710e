"""Photos made on the fly: tiny but valid JPEG and PNG files, unique per capture.

A real phone would hand over camera output; the simulator needs bytes that a server-side
type sniffer accepts and whose sha256 differs per photo, at sizes that span several upload
chunks.
"""

from __future__ import annotations

import random
import struct
import zlib

_COM_MAX = 65533


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def make_jpeg(rng: random.Random, label: str, approx_size: int = 0) -> bytes:
    """A baseline grayscale JPEG, 8x8 blocks, with a comment naming the capture.

    The Huffman tables hold one code each (DC difference 0, end-of-block), the smallest
    entropy-coded image a decoder accepts. Random-filled comment segments bring the file
    up to ``approx_size`` so uploads exercise chunking.
    """
    blocks_w, blocks_h = rng.randint(1, 4), rng.randint(1, 4)
    parts = [b"\xff\xd8", _segment(0xFE, label.encode())]
    remaining = approx_size
    while remaining > 0:
        size = min(remaining, _COM_MAX)
        parts.append(_segment(0xFE, rng.randbytes(size)))
        remaining -= size + 4
    parts.append(_segment(0xDB, b"\x00" + b"\x01" * 64))
    parts.append(
        _segment(0xC0, struct.pack(">BHHB", 8, blocks_h * 8, blocks_w * 8, 1) + b"\x01\x11\x00")
    )
    counts = b"\x01" + b"\x00" * 15
    parts.append(_segment(0xC4, b"\x00" + counts + b"\x00"))  # DC: one code, category 0
    parts.append(_segment(0xC4, b"\x10" + counts + b"\x00"))  # AC: one code, end of block
    parts.append(_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"))
    bits = "00" * (blocks_w * blocks_h)
    bits += "1" * (-len(bits) % 8)
    parts.append(int(bits, 2).to_bytes(len(bits) // 8, "big"))
    parts.append(b"\xff\xd9")
    return b"".join(parts)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def make_png(rng: random.Random, label: str, side: int = 16) -> bytes:
    """A small RGB PNG filled with one random colour, with a text chunk naming the capture."""
    colour = rng.randbytes(3)
    raw = b"".join(b"\x00" + colour * side for _ in range(side))
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)),
            _png_chunk(b"tEXt", b"Comment\x00" + label.encode()),
            _png_chunk(b"IDAT", zlib.compress(raw)),
            _png_chunk(b"IEND", b""),
        ]
    )
