"""Device clocks are not trusted: measure their offset at each sync and correct capture times.

A handheld's clock may be days ahead or a year behind (a dead battery resets it). Each push
carries the device's clock reading when it sent the request; the server's receive time minus
that reading is the offset, applied to the capture times in the same push. Implausible raw
times are flagged for review, never rejected: the capture is a fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

SKEW_TOLERANCE: Final = timedelta(minutes=5)
"""Offsets below this are network latency and ordinary drift, not a wrong clock."""


class TimeFlag(StrEnum):
    """Why a capture's device time looks wrong."""

    FUTURE = "future"
    BEFORE_ACCOUNT = "before_account"
    CLOCK_SKEW = "clock_skew"


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One sync's measurement: the device's clock and the server's, at the same moment."""

    device_time: datetime
    server_time: datetime

    @property
    def offset(self) -> timedelta:
        """What to add to a device time to get server time."""
        return self.server_time - self.device_time


@dataclass(frozen=True, slots=True)
class CorrectedTime:
    """The three times kept for every capture, plus what looked implausible."""

    device_time: datetime
    received_at: datetime
    corrected: datetime
    flags: frozenset[TimeFlag]


def correct_time(
    device_time: datetime,
    received_at: datetime,
    reading: ClockReading | None,
    account_since: datetime | None = None,
    tolerance: timedelta = SKEW_TOLERANCE,
) -> CorrectedTime:
    """Correct ``device_time`` with the clock offset measured at this sync.

    Without a reading the device time is used as is. A corrected time can never be later than
    the server received it, so it is capped at ``received_at``.
    """
    for moment in (device_time, received_at):
        if moment.tzinfo is None:
            raise ValueError("times must be timezone-aware")
    flags: set[TimeFlag] = set()
    corrected = device_time
    if reading is not None:
        corrected = device_time + reading.offset
        if abs(reading.offset) > tolerance:
            flags.add(TimeFlag.CLOCK_SKEW)
    if device_time > received_at + tolerance:
        flags.add(TimeFlag.FUTURE)
    if account_since is not None and device_time < account_since - tolerance:
        flags.add(TimeFlag.BEFORE_ACCOUNT)
    corrected = min(corrected, received_at)
    return CorrectedTime(device_time, received_at, corrected, frozenset(flags))
