"""The device protocol of offline-first sync, in plain Python.

The server and the simulated handheld share these rules (mutation names and their arguments,
exactly-once sequencing, signed pull cursors, receipt blocks, clock correction, tus headers,
image sniffing) so both sides agree on them without either importing the other.
"""

from sync.clock import ClockReading, TimeFlag, correct_time
from sync.cursor import CursorState, CursorVerdict, issue_cursor, read_cursor
from sync.media import sniff_image_type
from sync.mutations import (
    MUTATION_NAMES,
    EnvelopeError,
    Mutation,
    Rejection,
    content_hash,
    parse_envelope,
    validate_args,
)
from sync.receipts import ReceiptBlock, format_receipt, parse_receipt
from sync.sequencing import Apply, Conflict, Gap, Replay, Step, plan_application

__all__ = [
    "MUTATION_NAMES",
    "Apply",
    "ClockReading",
    "Conflict",
    "CursorState",
    "CursorVerdict",
    "EnvelopeError",
    "Gap",
    "Mutation",
    "ReceiptBlock",
    "Rejection",
    "Replay",
    "Step",
    "TimeFlag",
    "content_hash",
    "correct_time",
    "format_receipt",
    "issue_cursor",
    "parse_envelope",
    "parse_receipt",
    "plan_application",
    "read_cursor",
    "sniff_image_type",
    "validate_args",
]
