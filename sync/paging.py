"""Incremental, paged pull over the collector's current day.

The server describes the day as items (route stops, accounts) keyed by a stable string and
versioned by a short digest of their content. Comparing with what the cursor says the device
already holds yields changes and tombstones. Pages advance by key, and the cursor only records
what was actually sent, so writes between pages are never missed (an item changed behind the
page position is still out of date in the cursor and goes out on the next round) and never
sent twice in a round.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.cursor import CursorState

DIGEST_CHARS = 10


def item_digest(content: Any) -> str:
    """Short, stable digest of an item's JSON content; enough to notice it changed."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:DIGEST_CHARS]


@dataclass(frozen=True, slots=True)
class PagePlan:
    """Which items to send now, which to tombstone, and the cursor state that follows."""

    send: list[str]
    remove: list[str]
    next_state: CursorState
    has_more: bool


def plan_page(state: CursorState, current: Mapping[str, str], page_size: int) -> PagePlan:
    """Choose the next page of changes for a device.

    ``current`` maps each item key of the day, as read now, to its digest. Changed or new
    items and removed items count toward ``page_size`` alike, in key order, starting after
    ``state.after``.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    keys = sorted(set(current) | set(state.seen))
    if state.after is not None:
        keys = [k for k in keys if k > state.after]
    pending = [k for k in keys if current.get(k) != state.seen.get(k)]
    page, rest = pending[:page_size], pending[page_size:]
    seen = dict(state.seen)
    send: list[str] = []
    remove: list[str] = []
    for key in page:
        if key in current:
            seen[key] = current[key]
            send.append(key)
        else:
            del seen[key]
            remove.append(key)
    has_more = bool(rest)
    after = page[-1] if has_more else None
    return PagePlan(send, remove, CursorState(state.device_id, seen, after), has_more)
