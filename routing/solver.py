"""The planner: a strong first plan, then OR-Tools local search, by zones when the day is big.

Plain OR-Tools on a whole city collects too little value, because its first solutions ignore
value and its local search is slow on a thousand optional nodes. So the default path is:

1. ``construct``: value-per-minute insertion (``routing.construct``), a feasible plan in
   well under a second for a city day;
2. ruin and recreate around OR-Tools (``lns_until``): OR-Tools' guided local search from
   that plan (or from its own parallel cheapest insertion) for a short while, then strings
   of stops are removed from a few neighbouring routes, reinserted, and those routes
   polished by OR-Tools' greedy descent on a small model of their own (every
   ``lns_ortools_every``-th time), then by cheap moves (``routing.local_search``: relocate,
   exchange, 2-opt, 2-opt*, cross, routes handed to other collectors, dropped visits in),
   over and over.
   Small days are solved whole, with a second start and seed racing in another process.
   Big days are cut into groups of neighbouring collectors (balanced territories of their
   routes) that are solved in parallel processes; each round redraws the groups, so visits
   move across the previous borders; dropped visits are re-offered after every round.
   The rounds search at a lower value weight (``search_weight``): at the full weight a
   visit is worth hours of travel, so no step may let one go, not even for a door nearby
   worth almost as much, and the routes stay close to the first plan's territories.
3. on a day solved by zones, the end of the budget goes to travel alone (``shorten``):
   OR-Tools' guided local search on the chosen visits, the whole day at once, then the
   cheap moves again at the full weight, which put back the visits that pay.

Every candidate plan is checked by the independent evaluator; a plan that fails it is never
returned (the previous best is kept instead).
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from routing.construct import Builder, construct, repair
from routing.evaluate import INFEASIBLE, Evaluation, evaluate
from routing.local_search import LocalSearch
from routing.model import Break, CollectorShift, ProblemData, Route, Solution
from routing.zones import balanced_territories

REQUIRED_PENALTY = 10**12
RACE_MIN_BUDGET_S = 20.0
RACE_RETURN_S = 1.0
RACE_PHASES = 2
REFILL_S = 0.6
LEAN_OFF_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_relocate_pair",
    "use_light_relocate_pair",
    "use_exchange_pair",
    "use_relocate_subtrip",
    "use_exchange_subtrip",
    "use_shortest_path_swap_active",
    "use_swap_active_chain",
    "use_shortest_path_two_opt",
    "use_make_chain_inactive",
    "use_lin_kernighan",
)
METAHEURISTICS = {
    "gls": routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH,
    "descent": routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT,
}


@dataclass(frozen=True, slots=True)
class SolveParams:
    """Knobs of one solve.

    ``value_weight_s``: seconds of travel that one value unit is worth (the drop penalty per
    unit). ``balance_weight``: cost per second of the latest route end (spreads work over
    collectors). ``zone_size``: collectors per zone problem when the day is decomposed.
    ``lns_*``: the ruin-and-recreate loop -- the share of the budget for OR-Tools' own first
    search, the record-to-record threshold (a fraction of the best plan's travel, shrinking
    to zero),
    the metaheuristic and time limit of each small re-optimisation, the average number
    of stops removed per ruin, how many stops on either side of a removed string stay
    movable (the rest of a long route is pinned), and how often OR-Tools polishes a
    recreated neighbourhood (the cheap moves run every time; an OR-Tools descent costs 40-70
    ms). ``ls_neighbours``: how many nearest visits the cheap moves try for each visit.
    ``search_worth``: on a day solved by zones, the rounds search at the value weight that
    makes an optional visit of median value worth this many median service times of travel
    (``search_weight``; never above ``value_weight_s``).
    ``travel_share``: the share of the budget kept at the end of a day solved by zones for
    shortening the routes of the chosen visits across the whole day (``shorten``), on days
    of at most ``travel_max_visits`` visits (OR-Tools' model of the whole day grows with
    the square of its size).
    """

    time_limit_s: float = 10.0
    value_weight_s: float = 60
    search_worth: float = 1.5
    balance_weight: int = 0
    workers: int = 2
    seed: int = 0
    zone_size: int = 5
    whole_day_max_visits: int = 300
    strategies: tuple[str, ...] = ("insertion", "ortools")
    lns_first_share: float = 0.1
    lns_threshold: float = 0.01
    lns_search: str = "descent"
    lns_step_s: float = 1.0
    lns_removed: int = 15
    lns_window: int = 8
    lns_ortools_every: int = 3
    ls_neighbours: int = 20
    travel_share: float = 0.2
    travel_max_visits: int = 2000


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported while solving: share of the time budget used and the best plan so far."""

    percent: float
    value: int
    travel_s: int
    phase: str


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class PlanResult:
    """The returned plan, its independent evaluation and why each dropped visit was left."""

    solution: Solution
    evaluation: Evaluation
    dropped_reasons: dict[str, str]
    runtime_s: float
    history: tuple[Progress, ...] = field(default=())


def objective(data: ProblemData, evaluation: Evaluation, params: SolveParams) -> int:
    """Lower is better: infeasible plans lose to every feasible one."""
    if not evaluation.feasible:
        return INFEASIBLE
    missing = 0
    for visit_id in evaluation.dropped:
        visit = data.visits[data.visit_index[visit_id]]
        missing += (
            REQUIRED_PENALTY if visit.required else round(visit.value * params.value_weight_s)
        )
    return missing + evaluation.travel_s


# -- OR-Tools model ------------------------------------------------------------------------


class OrtoolsModel:
    """The OR-Tools model of a day, built once and searched many times.

    Building the model costs more than a short local search on a hundred visits, so the
    ruin-and-recreate loop (``lns_until``) reuses one model for all its descents.
    """

    def __init__(self, data: ProblemData, params: SolveParams) -> None:
        self.data = data
        n, m = len(data.visits), len(data.collectors)
        starts = [n + 2 * c for c in range(m)]
        ends = [n + 2 * c + 1 for c in range(m)]
        self.manager = manager = pywrapcp.RoutingIndexManager(n + 2 * m, m, starts, ends)
        self.routing = routing = pywrapcp.RoutingModel(manager)
        locations = np.array(
            [v.location for v in data.visits]
            + [loc for c in data.collectors for loc in (c.start_location, c.end_location)],
            dtype=np.int64,
        )
        service = np.array([v.service_s for v in data.visits] + [0] * (2 * m), dtype=np.int64)
        travel_callbacks: dict[int, int] = {}
        time_callbacks: dict[int, int] = {}
        for profile in sorted({c.profile for c in data.collectors}):
            travel = data.durations_s[profile][np.ix_(locations, locations)]
            travel_callbacks[profile] = routing.RegisterTransitMatrix(travel.tolist())
            time_callbacks[profile] = routing.RegisterTransitMatrix(
                (travel + service[:, None]).tolist()
            )
        for v, collector in enumerate(data.collectors):
            routing.SetArcCostEvaluatorOfVehicle(travel_callbacks[collector.profile], v)
        horizon = max([c.shift_end_s for c in data.collectors] + [1])
        routing.AddDimensionWithVehicleTransits(
            [time_callbacks[c.profile] for c in data.collectors], horizon, horizon, False, "time"
        )
        time_dimension = routing.GetDimensionOrDie("time")
        if params.balance_weight:
            time_dimension.SetGlobalSpanCostCoefficient(params.balance_weight)
        if any(c.max_visits is not None for c in data.collectors):
            count = routing.RegisterUnaryTransitVector([1] * n + [0] * (2 * m))
            routing.AddDimensionWithVehicleCapacity(
                count,
                0,
                [n if c.max_visits is None else c.max_visits for c in data.collectors],
                True,
                "visits",
            )
        if any(c.capacity is not None for c in data.collectors):
            demand = routing.RegisterUnaryTransitVector(
                [v.demand for v in data.visits] + [0] * (2 * m)
            )
            total = sum(v.demand for v in data.visits)
            routing.AddDimensionWithVehicleCapacity(
                demand,
                0,
                [total if c.capacity is None else c.capacity for c in data.collectors],
                True,
                "load",
            )
        for v, collector in enumerate(data.collectors):
            time_dimension.CumulVar(routing.Start(v)).SetValue(collector.shift_start_s)
            time_dimension.CumulVar(routing.End(v)).SetRange(
                collector.shift_start_s, collector.shift_end_s
            )
        for i, visit in enumerate(data.visits):
            index = manager.NodeToIndex(i)
            cumul = time_dimension.CumulVar(index)
            if not visit.windows or visit.windows[0][0] > horizon:
                # Unservable here (e.g. a small problem whose shifts end before it opens).
                routing.AddDisjunction([index], 0)
                routing.ActiveVar(index).SetValue(0)
                continue
            cumul.SetRange(visit.windows[0][0], min(visit.windows[-1][1], horizon))
            for (_, gap_start), (gap_end, _) in itertools.pairwise(visit.windows):
                cumul.RemoveInterval(gap_start + 1, gap_end - 1)
            penalty = (
                REQUIRED_PENALTY if visit.required else round(visit.value * params.value_weight_s)
            )
            routing.AddDisjunction([index], penalty)
            if visit.allowed_collectors:
                routing.VehicleVar(index).SetValues(
                    [-1, *(data.collector_index[c] for c in visit.allowed_collectors)]
                )
        solver = routing.solver()
        visit_transits = [0] * routing.Size()
        for i, visit in enumerate(data.visits):
            visit_transits[manager.NodeToIndex(i)] = visit.service_s
        for v, collector in enumerate(data.collectors):
            if collector.lunch is not None:
                lunch = collector.lunch
                interval = solver.FixedDurationIntervalVar(
                    lunch.window_start_s, lunch.window_end_s, lunch.duration_s, False, f"lunch {v}"
                )
                time_dimension.SetBreakIntervalsOfVehicle([interval], v, visit_transits)
        self.closed = False
        self.last_cost = INFEASIBLE

    def search(self, time_limit_s: float, metaheuristic: str = "gls") -> Any:
        """Search parameters: parallel cheapest insertion, then the given metaheuristic."""
        search = pywrapcp.DefaultRoutingSearchParameters()
        search.first_solution_strategy = (
            routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
        )
        search.local_search_metaheuristic = METAHEURISTICS[metaheuristic]
        search.time_limit.FromMilliseconds(max(10, int(time_limit_s * 1000)))
        if metaheuristic == "descent":
            # A descent follows a ruin-and-recreate step: the cheap moves that repair a
            # neighbourhood matter, the slow chain and insertion LNS operators do not.
            operators = search.local_search_operators
            for name in LEAN_OFF_OPERATORS:
                setattr(operators, name, optional_boolean_pb2.BOOL_FALSE)
        return search

    def solve(
        self, start: Solution | None, time_limit_s: float, metaheuristic: str = "gls"
    ) -> Solution | None:
        """Search from ``start`` (visits missing from it start unperformed) or from scratch."""
        search = self.search(time_limit_s, metaheuristic)
        routing = self.routing
        if not self.closed:
            routing.CloseModelWithParameters(search)
            self.closed = True
        assignment = None
        if start is not None:
            routes: list[list[int]] = [[] for _ in self.data.collectors]
            for route in start.routes:
                v = self.data.collector_index[route.collector_id]
                routes[v] = [
                    self.manager.NodeToIndex(self.data.visit_index[x]) for x in route.visit_ids
                ]
            # Not ReadAssignmentFromRoutes: it propagates under the previous search's limits
            # and fails once a time-limited search has run on this model.
            initial = routing.solver().Assignment()
            if routing.RoutesToAssignment(routes, True, True, initial):
                assignment = routing.SolveFromAssignmentWithParameters(initial, search)
        else:
            assignment = routing.SolveWithParameters(search)
        if assignment is None:
            return None
        self.last_cost = int(assignment.ObjectiveValue())
        result = []
        for v, collector in enumerate(self.data.collectors):
            ids = []
            index = assignment.Value(routing.NextVar(routing.Start(v)))
            while not routing.IsEnd(index):
                ids.append(self.data.visits[self.manager.IndexToNode(index)].id)
                index = assignment.Value(routing.NextVar(index))
            result.append(Route(collector.id, tuple(ids)))
        return Solution(tuple(result))


def nearest_visits(data: ProblemData, count: int) -> np.ndarray:
    """Each visit's nearest other visits (by the first travel profile), nearest first."""
    locations = np.array([v.location for v in data.visits], dtype=np.int64)
    travel = data.durations_s[0][np.ix_(locations, locations)].astype(np.float64)
    travel = travel + travel.T
    np.fill_diagonal(travel, np.inf)
    count = min(count, len(data.visits) - 1)
    if count <= 0:
        return np.zeros((len(data.visits), 0), dtype=np.int64)
    nearest = np.argpartition(travel, count - 1, axis=1)[:, :count]
    order = np.take_along_axis(travel, nearest, axis=1).argsort(axis=1)
    result: np.ndarray = np.take_along_axis(nearest, order, axis=1)
    return result


def ruin(
    data: ProblemData,
    solution: Solution,
    neighbours: np.ndarray,
    rng: np.random.Generator,
    average_removed: int = 10,
    max_string: int = 10,
) -> tuple[list[str], set[str], int]:
    """Strings of consecutive stops to remove from routes near a random stop (SISR's ruin).

    Christiaens and Vanden Berghe's slack induction by string removals: neighbouring routes
    lose nearby strings at once, so the recreate step can rearrange a whole neighbourhood
    rather than one route. Returns the touched collectors, the removed visits and the seed.
    """
    position: dict[int, tuple[int, int]] = {}
    routes = [list(r.visit_ids) for r in solution.routes]
    for r, route in enumerate(routes):
        for k, visit_id in enumerate(route):
            position[data.visit_index[visit_id]] = (r, k)
    if not position:
        seed = int(rng.integers(len(data.visits)))
        return [], set(), seed
    lengths = [len(route) for route in routes if route]
    max_length = min(max_string, sum(lengths) / len(lengths))
    max_strings = 4 * average_removed / (1 + max_length) - 1
    strings = int(rng.uniform(1, max(1.0, max_strings) + 1))
    seed = int(rng.choice(list(position)))
    removed: set[str] = set()
    ruined: list[int] = []
    for candidate in [seed, *neighbours[seed].tolist()]:
        if len(ruined) >= strings:
            break
        if candidate not in position:
            continue
        r, k = position[candidate]
        if r in ruined:
            continue
        ruined.append(r)
        route = routes[r]
        length = int(rng.integers(1, max(1, min(len(route), round(max_length))) + 1))
        first = int(rng.integers(max(0, k - length + 1), min(k, len(route) - length) + 1))
        removed.update(route[first : first + length])
    return [solution.routes[r].collector_id for r in ruined], removed, seed


def plan_cost(data: ProblemData, solution: Solution, params: SolveParams) -> int:
    """OR-Tools' objective of a plan: travel, penalties of servable dropped visits, span cost."""
    return plan_cost_travel(data, solution, params)[0]


def plan_cost_travel(data: ProblemData, solution: Solution, params: SolveParams) -> tuple[int, int]:
    """``plan_cost`` and the plan's travel alone."""
    travel = 0
    routed: set[str] = set()
    for route in solution.routes:
        collector = data.collectors[data.collector_index[route.collector_id]]
        places = [
            collector.start_location,
            *(data.visits[data.visit_index[v]].location for v in route.visit_ids),
            collector.end_location,
        ]
        if len(places) > 2:
            matrix = data.durations_s[collector.profile]
            travel += int(matrix[places[:-1], places[1:]].sum())
        routed.update(route.visit_ids)
    cost = travel + sum(
        REQUIRED_PENALTY if v.required else round(v.value * params.value_weight_s)
        for v in data.visits
        if v.windows and v.id not in routed
    )
    if params.balance_weight:
        # The global span OR-Tools prices: latest route end minus earliest route start.
        used = [r for r in evaluate(data, solution).routes if r.stops]
        if used:
            span = max(r.end_s for r in used) - min(r.start_s for r in used)
            cost += params.balance_weight * span
    return cost, travel


@dataclass(frozen=True, slots=True)
class _Window:
    """A movable stretch of a route: the stops before and after it stay where they are."""

    shift: CollectorShift
    prefix: tuple[str, ...]
    middle: tuple[str, ...]
    suffix: tuple[str, ...]


def route_window(
    data: ProblemData, timing: Builder, route: Route, removed: set[str], reach: int
) -> _Window:
    """The stretch of ``route`` within ``reach`` stops of its removed ones, as a shift.

    On long routes the small problem would otherwise hold whole routes and each step would
    be slow. The stretch becomes a collector of its own that leaves the last pinned stop
    before it at its earliest departure and must reach the first pinned stop after it by
    that stop's latest start, so any feasible stretch keeps the whole route feasible. The
    break stays in the stretch only if it is taken there (its window cut to the stretch);
    visit and load limits shrink by what the pinned stops use.
    """
    r = data.collector_index[route.collector_id]
    collector = data.collectors[r]
    ids = route.visit_ids
    whole = _Window(collector, (), ids, ())
    positions = [k for k, v in enumerate(ids) if v in removed]
    if not positions:
        return whole
    a = max(0, positions[0] - reach)
    b = min(len(ids), positions[-1] + reach + 1)
    if a == 0 and b == len(ids):
        return whole
    sequence = [data.visit_index[v] for v in ids]
    state = timing.timing(r, sequence)
    if state.end_s > collector.shift_end_s:
        return whole
    start_s, end_s = int(state.departure[a]), int(state.latest_arrival[b])
    if end_s < start_s:
        return whole
    lunch = None
    if collector.lunch is not None and a <= state.break_leg <= b:
        held = collector.lunch
        lunch = Break(
            max(held.window_start_s, start_s),
            min(held.window_end_s, end_s - held.duration_s),
            held.duration_s,
        )
        if lunch.window_end_s < lunch.window_start_s:
            return whole
    pinned = sequence[:a] + sequence[b:]
    shift = replace(
        collector,
        start_location=collector.start_location
        if a == 0
        else data.visits[sequence[a - 1]].location,
        end_location=collector.end_location if b == len(ids) else data.visits[sequence[b]].location,
        shift_start_s=start_s,
        shift_end_s=end_s,
        lunch=lunch,
        max_visits=None if collector.max_visits is None else collector.max_visits - len(pinned),
        capacity=None
        if collector.capacity is None
        else collector.capacity - sum(data.visits[i].demand for i in pinned),
    )
    return _Window(shift, ids[:a], ids[a:b], ids[b:])


def lns_until(
    data: ProblemData,
    start: Solution | None,
    deadline: float,
    params: SolveParams,
    on_best: Callable[[Solution], None] | None = None,
) -> Solution | None:
    """Ruin and recreate around OR-Tools' local search until the wall-clock ``deadline``.

    Guided local search alone stalls on a hundred tightly windowed visits: each of its steps
    scans whole neighbourhoods. Here OR-Tools first finds a plan (or improves ``start``);
    then, over and over, a few neighbouring strings of stops are removed (``ruin``), the
    touched routes become a small problem of their own, the removed stops are reinserted
    (``repair``) and OR-Tools' greedy descent polishes those routes (every
    ``lns_ortools_every``-th step); the cheap moves of ``routing.local_search`` then follow
    from the stops that moved. A candidate's changed routes must pass the independent
    evaluator. A worse plan is accepted while it is within a threshold of the best,
    shrinking to zero (record-to-record travel).
    """
    if not data.collectors:
        return start
    limit = deadline - time.time() - 0.1
    if limit <= 0.05:
        return start
    model = OrtoolsModel(data, params)
    current = model.solve(start, limit * params.lns_first_share)
    if current is None:
        return start
    rng = np.random.default_rng(params.seed)
    neighbours = nearest_visits(data, 40)
    moves = LocalSearch(data, params.value_weight_s, neighbours[:, : params.ls_neighbours])
    current = _polish(data, moves, current, deadline, rng, None)
    best, (best_cost, best_travel) = current, plan_cost_travel(data, current, params)
    current_cost = best_cost
    timing = Builder(data)
    began = time.time()
    span = max(deadline - began, 1e-3)
    iteration = 0
    while (left := deadline - time.time() - 0.05) > 0.02:
        collector_ids, removed, seed = ruin(data, current, neighbours, rng, params.lns_removed)
        if not collector_ids:
            break
        # One idle collector joins, the nearest to the seed: a new route may open.
        busy = {r.collector_id for r in current.routes if r.visit_ids}
        idle = [c for c in data.collectors if c.id not in busy]
        if idle:
            place = data.visits[seed].location
            nearest = min(
                idle, key=lambda c: int(data.durations_s[c.profile][c.start_location, place])
            )
            collector_ids = [*collector_ids, nearest.id]
        by_collector = {r.collector_id: r for r in current.routes}
        windows = {
            c: route_window(
                data, timing, by_collector.get(c, Route(c, ())), removed, params.lns_window
            )
            for c in collector_ids
        }
        routed = {v for r in current.routes for v in r.visit_ids}
        nearby = [
            data.visits[i].id
            for i in neighbours[seed].tolist()
            if data.visits[i].id not in routed and data.visits[i].windows
        ]
        visit_ids = [v for w in windows.values() for v in w.middle] + nearby
        sub = data.subset(collector_ids, visit_ids, [w.shift for w in windows.values()])
        ruined = Solution(
            tuple(
                Route(c, tuple(v for v in w.middle if v not in removed)) for c, w in windows.items()
            )
        )
        recreated: Solution | None = repair(sub, ruined)
        if iteration % params.lns_ortools_every == 0:
            # OR-Tools polishes the recreated neighbourhood; the cheap moves follow.
            recreated = OrtoolsModel(sub, params).solve(
                recreated, min(params.lns_step_s, left), params.lns_search
            )
        iteration += 1
        if recreated is None:
            continue
        replaced = dict(by_collector)
        replaced.update(
            (
                r.collector_id,
                Route(
                    r.collector_id,
                    windows[r.collector_id].prefix + r.visit_ids + windows[r.collector_id].suffix,
                ),
            )
            for r in recreated.routes
        )
        candidate = Solution(tuple(replaced[c.id] for c in data.collectors if c.id in replaced))
        # The cheap moves start from the stops that moved: the rest was a local optimum.
        before = _arcs(current)
        moved = {v for v, arcs in _arcs(candidate).items() if before.get(v) != arcs}
        candidate = moves.run(candidate, deadline, rng, moved | removed)
        changed = [
            r for r in candidate.routes if by_collector.get(r.collector_id, Route("", ())) != r
        ]
        if changed and not _feasible(data, changed):
            continue
        cost, travel = plan_cost_travel(data, candidate, params)
        # Record-to-record travel priced in travel time: a share of the best plan's travel,
        # shrinking to zero (a share of the whole cost would let the value penalty swamp it).
        threshold = params.lns_threshold * best_travel * (1 - (time.time() - began) / span)
        if cost < best_cost:
            best, best_cost, best_travel = candidate, cost, travel
            if on_best is not None:
                on_best(best)
        if cost <= best_cost + threshold or cost < current_cost:
            current, current_cost = candidate, cost
    return best


def _arcs(solution: Solution) -> dict[str, tuple[str, str]]:
    """Each routed visit's predecessor and successor (collector ids stand for the depots)."""
    arcs = {}
    for route in solution.routes:
        path = (route.collector_id, *route.visit_ids, route.collector_id)
        for k in range(1, len(path) - 1):
            arcs[path[k]] = (path[k - 1], path[k + 1])
    return arcs


def _polish(
    data: ProblemData,
    moves: LocalSearch,
    solution: Solution,
    deadline: float,
    rng: np.random.Generator,
    focus: set[str] | None,
) -> Solution:
    """The cheap moves applied to a plan, kept only if the independent evaluator agrees."""
    polished = moves.run(solution, deadline, rng, focus)
    return polished if evaluate(data, polished).feasible else solution


def _feasible(data: ProblemData, routes: Sequence[Route]) -> bool:
    """Whether these routes pass the independent evaluator on their own."""
    sub = data.subset([r.collector_id for r in routes], [v for r in routes for v in r.visit_ids])
    return evaluate(sub, Solution(tuple(routes))).feasible


# -- the planner ---------------------------------------------------------------------------


class _Tracker:
    """Keeps the best evaluated plan and reports progress."""

    def __init__(
        self,
        data: ProblemData,
        params: SolveParams,
        started: float,
        progress: ProgressCallback | None,
    ) -> None:
        self.data, self.params, self.started = data, params, started
        self.progress = progress
        self.best: Solution | None = None
        self.best_eval: Evaluation | None = None
        self.best_cost = INFEASIBLE + 1
        self.history: list[Progress] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def remaining(self) -> float:
        return self.params.time_limit_s - self.elapsed()

    def offer(self, solution: Solution | None, phase: str) -> Evaluation | None:
        """Keep ``solution`` if it beats the best; its evaluation, for callers that need it."""
        if solution is None:
            return None
        evaluation = evaluate(self.data, solution)
        cost = objective(self.data, evaluation, self.params)
        if cost < self.best_cost:
            self.best, self.best_eval, self.best_cost = solution, evaluation, cost
        self.report(phase)
        return evaluation

    def report(self, phase: str) -> None:
        if self.best_eval is None:
            return
        percent = min(100.0, 100.0 * self.elapsed() / max(self.params.time_limit_s, 1e-9))
        event = Progress(round(percent, 1), self.best_eval.value, self.best_eval.travel_s, phase)
        self.history.append(event)
        if self.progress is not None:
            self.progress(event)


def plan(
    data: ProblemData,
    params: SolveParams | None = None,
    progress: ProgressCallback | None = None,
    start: Solution | None = None,
) -> PlanResult:
    """Plan the day within ``params.time_limit_s`` seconds (the construction always runs)."""
    params = params or SolveParams()
    tracker = _Tracker(data, params, time.perf_counter(), progress)
    first = construct(data, start)
    tracker.offer(first, "first plan")
    if tracker.remaining() > 0.3 and data.visits and data.collectors:
        if len(data.visits) <= params.whole_day_max_visits:
            _solve_whole(data, params, tracker)
        else:
            _solve_by_zones(data, params, tracker)
    assert tracker.best is not None and tracker.best_eval is not None
    tracker.report("done")
    return PlanResult(
        tracker.best,
        tracker.best_eval,
        explain_dropped(data, tracker.best),
        tracker.elapsed(),
        tuple(tracker.history),
    )


def _pool(workers: int) -> ProcessPoolExecutor:
    # "spawn": the planner also runs inside a threaded web server, where fork is unsafe.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _solve_whole(data: ProblemData, params: SolveParams, tracker: _Tracker) -> None:
    """Ruin and recreate around OR-Tools (``lns_until``), one search per worker; keep the best.

    With two workers, the searches differ by their start (OR-Tools' own first solution and
    guided local search, or our construction) and by their random seed.
    """
    assert tracker.best is not None
    budget = tracker.remaining() - 0.2
    strategies = list(params.strategies)
    if all(v.required for v in data.visits) and len(strategies) > 1:
        # Nothing to choose, only to sequence (classic VRPTW): OR-Tools' parallel cheapest
        # insertion starts better there than value-per-minute insertion, so it goes first.
        strategies.sort(key=lambda name: name != "ortools")
    starts = {"insertion": tracker.best, "ortools": None}
    # Starting processes and importing OR-Tools costs seconds on a busy machine: a short
    # budget is better spent searching in this process.
    race = params.workers > 1 and len(strategies) > 1 and budget >= RACE_MIN_BUDGET_S
    if not race:
        last = [tracker.elapsed()]

        def on_best(solution: Solution) -> None:
            # The search may improve many times a second: evaluate twice a second at most.
            if tracker.elapsed() - last[0] >= 0.5:
                last[0] = tracker.elapsed()
                tracker.offer(solution, "local search")

        start = starts[strategies[0]]
        result = lns_until(data, start, time.time() + budget, params, on_best)
        tracker.offer(result, "local search")
    else:
        # The workers' plans come back, are evaluated and repaired after the deadline. Half
        # way, both restart from the best plan so far with new seeds: a worker stuck in a
        # worse valley stops wasting its core.
        end = time.time() + budget - RACE_RETURN_S
        workers = min(params.workers, len(strategies))
        with _pool(workers) as pool:
            for phase in range(RACE_PHASES):
                deadline = end - (end - time.time()) * (RACE_PHASES - 1 - phase) / (
                    RACE_PHASES - phase
                )
                futures = [
                    pool.submit(
                        lns_until,
                        data,
                        starts[s] if phase == 0 else tracker.best,
                        deadline,
                        replace(params, seed=params.seed + k + phase * workers),
                    )
                    for k, s in enumerate(strategies[:workers])
                ]
                for future, name in zip(futures, strategies, strict=False):
                    tracker.offer(future.result(), f"local search ({name}, phase {phase + 1})")
    tracker.offer(repair(data, tracker.best), "repair")


def _zone_groups(
    data: ProblemData, solution: Solution, params: SolveParams, round_index: int
) -> list[tuple[list[str], list[str]]]:
    """Groups of neighbouring collectors with their routed visits and nearby dropped ones."""
    coordinates = data.coordinates
    anchors = np.empty((len(data.collectors), 2), dtype=np.float64)
    for c, collector in enumerate(data.collectors):
        route = solution.route_of(collector.id)
        places = (
            [data.visits[data.visit_index[v]].location for v in route.visit_ids] if route else []
        )
        anchors[c] = (
            coordinates[places].mean(axis=0) if places else coordinates[collector.start_location]
        )
    # Vary the zone size from round to round so the borders move, not just the seeds.
    size = params.zone_size + (0 if round_index == 0 else round_index % 3 - 1)
    k = max(1, math.ceil(len(data.collectors) / max(2, size)))
    workers = max(1, params.workers)
    rounded = workers * math.ceil(k / workers)
    if k > workers and 2 * rounded <= len(data.collectors):
        # Zones run in waves of ``workers``: a last wave with idle workers wastes a core.
        k = rounded
    labels = balanced_territories(anchors, k, slack=0.0, seed=params.seed + round_index)
    collectors: list[list[str]] = [[] for _ in range(k)]
    visits: list[list[str]] = [[] for _ in range(k)]
    for c, collector in enumerate(data.collectors):
        collectors[int(labels[c])].append(collector.id)
        route = solution.route_of(collector.id)
        if route is not None:
            visits[int(labels[c])].extend(route.visit_ids)
    routed = {v for r in solution.routes for v in r.visit_ids}
    centres = np.array([anchors[labels == g].mean(axis=0) for g in range(k)])
    for visit in data.visits:
        if visit.id in routed or not visit.windows:
            continue
        if visit.allowed_collectors:
            g = int(labels[data.collector_index[visit.allowed_collectors[0]]])
        else:
            point = coordinates[visit.location]
            g = int(np.argmin(((centres - point) ** 2).sum(axis=1)))
        visits[g].append(visit.id)
    return [(c, v) for c, v in zip(collectors, visits, strict=True) if c]


def search_weight(data: ProblemData, params: SolveParams) -> float:
    """The value weight the search of a day solved by zones works with.

    Priced at ``value_weight_s``, a visit is worth hours of travel, so the search only
    accepts steps that keep every chosen visit: it cannot trade a door for a nearby one of
    almost the same value, and the routes stay where the first plan put them. While
    searching, a typical optional visit (of median value) is worth ``search_worth`` times a
    typical service time of travel instead; the visits this lets go are offered back at
    the full weight in the end, and the plan returned is still the best at the full weight.
    """
    values = [v.value for v in data.visits if not v.required and v.windows and v.value > 0]
    if not values or params.search_worth <= 0:
        return params.value_weight_s
    service = float(np.median([v.service_s for v in data.visits])) or 60.0
    relaxed = params.search_worth * max(service, 60.0) / float(np.median(values))
    return min(params.value_weight_s, relaxed)


def _solve_by_zones(data: ProblemData, params: SolveParams, tracker: _Tracker) -> None:
    """Rounds of zone solves; each round redraws the zones around the new routes.

    With more than one worker the zones of a round run in parallel processes. The rounds
    search at a lower value weight (``search_weight``) from a plan of their own; the cheap
    moves at the full weight then put back what pays, and every plan is offered to the
    tracker, which keeps the best at the full weight.
    """
    workers = max(1, params.workers)
    pool = _pool(workers) if workers > 1 else None
    round_index = 0
    search = replace(params, value_weight_s=search_weight(data, params))
    # The cheap moves span the whole day: they cross the zones' borders between rounds.
    neighbours = nearest_visits(data, params.ls_neighbours)
    moves = LocalSearch(data, search.value_weight_s, neighbours)
    refill = LocalSearch(data, params.value_weight_s, neighbours)
    rng = np.random.default_rng(params.seed)
    assert tracker.best is not None
    current = tracker.best

    def polish(phase: str, margin: float = 2.0, local: LocalSearch = moves) -> None:
        nonlocal current
        if tracker.remaining() < margin + 0.5:
            return  # the second kept for merging and explaining
        deadline = time.time() + tracker.remaining() - margin
        current = _polish(data, local, current, deadline, rng, None)
        tracker.offer(current, phase)

    # The end of the budget goes to shortening the chosen visits' routes across zones.
    reserve = params.travel_share * params.time_limit_s
    if len(data.visits) > params.travel_max_visits or reserve < 1.0:
        reserve = 0.0
    # The very end: the cheap moves at the full weight put back the visits that pay.
    reserve += REFILL_S
    try:
        polish("local search")
        # Keep a second for merging, the last repair and explaining the dropped visits.
        while tracker.remaining() > 2.0 + reserve:
            best = current
            groups = _zone_groups(data, best, params, round_index)
            available = tracker.remaining() - 1.0 - reserve
            round_budget = (
                available / (3 if round_index == 0 else 2) if round_index < 2 else available
            )
            waves = math.ceil(len(groups) / workers)
            slot = max(0.5, (round_budget - 0.3) / waves)
            round_start = time.time()
            results: list[tuple[list[str], Future[Solution | None] | Solution | None]] = []
            for g, (collector_ids, visit_ids) in enumerate(groups):
                sub = data.subset(collector_ids, visit_ids)
                members = set(collector_ids)
                sub_start = Solution(tuple(r for r in best.routes if r.collector_id in members))
                # Zones run in waves of ``workers``; each wave has its own deadline.
                deadline = round_start + (g // workers + 1) * slot
                if pool is None:
                    results.append((collector_ids, lns_until(sub, sub_start, deadline, search)))
                else:
                    task = pool.submit(lns_until, sub, sub_start, deadline, search)
                    results.append((collector_ids, task))
            merged: dict[str, Route] = {r.collector_id: r for r in best.routes}
            for collector_ids, outcome in results:
                result = outcome.result() if isinstance(outcome, Future) else outcome
                if result is None:
                    continue
                candidate = dict(merged)
                candidate.update({r.collector_id: r for r in result.routes})
                if _better_zone(data, search, merged, candidate, collector_ids):
                    merged = candidate
            routes = tuple(merged[c.id] for c in data.collectors if c.id in merged)
            repaired = repair(data, Solution(routes))
            judged = tracker.offer(repaired, f"zones round {round_index + 1}")
            if judged is not None and judged.feasible:
                current = repaired
            polish(f"zones round {round_index + 1}, local search")
            round_index += 1
        # The cheap moves after it take a few tenths of a second; a second closes the plan.
        limit = tracker.remaining() - 1.0 - REFILL_S
        if reserve > REFILL_S and limit >= 0.5:
            shortened = shorten(data, current, params, limit)
            judged = tracker.offer(shortened, "least travel")
            if shortened is not None and judged is not None and judged.feasible:
                current = shortened
        polish("visits put back, local search", 0.8, refill)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def shorten(
    data: ProblemData, solution: Solution, params: SolveParams, time_limit_s: float
) -> Solution | None:
    """The plan's chosen visits in other routes with less travel: OR-Tools' guided local
    search on those visits alone, the whole day at once.

    The zone rounds chase value inside groups of a few collectors, so routes of different
    zones that would trade stretches never meet. With the visits fixed, OR-Tools has only
    travel left to cut, and its neighbourhoods are not limited to each door's nearest
    ones as the cheap moves are; the cheap moves that follow put dropped visits into the
    time it frees.
    """
    started = time.perf_counter()
    chosen = [v for r in solution.routes for v in r.visit_ids]
    fixed = data.subset([c.id for c in data.collectors], chosen)
    model = OrtoolsModel(fixed, params)  # a second or more on a city day: part of the limit
    left = time_limit_s - (time.perf_counter() - started)
    return model.solve(solution, left) if left > 0.1 else None


def _better_zone(
    data: ProblemData,
    params: SolveParams,
    current: dict[str, Route],
    candidate: dict[str, Route],
    collector_ids: Sequence[str],
) -> bool:
    """Accept a zone's new routes only if they collect more (or as much, travelling less)."""

    def score(routes: dict[str, Route]) -> int:
        sub = Solution(tuple(routes[c] for c in collector_ids if c in routes))
        evaluation = evaluate(
            data.subset(collector_ids, [v for r in sub.routes for v in r.visit_ids]), sub
        )
        if not evaluation.feasible:
            return INFEASIBLE
        return evaluation.travel_s - round(evaluation.value * params.value_weight_s)

    return score(candidate) < score(current)


def explain_dropped(data: ProblemData, solution: Solution) -> dict[str, str]:
    """Why each visit left out of ``solution`` was left out.

    A visit that would fit into an empty route but not into the plan was displaced by more
    valuable work; one that fits nowhere, even alone, is blocked by its windows or the shifts.
    """
    builder = Builder(data)
    builder.seed(solution)
    dropped = np.flatnonzero(builder.unrouted)
    if dropped.size == 0:
        return {}
    empty = Builder(data)
    alone = np.full(dropped.size, INFEASIBLE, dtype=np.int64)
    in_plan = np.full(dropped.size, INFEASIBLE, dtype=np.int64)
    for r in range(len(data.collectors)):
        alone = np.minimum(alone, empty.insertion_costs(r, dropped)[0])
        in_plan = np.minimum(in_plan, builder.insertion_costs(r, dropped)[0])
    kept = [data.visits[data.visit_index[v]] for route in solution.routes for v in route.visit_ids]
    least = min((v.value for v in kept), default=0)
    reasons: dict[str, str] = {}
    for k, i in enumerate(dropped.tolist()):
        visit = data.visits[i]
        prefix = "required, but " if visit.required else ""
        if not visit.windows:
            reasons[visit.id] = (
                f"{prefix}no contact window: outside legal hours, preferred windows or shift"
            )
        elif alone[k] >= INFEASIBLE:
            reasons[visit.id] = f"{prefix}fits in no collector's shift, even alone"
        elif in_plan[k] >= INFEASIBLE:
            reasons[visit.id] = (
                f"{prefix}no room left: lower value per minute than the planned visits "
                f"(value {visit.value}; least valuable planned visit {least})"
            )
        else:
            reasons[visit.id] = (
                f"lower value per minute: would add {math.ceil(int(in_plan[k]) / 60)} min "
                f"for value {visit.value}"
            )
    return reasons
