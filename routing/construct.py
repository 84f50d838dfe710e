"""A fast first plan: value-per-minute insertion, vectorised over candidate visits.

OR-Tools' own first-solution strategies either fail on tight windows or collect too little
value on a collection day, and every later improvement starts from this plan, so it must be
both good and quick. Each step inserts the visit with the best value per added minute (added
travel + service + waiting) at its best feasible position; must-visits go first, hardest
(largest regret) first. After an insertion only the changed route's candidate row is
recomputed, with numpy over all (visit, position) pairs.

The lunch break is held on one leg of each route while inserting (the leg that lets the route
end earliest); inserting into that leg tries the break on either side of the new visit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from routing.evaluate import INFEASIBLE, first_start, ready_after_break
from routing.model import CollectorShift, ProblemData, Route, Solution
from routing.zones import balanced_territories, planar_km

IntArray = npt.NDArray[np.int64]
_NO_GAIN = -1.0
GROUP_CONSTRUCTION_VISITS = 1500
GROUP_COLLECTORS = 10


@dataclass
class _RouteState:
    """Derived times of one route under a fixed break leg."""

    sequence: list[int]
    leg_from: IntArray
    leg_to: IntArray
    departure: IntArray
    latest_arrival: IntArray
    break_leg: int
    load: int
    end_s: int


class Builder:
    """Insertion state shared by construction, warm starts and repair."""

    def __init__(self, data: ProblemData) -> None:
        self.data = data
        visits = data.visits
        n = len(visits)
        self.location = np.array([v.location for v in visits], dtype=np.int64)
        self.service = np.array([v.service_s for v in visits], dtype=np.int64)
        self.value = np.array([v.value for v in visits], dtype=np.float64)
        self.demand = np.array([v.demand for v in visits], dtype=np.int64)
        self.required = np.array([v.required for v in visits], dtype=bool)
        width = max([len(v.windows) for v in visits] + [1])
        self.window_start = np.full((n, width), INFEASIBLE, dtype=np.int64)
        self.window_end = np.full((n, width), -1, dtype=np.int64)
        for i, visit in enumerate(visits):
            for k, (start, end) in enumerate(visit.windows):
                self.window_start[i, k] = start
                self.window_end[i, k] = end
        self.allowed = np.ones((len(data.collectors), n), dtype=bool)
        for i, visit in enumerate(visits):
            if visit.allowed_collectors:
                self.allowed[:, i] = False
                for collector_id in visit.allowed_collectors:
                    self.allowed[data.collector_index[collector_id], i] = True
        self.routes = [self._state(r, []) for r in range(len(data.collectors))]
        self.unrouted = np.ones(n, dtype=bool)

    # -- route timing ---------------------------------------------------------------------

    def timing(self, r: int, sequence: list[int]) -> _RouteState:
        """Earliest departures and latest arrivals along a route of collector r."""
        return self._state(r, sequence)

    def _state(self, r: int, sequence: list[int]) -> _RouteState:
        collector = self.data.collectors[r]
        durations = self.data.durations_s[collector.profile]
        path = [collector.start_location, *(int(self.location[i]) for i in sequence)]
        path.append(collector.end_location)
        legs = len(sequence) + 1
        break_leg = self._best_break_leg(collector, sequence, path) if collector.lunch else -1
        departure = np.empty(legs, dtype=np.int64)
        clock = collector.shift_start_s
        for k in range(legs):
            departure[k] = clock
            if clock >= INFEASIBLE:
                continue
            travel = int(durations[path[k], path[k + 1]])
            ready = self._leg_ready(collector, clock, travel, k == break_leg)
            if k < len(sequence) and ready < INFEASIBLE:
                i = sequence[k]
                start = first_start(self.data.visits[i].windows, ready)
                clock = start + int(self.service[i]) if start < INFEASIBLE else INFEASIBLE
            else:
                clock = ready
        end = clock
        latest = np.empty(legs, dtype=np.int64)
        bound = collector.shift_end_s
        latest[legs - 1] = bound
        for k in range(len(sequence) - 1, -1, -1):
            i = sequence[k]
            travel = int(durations[path[k + 1], path[k + 2]])
            if k + 1 == break_leg and collector.lunch is not None:
                lunch = collector.lunch
                if lunch.window_start_s + lunch.duration_s > bound:
                    leave = -INFEASIBLE
                else:
                    leave = min(bound - travel - lunch.duration_s, lunch.window_end_s)
            else:
                leave = bound - travel
            bound = self._latest_start(i, leave - int(self.service[i]))
            latest[k] = bound
        load = int(self.demand[sequence].sum()) if sequence else 0
        return _RouteState(
            sequence,
            np.array(path[:-1], dtype=np.int64),
            np.array(path[1:], dtype=np.int64),
            departure,
            latest,
            break_leg,
            load,
            end,
        )

    def _leg_ready(
        self, collector: CollectorShift, depart: int, travel: int, on_break: bool
    ) -> int:
        if on_break and collector.lunch is not None:
            return ready_after_break(depart, travel, collector.lunch)
        return depart + travel

    def _latest_start(self, i: int, limit: int) -> int:
        best = -INFEASIBLE
        for start, end in self.data.visits[i].windows:
            if start <= limit:
                best = max(best, min(end, limit))
        return best

    def _best_break_leg(
        self, collector: CollectorShift, sequence: list[int], path: list[int]
    ) -> int:
        """The leg on which taking the break ends the route earliest (break on the clock).

        Two states along the route (break pending / taken) with the earliest departure in
        each; earlier is never worse, so this is exact in one pass.
        """
        lunch = collector.lunch
        assert lunch is not None
        durations = self.data.durations_s[collector.profile]
        pending = collector.shift_start_s
        taken, taken_leg = INFEASIBLE, -1
        for k in range(len(sequence) + 1):
            travel = int(durations[path[k], path[k + 1]])
            via_taken = taken + travel if taken < INFEASIBLE else INFEASIBLE
            via_break = (
                ready_after_break(pending, travel, lunch) if pending < INFEASIBLE else INFEASIBLE
            )
            if via_break < via_taken:
                via_taken, taken_leg = via_break, k
            pending = pending + travel if pending < INFEASIBLE else INFEASIBLE
            taken = via_taken
            if k < len(sequence):
                i = sequence[k]
                windows = self.data.visits[i].windows
                service = int(self.service[i])
                start = first_start(windows, pending) if pending < INFEASIBLE else INFEASIBLE
                pending = start + service if start < INFEASIBLE else INFEASIBLE
                start = first_start(windows, taken) if taken < INFEASIBLE else INFEASIBLE
                taken = start + service if start < INFEASIBLE else INFEASIBLE
        return max(taken_leg, 0)

    # -- vectorised insertion -------------------------------------------------------------

    def _first_start(self, candidates: IntArray, ready: IntArray) -> IntArray:
        start = self.window_start[candidates][:, None, :]
        end = self.window_end[candidates][:, None, :]
        arrivals = ready[:, :, None]
        options = np.where(end >= arrivals, np.maximum(arrivals, start), INFEASIBLE)
        result: IntArray = options.min(axis=2)
        return result

    def insertion_costs(self, r: int, candidates: IntArray) -> tuple[IntArray, IntArray]:
        """Best added time (travel + service + waiting) and leg for each candidate in route r."""
        state = self.routes[r]
        collector = self.data.collectors[r]
        count = len(candidates)
        infeasible = np.full(count, INFEASIBLE, dtype=np.int64)
        if count == 0:
            return infeasible, np.zeros(0, dtype=np.int64)
        mask = self.allowed[r, candidates].copy()
        if collector.max_visits is not None and len(state.sequence) >= collector.max_visits:
            mask[:] = False
        if collector.capacity is not None:
            mask &= self.demand[candidates] + state.load <= collector.capacity
        if not mask.any():
            return infeasible, np.zeros(count, dtype=np.int64)
        durations = self.data.durations_s[collector.profile]
        places = self.location[candidates]
        travel_in = durations[state.leg_from][:, places].T
        travel_out = durations[np.ix_(places, state.leg_to)]
        travel_old = durations[state.leg_from, state.leg_to]
        arrival = state.departure[None, :] + travel_in
        start = self._first_start(candidates, arrival)
        service = self.service[candidates][:, None]
        ready_next = start + service + travel_out
        ok = (start < INFEASIBLE) & (ready_next <= state.latest_arrival[None, :])
        wait = start - arrival
        lunch = collector.lunch
        b = state.break_leg
        if lunch is not None and b >= 0:
            depart = int(state.departure[b])
            # Break before the new visit.
            if max(depart, lunch.window_start_s) <= lunch.window_end_s:
                arrive_first = (
                    np.maximum(depart + travel_in[:, b], lunch.window_start_s) + lunch.duration_s
                )
            else:
                arrive_first = np.full(count, INFEASIBLE, dtype=np.int64)
            start_first = self._first_start(candidates, arrive_first[:, None])[:, 0]
            ok_first = (start_first < INFEASIBLE) & (
                start_first + service[:, 0] + travel_out[:, b] <= state.latest_arrival[b]
            )
            # Break after the new visit.
            leave = start[:, b] + service[:, 0]
            ready_after = np.where(
                np.maximum(leave, lunch.window_start_s) <= lunch.window_end_s,
                np.maximum(leave + travel_out[:, b], lunch.window_start_s) + lunch.duration_s,
                INFEASIBLE,
            )
            ok_after = (start[:, b] < INFEASIBLE) & (ready_after <= state.latest_arrival[b])
            ok[:, b] = ok_first | ok_after
            wait[:, b] = np.where(ok_after, wait[:, b], start_first - arrive_first)
        added = travel_in + travel_out - travel_old[None, :] + service + wait
        added = np.where(ok & mask[:, None], added, INFEASIBLE)
        leg = added.argmin(axis=1)
        return added[np.arange(count), leg], leg

    def insert(self, r: int, visit: int, leg: int) -> bool:
        """Insert ``visit`` before position ``leg`` of route r, if the result is feasible."""
        sequence = list(self.routes[r].sequence)
        sequence.insert(leg, visit)
        state = self._state(r, sequence)
        if state.end_s > self.data.collectors[r].shift_end_s:
            return False
        self.routes[r] = state
        self.unrouted[visit] = False
        return True

    def solution(self) -> Solution:
        ids = [v.id for v in self.data.visits]
        return Solution(
            tuple(
                Route(c.id, tuple(ids[i] for i in state.sequence))
                for c, state in zip(self.data.collectors, self.routes, strict=True)
            )
        )

    # -- construction ---------------------------------------------------------------------

    def seed(self, solution: Solution) -> None:
        """Start from given routes (warm start, locked stops), keeping what still fits."""
        for route in solution.routes:
            r = self.data.collector_index.get(route.collector_id)
            if r is None:
                continue
            for visit_id in route.visit_ids:
                i = self.data.visit_index.get(visit_id)
                if i is None or not self.unrouted[i]:
                    continue
                costs, legs = self.insertion_costs(r, np.array([i], dtype=np.int64))
                # Keep the given order where possible: append, else the best place.
                end = len(self.routes[r].sequence)
                if not self.insert(r, i, end) and costs[0] < INFEASIBLE:
                    self.insert(r, i, int(legs[0]))

    def adopt(self, solution: Solution) -> None:
        """Take over feasible routes wholesale (routes that no longer fit are re-seeded)."""
        for route in solution.routes:
            r = self.data.collector_index[route.collector_id]
            sequence = [self.data.visit_index[v] for v in route.visit_ids]
            state = self._state(r, sequence)
            if state.end_s <= self.data.collectors[r].shift_end_s:
                self.routes[r] = state
                self.unrouted[sequence] = False
            else:
                self.seed(Solution((route,)))

    def fill(self, only: npt.NDArray[np.bool_] | None = None) -> None:
        """Insert unrouted visits: required ones by regret, then the rest by value per minute."""
        n_routes = len(self.routes)
        candidates = np.flatnonzero(self.unrouted if only is None else self.unrouted & only)
        if candidates.size == 0 or n_routes == 0:
            return
        cost = np.empty((n_routes, candidates.size), dtype=np.int64)
        leg = np.empty((n_routes, candidates.size), dtype=np.int64)
        for r in range(n_routes):
            cost[r], leg[r] = self.insertion_costs(r, candidates)
        open_ = np.ones(candidates.size, dtype=bool)
        required = self.required[candidates]
        value = self.value[candidates]
        while True:
            pickable = open_ & (cost.min(axis=0) < INFEASIBLE)
            if not pickable.any():
                return
            must = pickable & required
            if must.any():
                ordered = np.sort(cost, axis=0)
                second = ordered[1] if n_routes > 1 else np.full(candidates.size, INFEASIBLE)
                regret = np.where(second >= INFEASIBLE, INFEASIBLE, second - ordered[0])
                regret = np.where(must, regret, -1)
                k = int(np.argmax(regret))
                r = int(np.argmin(cost[:, k]))
            else:
                gain = np.where(
                    (cost < INFEASIBLE) & pickable[None, :],
                    value[None, :] / (cost.astype(np.float64) + 60.0),
                    _NO_GAIN,
                )
                flat = int(np.argmax(gain))
                r, k = divmod(flat, candidates.size)
            visit = int(candidates[k])
            if self.insert(r, visit, int(leg[r, k])):
                open_[k] = False
                cost[:, k] = INFEASIBLE
            else:
                cost[r, k] = INFEASIBLE
                continue
            remaining = np.flatnonzero(open_)
            row_cost, row_leg = self.insertion_costs(r, candidates[remaining])
            cost[r, remaining] = row_cost
            leg[r, remaining] = row_leg


def construct(data: ProblemData, start: Solution | None = None) -> Solution:
    """A feasible first plan, optionally keeping the routes of ``start`` where they still fit.

    When collectors start from different places, each first fills its own territory (balanced,
    compact, nearest its home), then everybody competes for what is left: routes come out
    compact instead of criss-crossing the city after the most valuable doors. A very big day
    is first built group by group of neighbouring collectors (insertion over ten thousand
    visits at once would be slow), then the leftovers are offered to everybody.
    """
    territory = _territories(data)
    if territory is not None and len(data.visits) > GROUP_CONSTRUCTION_VISITS:
        return _construct_by_groups(data, territory, start)
    builder = Builder(data)
    if start is not None:
        builder.seed(start)
    if territory is not None:
        everywhere = builder.allowed
        builder.allowed = everywhere & (
            territory[None, :] == np.arange(len(data.collectors))[:, None]
        )
        builder.fill()
        builder.allowed = everywhere
    builder.fill()
    return builder.solution()


def _construct_by_groups(
    data: ProblemData, territory: IntArray, start: Solution | None
) -> Solution:
    points = planar_km(data.coordinates)
    homes = points[[c.start_location for c in data.collectors]]
    k = -(-len(data.collectors) // GROUP_COLLECTORS)
    group_of = balanced_territories(homes, k, slack=0.0)
    routes: list[Route] = []
    for g in range(k):
        members = np.flatnonzero(group_of == g)
        ids = [data.collectors[c].id for c in members.tolist()]
        visits = [data.visits[i].id for i in np.flatnonzero(np.isin(territory, members)).tolist()]
        kept = set(ids)
        own = Solution(tuple(r for r in start.routes if r.collector_id in kept)) if start else None
        routes.extend(construct(data.subset(ids, visits), own).routes)
    builder = Builder(data)
    builder.adopt(Solution(tuple(routes)))
    builder.fill()
    return builder.solution()


def _territories(data: ProblemData) -> IntArray | None:
    """Each visit's territory, numbered by the collector it suits (or None when pointless)."""
    k = len(data.collectors)
    starts = {c.start_location for c in data.collectors}
    if k < 2 or len(starts) < 2 or len(data.visits) < 4 * k:
        return None
    points = planar_km(data.coordinates)
    doors = points[[v.location for v in data.visits]]
    labels = balanced_territories(doors, k, slack=0.1)
    centres = np.array([doors[labels == z].mean(axis=0) for z in range(k)])
    homes = points[[c.start_location for c in data.collectors]]
    distance = ((homes[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    owner = np.full(k, -1, dtype=np.int64)  # territory -> collector, nearest pairs first
    for flat in np.argsort(distance, axis=None).tolist():
        collector, zone = divmod(flat, k)
        if owner[zone] < 0 and collector not in owner:
            owner[zone] = collector
    result: IntArray = owner[labels]
    return result


def repair(
    data: ProblemData, solution: Solution, visit_ids: Sequence[str] | None = None
) -> Solution:
    """Insert dropped visits into an existing plan without moving the stops already there."""
    builder = Builder(data)
    builder.seed(solution)
    only = None
    if visit_ids is not None:
        only = np.zeros(len(data.visits), dtype=bool)
        only[[data.visit_index[v] for v in visit_ids]] = True
    builder.fill(only)
    return builder.solution()
