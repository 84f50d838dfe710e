"""The position record every decoder produces and every pipeline step reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

AttributeValue = str | float | int | bool | None


class FilterReason(StrEnum):
    """Why a fix was kept out of the live view, the track and the distance."""

    INVALID = "invalid"
    ZERO = "zero"
    FUTURE = "future"
    DUPLICATE = "duplicate"
    ACCURACY = "accuracy"
    SPEED_JUMP = "speed_jump"


@dataclass(frozen=True, slots=True)
class Position:
    """One GPS fix, with the three times Traccar keeps apart.

    ``fix_time`` is when the satellite fix was taken (the identity of a fix per device),
    ``device_time`` when the device reported it and ``server_time`` when we received it.
    Units are named in the field names because decoders convert from knots, km/h and
    battery fractions. ``valid`` is the device's own claim (OsmAnd ``valid=false``).
    Pipeline steps fill ``filter_reason``, ``distance_m`` and ``zone_ids``.
    """

    fix_time: datetime
    lat: float
    lon: float
    device_time: datetime | None = None
    server_time: datetime | None = None
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    altitude_m: float | None = None
    battery_pct: float | None = None
    provider: str | None = None
    mock: bool = False
    valid: bool = True
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    filter_reason: FilterReason | None = None
    distance_m: float = 0.0
    zone_ids: tuple[int, ...] = ()

    @property
    def accepted(self) -> bool:
        """True when no filter rejected the fix, so it may feed live view, track and distance."""
        return self.filter_reason is None
