"""The immutable problem model: what must be decided for one collection day.

Shaped like PyVRP's ``ProblemData``: plain frozen records validated once at construction,
integer units named for what they are (OR-Tools and the evaluator work in integers), and
matrices indexed by *location*, so several visits may share a door and collectors may start
at home or at the office.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

Window = tuple[int, int]
"""A closed interval ``(start_s, end_s)`` of seconds from local midnight."""

IntMatrix = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _check_windows(windows: Sequence[Window], what: str) -> None:
    previous_end = -1
    for start_s, end_s in windows:
        if start_s < 0 or end_s < start_s:
            raise ValueError(f"{what}: window ({start_s}, {end_s}) is empty or negative")
        if start_s <= previous_end:
            raise ValueError(f"{what}: windows must be sorted and disjoint")
        previous_end = end_s


@dataclass(frozen=True, slots=True)
class Visit:
    """One door to knock on: an account chosen for the day.

    ``value`` is the expected recovery in value units (integers, e.g. cents); ``windows`` are
    the times service may *start* (waiting is allowed), already intersected with legal hours.
    An empty ``allowed_collectors`` means any collector may take it; a locked stop has exactly
    one allowed collector and ``required=True``.
    """

    id: str
    location: int
    service_s: int
    value: int
    windows: tuple[Window, ...]
    required: bool = False
    demand: int = 0
    allowed_collectors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.service_s < 0:
            raise ValueError(f"visit {self.id}: service_s must be >= 0")
        if self.value < 0:
            raise ValueError(f"visit {self.id}: value must be >= 0")
        if self.demand < 0:
            raise ValueError(f"visit {self.id}: demand must be >= 0")
        _check_windows(self.windows, f"visit {self.id}")


@dataclass(frozen=True, slots=True)
class Break:
    """A break of ``duration_s`` that must start inside ``[window_start_s, window_end_s]``."""

    window_start_s: int
    window_end_s: int
    duration_s: int

    def __post_init__(self) -> None:
        if self.duration_s < 0 or self.window_end_s < self.window_start_s:
            raise ValueError("break: empty window or negative duration")


@dataclass(frozen=True, slots=True)
class CollectorShift:
    """A collector's working day: where it starts and ends, when, and how it travels.

    ``profile`` indexes ``ProblemData.durations_s`` (one travel-time matrix per travel mode).
    """

    id: str
    start_location: int
    end_location: int
    shift_start_s: int
    shift_end_s: int
    profile: int = 0
    max_visits: int | None = None
    capacity: int | None = None
    lunch: Break | None = None

    def __post_init__(self) -> None:
        if self.shift_end_s < self.shift_start_s or self.shift_start_s < 0:
            raise ValueError(f"collector {self.id}: shift ends before it starts")
        if self.max_visits is not None and self.max_visits < 0:
            raise ValueError(f"collector {self.id}: max_visits must be >= 0")
        if self.capacity is not None and self.capacity < 0:
            raise ValueError(f"collector {self.id}: capacity must be >= 0")
        lunch = self.lunch
        if lunch is not None and (
            lunch.window_start_s < self.shift_start_s
            or lunch.window_end_s + lunch.duration_s > self.shift_end_s
        ):
            raise ValueError(f"collector {self.id}: break window must lie inside the shift")


@dataclass(frozen=True, eq=False)
class ProblemData:
    """A validated day: visits, collectors and the travel matrices between locations.

    ``coordinates`` (one row per location, latitude/longitude or planar x/y) are only used to
    group visits geographically for decomposition; travel always comes from the matrices.
    """

    visits: tuple[Visit, ...]
    collectors: tuple[CollectorShift, ...]
    distances_m: IntMatrix
    durations_s: tuple[IntMatrix, ...]
    coordinates: FloatArray
    visit_index: dict[str, int] = field(init=False, repr=False)
    collector_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n_locations = self.distances_m.shape[0]
        if self.distances_m.shape != (n_locations, n_locations):
            raise ValueError("distances_m must be a square matrix")
        if not self.durations_s:
            raise ValueError("at least one travel-time matrix is required")
        for matrix in self.durations_s:
            if matrix.shape != (n_locations, n_locations):
                raise ValueError("every durations_s matrix must match distances_m")
            if (matrix < 0).any():
                raise ValueError("durations must be non-negative")
        if self.coordinates.shape != (n_locations, 2):
            raise ValueError("coordinates must have one (a, b) row per location")
        visit_index = {visit.id: i for i, visit in enumerate(self.visits)}
        if len(visit_index) != len(self.visits):
            raise ValueError("visit ids must be unique")
        collector_index = {c.id: i for i, c in enumerate(self.collectors)}
        if len(collector_index) != len(self.collectors):
            raise ValueError("collector ids must be unique")
        for visit in self.visits:
            if not 0 <= visit.location < n_locations:
                raise ValueError(f"visit {visit.id}: unknown location {visit.location}")
            for collector_id in visit.allowed_collectors:
                if collector_id not in collector_index:
                    raise ValueError(f"visit {visit.id}: unknown collector {collector_id}")
        for collector in self.collectors:
            for location in (collector.start_location, collector.end_location):
                if not 0 <= location < n_locations:
                    raise ValueError(f"collector {collector.id}: unknown location {location}")
            if not 0 <= collector.profile < len(self.durations_s):
                raise ValueError(f"collector {collector.id}: unknown profile {collector.profile}")
        for matrix in (self.distances_m, *self.durations_s):
            matrix.setflags(write=False)
        self.coordinates.setflags(write=False)
        object.__setattr__(self, "visit_index", visit_index)
        object.__setattr__(self, "collector_index", collector_index)

    def subset(
        self,
        collector_ids: Sequence[str],
        visit_ids: Sequence[str],
        shifts: Sequence[CollectorShift] | None = None,
    ) -> ProblemData:
        """The same day restricted to some collectors and visits, with compact matrices.

        Used to cut a city into zone problems that are cheap to send to another process.
        A visit allowed only to collectors outside the subset cannot be served there.
        ``shifts`` (locations of this day) replace the collectors' own, e.g. to model only
        a stretch of a route between two fixed stops.
        """
        keep = set(collector_ids)
        visits = [self.visits[self.visit_index[v]] for v in visit_ids]
        collectors = (
            list(shifts)
            if shifts is not None
            else [self.collectors[self.collector_index[c]] for c in collector_ids]
        )
        used = sorted(
            {v.location for v in visits}
            | {c.start_location for c in collectors}
            | {c.end_location for c in collectors}
        )
        new = {old: k for k, old in enumerate(used)}
        rows = np.array(used, dtype=np.int64)
        return ProblemData(
            tuple(replace(_restrict(v, keep), location=new[v.location]) for v in visits),
            tuple(
                replace(c, start_location=new[c.start_location], end_location=new[c.end_location])
                for c in collectors
            ),
            self.distances_m[np.ix_(rows, rows)],
            tuple(m[np.ix_(rows, rows)] for m in self.durations_s),
            self.coordinates[rows],
        )


def _restrict(visit: Visit, keep: set[str]) -> Visit:
    if not visit.allowed_collectors:
        return visit
    allowed = tuple(c for c in visit.allowed_collectors if c in keep)
    if allowed == visit.allowed_collectors:
        return visit
    # Nobody in the subset may take it: no windows makes it unservable here.
    return replace(visit, windows=visit.windows if allowed else (), allowed_collectors=allowed)


@dataclass(frozen=True, slots=True)
class Route:
    """The ordered visits of one collector (visit ids)."""

    collector_id: str
    visit_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Solution:
    """Routes for (some of) the collectors; visits on no route are dropped."""

    routes: tuple[Route, ...]

    def route_of(self, collector_id: str) -> Route | None:
        return next((r for r in self.routes if r.collector_id == collector_id), None)
