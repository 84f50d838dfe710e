"""An independent check of a plan: is it feasible, what does it collect, how far does it go.

It shares nothing with the solvers but the problem model, so a solver bug cannot hide
behind its own bookkeeping. Times follow one convention everywhere:

* a route leaves its start at the shift start; service starts inside one of the visit's
  windows (waiting is allowed) and the route must be back by the shift end;
* the lunch break may start anywhere in its window, but never during a service: it may
  interrupt travel or overlap waiting. Taking it on the leg that leaves at ``D`` with travel
  ``T`` makes the next arrival ``max(D + T, w0) + duration`` and requires ``max(D, w0) <= w1``.
  A route that is back by the end of the break window needs no break on the clock.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from routing.model import Break, CollectorShift, ProblemData, Solution, Visit

INFEASIBLE = 1 << 60


@dataclass(frozen=True, slots=True)
class StopTime:
    """When a collector reaches a door and when service starts there."""

    visit_id: str
    arrival_s: int
    start_s: int
    departure_s: int


@dataclass(frozen=True, slots=True)
class RouteSchedule:
    """The timed route of one collector."""

    collector_id: str
    stops: tuple[StopTime, ...]
    start_s: int
    end_s: int
    break_start_s: int | None
    travel_s: int
    distance_m: int
    service_s: int
    value: int
    feasible: bool

    @property
    def duration_s(self) -> int:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The verdict on a whole plan."""

    feasible: bool
    violations: tuple[str, ...]
    routes: tuple[RouteSchedule, ...]
    value: int
    travel_s: int
    distance_m: int
    dropped: tuple[str, ...]


def first_start(windows: Sequence[tuple[int, int]], ready_s: int) -> int:
    """Earliest service start at or after ``ready_s`` inside a window, or ``INFEASIBLE``."""
    ends = [end for _, end in windows]
    k = bisect.bisect_left(ends, ready_s)
    if k == len(windows):
        return INFEASIBLE
    return max(ready_s, windows[k][0])


def ready_after_break(depart_s: int, travel_s: int, lunch: Break) -> int:
    """Arrival at the next place when the break is taken on this leg (or ``INFEASIBLE``)."""
    if max(depart_s, lunch.window_start_s) > lunch.window_end_s:
        return INFEASIBLE
    return max(depart_s + travel_s, lunch.window_start_s) + lunch.duration_s


@dataclass(frozen=True, slots=True)
class _Timing:
    arrivals: list[int]
    starts: list[int]
    end_s: int
    break_start_s: int | None


def time_route(data: ProblemData, collector: CollectorShift, visits: Sequence[Visit]) -> _Timing:
    """Earliest-start schedule of a visit sequence, choosing the best leg for the break.

    Two states are propagated along the route: the break not taken yet, and taken (earliest
    departure in each). Arriving earlier never hurts (waiting is allowed), so keeping the
    earliest time per state is exact. ``end_s`` is ``INFEASIBLE`` when no schedule exists.
    """
    durations = data.durations_s[collector.profile]
    lunch = collector.lunch
    place = collector.start_location
    free = collector.shift_start_s  # departure, break not yet taken
    done = INFEASIBLE if lunch is not None else free  # departure, break taken (or none)
    free_trace: list[tuple[int, int]] = []
    done_trace: list[tuple[int, int, bool]] = []  # arrival, start, came from "free"
    for visit in visits:
        travel = int(durations[place, visit.location])
        free_arrival = free + travel if free < INFEASIBLE else INFEASIBLE
        via_done = done + travel if done < INFEASIBLE else INFEASIBLE
        via_break = (
            ready_after_break(free, travel, lunch)
            if lunch is not None and free < INFEASIBLE
            else INFEASIBLE
        )
        from_free = via_break < via_done
        done_arrival = min(via_done, via_break)
        free_start = (
            first_start(visit.windows, free_arrival) if free_arrival < INFEASIBLE else INFEASIBLE
        )
        done_start = (
            first_start(visit.windows, done_arrival) if done_arrival < INFEASIBLE else INFEASIBLE
        )
        free_trace.append((free_arrival, free_start))
        done_trace.append((done_arrival, done_start, from_free))
        free = free_start + visit.service_s if free_start < INFEASIBLE else INFEASIBLE
        done = done_start + visit.service_s if done_start < INFEASIBLE else INFEASIBLE
        place = visit.location
    travel = int(durations[place, collector.end_location])
    free_end = free + travel if free < INFEASIBLE else INFEASIBLE
    if lunch is None:
        end_ok = free_end <= collector.shift_end_s
        return _Timing(
            [a for a, _ in free_trace],
            [s for _, s in free_trace],
            free_end if end_ok else INFEASIBLE,
            None,
        )
    if free_end <= min(lunch.window_end_s, collector.shift_end_s) or not visits:
        # Back before the break window closes (or nothing to do): the break is off the clock.
        return _Timing([a for a, _ in free_trace], [s for _, s in free_trace], free_end, None)
    via_done = done + travel if done < INFEASIBLE else INFEASIBLE
    via_break = ready_after_break(free, travel, lunch) if free < INFEASIBLE else INFEASIBLE
    end = min(via_done, via_break)
    if end > collector.shift_end_s:
        return _Timing([], [], INFEASIBLE, None)
    # Walk back: find the leg where the break was taken.
    arrivals = [0] * len(visits)
    starts = [0] * len(visits)
    in_done = via_done <= via_break
    break_leg = len(visits) if not in_done else -1
    for k in range(len(visits) - 1, -1, -1):
        if in_done:
            arrival, start, from_free = done_trace[k]
            arrivals[k], starts[k] = arrival, start
            if from_free:
                break_leg = k
                in_done = False
        else:
            arrivals[k], starts[k] = free_trace[k]
    if break_leg < 0:
        return _Timing([], [], INFEASIBLE, None)
    depart = (
        collector.shift_start_s
        if break_leg == 0
        else starts[break_leg - 1] + visits[break_leg - 1].service_s
    )
    break_start = max(depart, lunch.window_start_s)
    return _Timing(arrivals, starts, end, break_start)


def evaluate(data: ProblemData, solution: Solution) -> Evaluation:
    """Check every constraint of ``data`` against ``solution`` and total what it achieves."""
    violations: list[str] = []
    served: set[str] = set()
    schedules: list[RouteSchedule] = []
    seen_collectors: set[str] = set()
    for route in solution.routes:
        if route.collector_id not in data.collector_index:
            violations.append(f"unknown collector {route.collector_id}")
            continue
        if route.collector_id in seen_collectors:
            violations.append(f"collector {route.collector_id} has two routes")
            continue
        seen_collectors.add(route.collector_id)
        collector = data.collectors[data.collector_index[route.collector_id]]
        visits: list[Visit] = []
        for visit_id in route.visit_ids:
            if visit_id not in data.visit_index:
                violations.append(f"{route.collector_id}: unknown visit {visit_id}")
                continue
            if visit_id in served:
                violations.append(f"visit {visit_id} is served twice")
                continue
            served.add(visit_id)
            visit = data.visits[data.visit_index[visit_id]]
            if visit.allowed_collectors and collector.id not in visit.allowed_collectors:
                violations.append(f"visit {visit_id} is not allowed for {collector.id}")
            visits.append(visit)
        schedule = _schedule(data, collector, visits)
        if not schedule.feasible:
            violations.append(f"{collector.id}: no schedule respects the windows, break and shift")
        if collector.max_visits is not None and len(visits) > collector.max_visits:
            violations.append(f"{collector.id}: {len(visits)} visits > max {collector.max_visits}")
        load = sum(v.demand for v in visits)
        if collector.capacity is not None and load > collector.capacity:
            violations.append(f"{collector.id}: load {load} > capacity {collector.capacity}")
        schedules.append(schedule)
    dropped = tuple(v.id for v in data.visits if v.id not in served)
    for visit_id in dropped:
        if data.visits[data.visit_index[visit_id]].required:
            violations.append(f"required visit {visit_id} is not served")
    return Evaluation(
        feasible=not violations,
        violations=tuple(violations),
        routes=tuple(schedules),
        value=sum(s.value for s in schedules),
        travel_s=sum(s.travel_s for s in schedules),
        distance_m=sum(s.distance_m for s in schedules),
        dropped=dropped,
    )


def _schedule(data: ProblemData, collector: CollectorShift, visits: list[Visit]) -> RouteSchedule:
    durations = data.durations_s[collector.profile]
    path = [collector.start_location, *(v.location for v in visits), collector.end_location]
    travel = sum(int(durations[a, b]) for a, b in itertools.pairwise(path)) if visits else 0
    distance = (
        sum(int(data.distances_m[a, b]) for a, b in itertools.pairwise(path)) if visits else 0
    )
    timing = time_route(data, collector, visits)
    feasible = timing.end_s < INFEASIBLE
    if not feasible:
        timing = _relaxed_timing(data, collector, visits)
    stops = tuple(
        StopTime(v.id, a, s, s + v.service_s)
        for v, a, s in zip(visits, timing.arrivals, timing.starts, strict=False)
    )
    return RouteSchedule(
        collector_id=collector.id,
        stops=stops,
        start_s=collector.shift_start_s,
        end_s=timing.end_s if visits else collector.shift_start_s,
        break_start_s=timing.break_start_s,
        travel_s=travel,
        distance_m=distance,
        service_s=sum(v.service_s for v in visits),
        value=sum(v.value for v in visits),
        feasible=feasible,
    )


def _relaxed_timing(data: ProblemData, collector: CollectorShift, visits: list[Visit]) -> _Timing:
    """Times for an infeasible route, so a dispatcher still sees where it goes wrong.

    Late arrivals start service on arrival; the break is ignored.
    """
    durations = data.durations_s[collector.profile]
    place, clock = collector.start_location, collector.shift_start_s
    arrivals: list[int] = []
    starts: list[int] = []
    for visit in visits:
        arrival = clock + int(durations[place, visit.location])
        start = first_start(visit.windows, arrival)
        start = arrival if start >= INFEASIBLE else start
        arrivals.append(arrival)
        starts.append(start)
        clock, place = start + visit.service_s, visit.location
    return _Timing(arrivals, starts, clock + int(durations[place, collector.end_location]), None)
