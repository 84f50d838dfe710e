"""The opaque pull cursor: what a device has been sent, signed so it cannot be forged.

The cursor is stateless for the server: it carries, per item of the collector's day, a short
digest of the version the device last received, plus the paging position. It is bound to
one device and expires, and is HMAC-signed with a server secret. A cursor that fails any
check is never an error for the device: the answer is a full resend, and never anyone
else's data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

DEFAULT_TTL_S: Final = 7 * 24 * 3600
"""A device offline for longer than a week gets a full resend; its data is stale anyway."""
_VERSION: Final = 1


class CursorVerdict(StrEnum):
    """Outcome of reading a cursor; anything but ``valid`` means a full resend."""

    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    FORGED = "forged"
    EXPIRED = "expired"
    FOREIGN = "foreign"


@dataclass(frozen=True, slots=True)
class CursorState:
    """What the device holds: item key -> digest sent, and where paging stopped."""

    device_id: str
    seen: Mapping[str, str] = field(default_factory=dict)
    after: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, b"sync-cursor|" + body, hashlib.sha256).digest()


def issue_cursor(secret: bytes, state: CursorState, now_s: int, ttl_s: int = DEFAULT_TTL_S) -> str:
    """Sign ``state`` into an opaque, URL-safe token valid for ``ttl_s`` seconds."""
    if not secret:
        raise ValueError("a cursor secret is required")
    payload: dict[str, Any] = {
        "v": _VERSION,
        "d": state.device_id,
        "x": now_s + ttl_s,
        "s": dict(sorted(state.seen.items())),
        "a": state.after,
    }
    body = zlib.compress(json.dumps(payload, separators=(",", ":")).encode(), 9)
    return f"{_b64(body)}.{_b64(_mac(secret, body))}"


def read_cursor(
    secret: bytes, token: str | None, device_id: str, now_s: int
) -> tuple[CursorVerdict, CursorState]:
    """Verify a cursor for ``device_id``; on any failure return an empty state to resend all."""
    empty = CursorState(device_id)
    if not token:
        return CursorVerdict.MISSING, empty
    try:
        body_text, mac_text = token.split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, binascii.Error):
        return CursorVerdict.MALFORMED, empty
    if not hmac.compare_digest(mac, _mac(secret, body)):
        return CursorVerdict.FORGED, empty
    try:
        payload = json.loads(zlib.decompress(body))
        version, owner, expires = payload["v"], payload["d"], payload["x"]
        seen, after = payload["s"], payload["a"]
    except (ValueError, KeyError, TypeError, zlib.error):
        return CursorVerdict.MALFORMED, empty
    if version != _VERSION or not isinstance(seen, dict) or not isinstance(expires, int):
        return CursorVerdict.MALFORMED, empty
    if owner != device_id:
        return CursorVerdict.FOREIGN, empty
    if expires <= now_s:
        return CursorVerdict.EXPIRED, empty
    return CursorVerdict.VALID, CursorState(device_id, seen, after)
