"""Receipt numbers issued offline from blocks the server allots to each device.

A collector must hand the debtor a receipt at the door even without signal, so each device
owns a contiguous block of numbers; blocks never overlap, so two devices never issue the same
number. The printed form ``R-<prefix>-<n>`` names the block's prefix (the agency's series).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_RECEIPT_RE: Final = re.compile(r"^R-([A-Z0-9]{1,12})-([0-9]{1,12})$")
NUMBER_WIDTH: Final = 6


@dataclass(frozen=True, slots=True)
class ReceiptBlock:
    """Numbers ``start``..``end`` (inclusive) of series ``prefix``, owned by one device."""

    prefix: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Z0-9]{1,12}", self.prefix):
            raise ValueError("prefix must be 1-12 upper-case letters or digits")
        if self.start < 1 or self.end < self.start:
            raise ValueError("a block needs 1 <= start <= end")

    @property
    def size(self) -> int:
        """How many receipts the block holds."""
        return self.end - self.start + 1

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, str):
            return False
        try:
            prefix, n = parse_receipt(number)
        except ValueError:
            return False
        return prefix == self.prefix and self.start <= n <= self.end

    def receipt(self, n: int) -> str:
        """The printed receipt number for ``n``, which must lie in the block."""
        if not self.start <= n <= self.end:
            raise ValueError(f"{n} is outside block {self.start}-{self.end}")
        return format_receipt(self.prefix, n)

    def remaining(self, last_issued: int | None) -> int:
        """Receipts still available after ``last_issued`` (None: none issued yet)."""
        if last_issued is None:
            return self.size
        return max(0, self.end - max(last_issued, self.start - 1))


def format_receipt(prefix: str, n: int) -> str:
    """``R-<prefix>-<n>``, zero-padded so receipts sort in issue order."""
    if n < 1:
        raise ValueError("receipt numbers start at 1")
    return f"R-{prefix}-{n:0{NUMBER_WIDTH}d}"


def parse_receipt(number: str) -> tuple[str, int]:
    """Split a receipt number into its series prefix and its number."""
    match = _RECEIPT_RE.match(number)
    if match is None:
        raise ValueError(f"{number!r} is not a receipt number like R-<prefix>-<n>")
    n = int(match.group(2))
    if n < 1:
        raise ValueError("receipt numbers start at 1")
    return match.group(1), n


def next_block(prefix: str, highest_allotted: int, size: int) -> ReceiptBlock:
    """The block after every number already allotted in the series; never overlaps."""
    if size < 1:
        raise ValueError("a block holds at least one receipt")
    if highest_allotted < 0:
        raise ValueError("highest_allotted cannot be negative")
    return ReceiptBlock(prefix, highest_allotted + 1, highest_allotted + size)


def needs_new_block(block: ReceiptBlock, last_issued: int | None, low_water: int) -> bool:
    """Whether the device is running low and should get a fresh block on its next pull."""
    return block.remaining(last_issued) <= low_water
