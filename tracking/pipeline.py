"""The Traccar-style pipeline: small ordered handlers between decoding and storage.

Each handler sees one fix and the device's known history and returns the fix (perhaps marked
with a filter reason, a distance or zones) or a :class:`Discard` when the fix must not be stored
at all (already stored, or outside the collector's shift). A filtered fix is still stored with
its reason, because it can matter in a dispute; only the live view, track and distance skip it.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from tracking.geo import haversine_m, valid_coordinates
from tracking.position import FilterReason, Position
from tracking.zones import ZoneIndex


class DiscardReason(StrEnum):
    """Why a fix is acknowledged but never stored."""

    DUPLICATE = "duplicate"
    OFF_SHIFT = "off_shift"


@dataclass(frozen=True, slots=True)
class Discard:
    """A handler's verdict that the fix is acknowledged and not stored."""

    reason: DiscardReason


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Thresholds, with defaults for people walking or riding motorbikes in a city."""

    max_accuracy_m: float = 100.0
    max_speed_mps: float = 50.0
    future_tolerance: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ShiftWindow:
    """A half-open interval [start, end) when the collector works and may be tracked."""

    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


class TrackState:
    """What the pipeline knows of one device: every stored fix time and its accepted fixes.

    Accepted fixes are kept sorted by fix time, so a late-arriving old fix is compared with
    the fix that preceded it in time, not with the one that happened to arrive last.
    """

    def __init__(
        self, stored_fix_times: Iterable[datetime] = (), accepted: Iterable[Position] = ()
    ) -> None:
        self._stored = set(stored_fix_times)
        self._accepted = sorted(accepted, key=lambda position: position.fix_time)
        self._stored.update(position.fix_time for position in self._accepted)
        self._times = [position.fix_time for position in self._accepted]
        self._last_step: tuple[Position, int, Position, float] | None = None

    def stored(self, fix_time: datetime) -> bool:
        return fix_time in self._stored

    def previous_accepted(self, fix_time: datetime) -> Position | None:
        """The latest accepted fix strictly before ``fix_time``."""
        index = bisect.bisect_left(self._times, fix_time)
        return self._accepted[index - 1] if index else None

    def step_from_previous(self, position: Position) -> tuple[Position, float] | None:
        """The previous accepted fix and the metres from it; the speed filter and the distance
        step both ask for the same fix, so the answer is kept for one repeat."""
        last = self._last_step
        if last is not None and last[0] is position and last[1] == len(self._times):
            return last[2], last[3]
        previous = self.previous_accepted(position.fix_time)
        if previous is None:
            return None
        distance = haversine_m(previous.lat, previous.lon, position.lat, position.lon)
        self._last_step = (position, len(self._times), previous, distance)
        return previous, distance

    def record(self, position: Position) -> None:
        self._stored.add(position.fix_time)
        if position.accepted:
            index = bisect.bisect_left(self._times, position.fix_time)
            self._times.insert(index, position.fix_time)
            self._accepted.insert(index, position)


@dataclass(slots=True)
class PipelineContext:
    """Everything a handler may consult; ``shifts`` None means the device is never private."""

    now: datetime
    state: TrackState = field(default_factory=TrackState)
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    shifts: Sequence[ShiftWindow] | None = None
    zones: ZoneIndex | None = None


class Gate(Protocol):
    """A step that may decide a fix is acknowledged but never stored."""

    def __call__(self, position: Position, context: PipelineContext) -> Position | Discard: ...


class Step(Protocol):
    """A step that marks or enriches a fix and always passes it on."""

    def __call__(self, position: Position, context: PipelineContext) -> Position: ...


def stamp_times(position: Position, context: PipelineContext) -> Position:
    """Keep the three times apart: server time is ours, device time defaults to the fix time."""
    if position.server_time == context.now and position.device_time is not None:
        return position  # the decoder already stamped it (no copy on the hot path)
    return dataclasses.replace(
        position,
        server_time=context.now,
        device_time=position.device_time or position.fix_time,
    )


def keep_shift_private(position: Position, context: PipelineContext) -> Position | Discard:
    """Collectors have a private life: a fix outside every shift window is never stored."""
    if context.shifts is None or any(position.fix_time in shift for shift in context.shifts):
        return position
    return Discard(DiscardReason.OFF_SHIFT)


def drop_duplicate(position: Position, context: PipelineContext) -> Position | Discard:
    """A fix is unique per device and fix time: resent batches store nothing twice."""
    if context.state.stored(position.fix_time):
        return Discard(DiscardReason.DUPLICATE)
    return position


def _filter(position: Position, reason: FilterReason) -> Position:
    return dataclasses.replace(position, filter_reason=reason)


def filter_invalid(position: Position, context: PipelineContext) -> Position:
    """Coordinates outside WGS84, not finite, or a fix the device itself declared invalid."""
    if not position.valid or not valid_coordinates(position.lat, position.lon):
        return _filter(position, FilterReason.INVALID)
    return position


def filter_zero(position: Position, context: PipelineContext) -> Position:
    """0,0 is what a device without a fix reports, not a place in the Gulf of Guinea."""
    if position.lat == 0.0 and position.lon == 0.0:
        return _filter(position, FilterReason.ZERO)
    return position


def filter_future(position: Position, context: PipelineContext) -> Position:
    """A fix time ahead of the server clock (beyond a small tolerance) is a wrong device clock."""
    if position.fix_time > context.now + context.settings.future_tolerance:
        return _filter(position, FilterReason.FUTURE)
    return position


def filter_accuracy(position: Position, context: PipelineContext) -> Position:
    """A fix whose accuracy radius is worse than the threshold proves nothing about a door."""
    accuracy = position.accuracy_m
    if accuracy is not None and accuracy > context.settings.max_accuracy_m:
        return _filter(position, FilterReason.ACCURACY)
    return position


def filter_speed_jump(position: Position, context: PipelineContext) -> Position:
    """A jump from the previous accepted fix faster than anyone in the field can move.

    Both fixes' accuracy radii are granted before dividing by the elapsed time, so GPS
    jitter between fixes a second apart is not mistaken for a jump.
    """
    step = context.state.step_from_previous(position)
    if step is None:
        return position
    previous, distance_m = step
    elapsed_s = max((position.fix_time - previous.fix_time).total_seconds(), 1.0)
    slack_m = (previous.accuracy_m or 0.0) + (position.accuracy_m or 0.0)
    if max(distance_m - slack_m, 0.0) / elapsed_s > context.settings.max_speed_mps:
        return _filter(position, FilterReason.SPEED_JUMP)
    return position


def measure_distance(position: Position, context: PipelineContext) -> Position:
    """Metres from the previous accepted fix in time order."""
    step = context.state.step_from_previous(position)
    if step is None:
        return position
    return dataclasses.replace(position, distance_m=step[1])


def locate_zones(position: Position, context: PipelineContext) -> Position:
    """The dispatcher zones the fix falls in, for the outside-assigned-zone alert."""
    if context.zones is None:
        return position
    return dataclasses.replace(
        position, zone_ids=context.zones.containing(position.lat, position.lon)
    )


FILTERS: tuple[Step, ...] = (
    filter_invalid,
    filter_zero,
    filter_future,
    filter_accuracy,
    filter_speed_jump,
)
"""Filters run in this order and the first that objects names the reason."""

ENRICHERS: tuple[Step, ...] = (measure_distance, locate_zones)
"""Steps that only make sense for accepted fixes."""

GATES: tuple[Gate, ...] = (keep_shift_private, drop_duplicate)
"""Privacy first: a fix outside the shift is never looked at further."""


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    FILTERED = "filtered"
    DISCARDED = "discarded"


@dataclass(frozen=True, slots=True)
class ProcessedFix:
    """What the pipeline decided for one decoded fix."""

    position: Position
    outcome: Outcome
    discard_reason: DiscardReason | None = None


def run_pipeline(positions: Iterable[Position], context: PipelineContext) -> list[ProcessedFix]:
    """Process fixes in fix-time order so a shuffled batch gives the same result as a sorted one."""
    results: list[ProcessedFix] = []
    for decoded in sorted(positions, key=lambda position: position.fix_time):
        results.append(process_fix(decoded, context))
    return results


def process_fix(decoded: Position, context: PipelineContext) -> ProcessedFix:
    """Run one fix through time, gates, filters and enrichment, then record it as stored."""
    position = stamp_times(decoded, context)
    for gate in GATES:
        verdict = gate(position, context)
        if isinstance(verdict, Discard):
            return ProcessedFix(position, Outcome.DISCARDED, verdict.reason)
    for check in FILTERS:
        position = check(position, context)
        if not position.accepted:
            break
    else:
        for enrich in ENRICHERS:
            position = enrich(position, context)
    context.state.record(position)
    outcome = Outcome.ACCEPTED if position.accepted else Outcome.FILTERED
    return ProcessedFix(position, outcome)
