"""Route planning benchmark: our planner vs PyVRP vs VROOM, measured in the same run.

    .venv/bin/python bench/routing.py --time-limit 30                  # everything
    .venv/bin/python bench/routing.py --time-limit 5 --instances C101 R101 --no-city

Every solver's routes are re-checked by ``routing.evaluate`` (integers rounded up, so a pass
is feasible in double precision); distances are recomputed in the instance's metric and
compared with the best-known routes re-evaluated the same way. Fleet: the number of routes
of the best-known solution, one more where those routes themselves break a window.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvrp
import pyvrp.stop
import vroom

# This file is bench/routing.py: its own directory must not shadow the routing package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from routing.bigday import plan_large_day  # noqa: E402
from routing.dayfile import VALUE_SCALE, load_day  # noqa: E402
from routing.evaluate import evaluate  # noqa: E402
from routing.matrix import TravelProfile, haversine_matrices  # noqa: E402
from routing.model import ProblemData, Route, Solution  # noqa: E402
from routing.solver import SolveParams, plan  # noqa: E402
from routing.synthetic import city_day  # noqa: E402
from routing.vrplib_io import Instance, read_instance, read_routes, route_distance  # noqa: E402

INSTANCES = Path(__file__).resolve().parents[2] / "shared" / "bench" / "instances"
Solver = Callable[[ProblemData, float], Solution]
PYVRP_SCALE = 10


def ours(data: ProblemData, limit: float) -> Solution:
    return plan(data, SolveParams(time_limit_s=limit, workers=2, whole_day_max_visits=300)).solution


def with_pyvrp(data: ProblemData, limit: float, value_weight_s: int = 60) -> Solution:
    """PyVRP on the same integer matrices (first window only: our instances have one)."""
    depots = sorted({loc for c in data.collectors for loc in (c.start_location, c.end_location)})
    depot_of = {loc: k for k, loc in enumerate(depots)}
    locations = [pyvrp.Location(float(x), float(y)) for x, y in data.coordinates.tolist()]
    clients = [
        pyvrp.Client(
            location=v.location,
            delivery=[v.demand],
            service_duration=v.service_s,
            tw_early=v.windows[0][0] if v.windows else 0,
            tw_late=v.windows[-1][1] if v.windows else 0,
            prize=v.value * value_weight_s,
            required=v.required,
        )
        for v in data.visits
    ]
    groups: dict[tuple[int, ...], list[str]] = {}
    for c in data.collectors:
        key = (
            c.start_location,
            c.end_location,
            c.shift_start_s,
            c.shift_end_s,
            c.capacity or 0,
            c.profile,
        )
        groups.setdefault(key, []).append(c.id)
    big = int(sum(v.demand for v in data.visits)) + 1
    vehicle_types = [
        pyvrp.VehicleType(
            len(ids),
            capacity=[key[4] or big],
            start_depot=depot_of[key[0]],
            end_depot=depot_of[key[1]],
            tw_early=key[2],
            tw_late=key[3],
            profile=key[5],
        )
        for key, ids in groups.items()
    ]
    problem = pyvrp.ProblemData(
        locations,
        clients,
        [pyvrp.Depot(location=loc) for loc in depots],
        vehicle_types,
        list(data.durations_s),
        list(data.durations_s),
    )
    result = pyvrp.solve(problem, pyvrp.stop.MaxRuntime(limit), seed=1, display=False)
    pools = [list(ids) for ids in groups.values()]
    routes = []
    for route in result.best.routes():
        collector = pools[route.vehicle_type()].pop(0)
        visits = tuple(data.visits[a.idx].id for a in route if a.is_client())
        routes.append(Route(collector, visits))
    return Solution(tuple(routes))


def with_vroom(data: ProblemData, limit: float) -> Solution:
    """VROOM (exploration 5, 2 threads); values become priorities 0..100. No time limit."""
    del limit
    problem = vroom.Input()
    for profile, matrix in enumerate(data.durations_s):
        problem.set_durations_matrix(profile=f"p{profile}", matrix_input=matrix)
    top = max([v.value for v in data.visits] + [1])
    capacity = any(c.capacity is not None for c in data.collectors)
    problem.add_vehicle(
        [
            vroom.Vehicle(
                k + 1,
                start=c.start_location,
                end=c.end_location,
                profile=f"p{c.profile}",
                time_window=vroom.TimeWindow(c.shift_start_s, c.shift_end_s),
                **({"capacity": [c.capacity or 0]} if capacity else {}),
            )
            for k, c in enumerate(data.collectors)
        ]
    )
    problem.add_job(
        [
            vroom.Job(
                k + 1,
                location=v.location,
                default_service=v.service_s,
                time_windows=[vroom.TimeWindow(a, b) for a, b in v.windows],
                priority=round(100 * v.value / top),
                **({"delivery": [v.demand]} if capacity else {}),
            )
            for k, v in enumerate(data.visits)
        ]
    )
    solution = problem.solve(exploration_level=5, nb_threads=2)
    frame = solution.routes
    routes = []
    for vehicle_id, rows in frame[frame["type"] == "job"].groupby("vehicle_id"):
        ids = tuple(data.visits[int(j) - 1].id for j in rows["id"])
        routes.append(Route(data.collectors[int(vehicle_id) - 1].id, ids))
    return Solution(tuple(routes))


SOLVERS: dict[str, Solver] = {"ours": ours, "pyvrp": with_pyvrp, "vroom": with_vroom}


def _run(name: str, data: ProblemData, limit: float) -> Solution:
    """One solver's routes; a crash counts as an empty (infeasible) plan, not a dead bench."""
    try:
        return SOLVERS[name](data, limit)
    except Exception as error:  # any peer failure is a result to print
        print(f"  {name} failed: {error!r}", file=sys.stderr)
        return Solution(())


@dataclass
class Row:
    instance: str
    solver: str
    feasible: bool
    vehicles: int
    distance: float
    gap: float
    seconds: float


def run_instance(path: Path, limit: float, solvers: list[str]) -> list[Row]:
    best_routes = read_routes(path.with_suffix(".sol"))
    probe = read_instance(path, len(best_routes))
    bks = Solution(
        tuple(Route(f"vehicle{k + 1}", tuple(map(str, r))) for k, r in enumerate(best_routes))
    )
    bks_ok = evaluate(probe.data, bks).feasible
    fleet = len(best_routes) + (0 if bks_ok or probe.kind == "cvrp" else 1)
    if probe.kind == "cvrp":
        fleet = len(best_routes) + 1
    instance = read_instance(path, fleet)
    # PyVRP struggles with time windows at 1/1000 resolution ("data scaling"): it gets
    # Solomon rounded up at 1/10, whose plans stay feasible at 1/1000.
    coarse = read_instance(path, fleet, PYVRP_SCALE) if instance.kind == "solomon" else instance
    best = route_distance(instance, best_routes)
    rows = []
    for name in solvers:
        started = time.perf_counter()
        solution = _run(name, coarse.data if name == "pyvrp" else instance.data, limit)
        seconds = time.perf_counter() - started
        rows.append(_row(instance, name, solution, best, seconds))
    return rows


def _row(instance: Instance, name: str, solution: Solution, best: float, seconds: float) -> Row:
    evaluation = evaluate(instance.data, solution)
    routes = [[int(v) for v in r.visit_ids] for r in solution.routes if r.visit_ids]
    distance = route_distance(instance, routes)
    return Row(
        instance.name,
        name,
        evaluation.feasible,
        len(routes),
        distance,
        100 * (distance / best - 1),
        seconds,
    )


def run_city(limit: float, solvers: list[str], visits: int, collectors: int) -> None:
    data = load_day(city_day(visits=visits, collectors=collectors, windowed=int(0.3 * visits)))
    total = sum(v.value for v in data.visits)
    ranked = sorted(data.visits, key=lambda v: -v.value)[: max(1, visits * 139 // 1000)]
    print(f"\nCity day: {visits} optional visits, {collectors} collectors, {limit:g} s budget")
    print(
        f"{'solver':<8} {'feasible':>8} {'value %':>8} {'travel h':>9} {'top missed':>10}"
        f" {'time s':>7}"
    )
    for name in solvers:
        started = time.perf_counter()
        solution = _run(name, data, limit)
        seconds = time.perf_counter() - started
        evaluation = evaluate(data, solution)
        dropped = set(evaluation.dropped)
        missed = sum(1 for v in ranked if v.id in dropped)
        print(
            f"{name:<8} {evaluation.feasible!s:>8} {100 * evaluation.value / total:8.2f} "
            f"{evaluation.travel_s / 3600:9.2f} {missed:>10} {seconds:7.1f}"
        )
    started = time.perf_counter()
    first = plan(data, SolveParams(time_limit_s=0.0)).evaluation
    print(
        f"first plan (ours): value {100 * first.value / total:.2f} %, travel "
        f"{first.travel_s / 3600:.2f} h, feasible {first.feasible}, "
        f"{time.perf_counter() - started:.1f} s"
    )


def run_large_day(limit: float, visits: int, collectors: int) -> None:
    """Zones end to end vs the same zones solved separately for as long (no border rounds).

    The city-wide peers would need the whole city matrix (10^8 entries), so the peer is the
    goal's own: the sum of the zones solved separately with the same budget and workers.
    """
    day = city_day(visits=visits, collectors=collectors, windowed=int(0.3 * visits), radius_km=28.0)
    total = sum(v["value"] for v in day["visits"]) * VALUE_SCALE
    print(f"\nLarge day: {visits} visits, {collectors} collectors, {limit:g} s budget")
    print(f"{'planner':<26} {'feasible':>8} {'value %':>8} {'travel h':>9} {'time s':>7}")
    values = {}
    for name, cross in (("ours (zones + borders)", True), ("zones separately", False)):
        started = time.perf_counter()
        result = plan_large_day(day, limit, workers=2, cross_borders=cross)
        seconds = time.perf_counter() - started
        values[name] = result.evaluation.value
        print(
            f"{name:<26} {result.evaluation.feasible!s:>8} "
            f"{100 * result.evaluation.value / total:8.2f} "
            f"{result.evaluation.travel_s / 3600:9.1f} {seconds:7.1f}",
            flush=True,
        )
    ours, peer = values.values()
    print(f"value ours / zones separately: {ours / max(peer, 1):.4f} (goal >= 0.98)")


def time_matrix(size: int = 2000, repeat: int = 5, peer_size: int = 150) -> None:
    """Travel matrix build time (goal: 2,000 x 2,000 in 0.2 s), beside geopy pair by pair."""
    from geopy.distance import great_circle

    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(-12.2, -11.9, size), rng.uniform(-77.1, -76.9, size)])
    ours = []
    for _ in range(repeat):
        started = time.perf_counter()
        haversine_matrices(points, [TravelProfile(25.0)])
        ours.append(time.perf_counter() - started)
    sample = [tuple(p) for p in points[:peer_size]]
    started = time.perf_counter()
    for a in sample:
        for b in sample:
            _ = great_circle(a, b).m
    per_pair = (time.perf_counter() - started) / peer_size**2
    peer = per_pair * size * size
    median = statistics.median(ours)
    print(f"Travel matrix {size} x {size} (median of {repeat})")
    print(f"{'builder':<44}{'seconds':>10}{'ratio':>10}")
    print(f"{'ours: numpy haversine + circuity, int s':<44}{median:>10.3f}{1.0:>10.1f}")
    label = "peer: geopy great_circle pair by pair*"
    print(f"{label:<44}{peer:>10.2f}{peer / median:>10.0f}")
    print(f"* timed on {peer_size} x {peer_size} pairs, scaled to {size} x {size}\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--instances", nargs="*", default=None, help="names, e.g. C101 X-n101-k25")
    parser.add_argument(
        "--set",
        choices=("all", "solomon", "cvrp", "none"),
        default="all",
        help="instance families when --instances is not given (solomon: all 56)",
    )
    parser.add_argument("--solvers", nargs="*", default=list(SOLVERS), choices=list(SOLVERS))
    parser.add_argument("--no-city", action="store_true")
    parser.add_argument("--city-visits", type=int, default=1000)
    parser.add_argument("--city-collectors", type=int, default=25)
    parser.add_argument("--large-day", type=int, default=0, help="visits (e.g. 10000), 0 = skip")
    parser.add_argument("--large-time-limit", type=float, default=180.0)
    args = parser.parse_args()
    solomon = sorted((INSTANCES / "solomon").glob("*.txt"))
    cvrp = sorted((INSTANCES / "cvrplib-x").glob("*.vrp"))
    families = {"all": solomon + cvrp, "solomon": solomon, "cvrp": cvrp, "none": []}
    paths = families[args.set]
    if args.instances is not None:
        paths = [p for p in solomon + cvrp if p.stem in set(args.instances)]
    time_matrix()
    rows: list[Row] = []
    if paths:
        print(
            f"{'instance':<12} {'solver':<6} {'feasible':>8} {'veh':>4} {'distance':>10}"
            f" {'gap %':>7} {'time s':>7}"
        )
    for path in paths:
        for row in run_instance(path, args.time_limit, args.solvers):
            rows.append(row)
            print(
                f"{row.instance:<12} {row.solver:<6} {row.feasible!s:>8} {row.vehicles:>4} "
                f"{row.distance:10.2f} {row.gap:7.2f} {row.seconds:7.1f}",
                flush=True,
            )
    for name in args.solvers:
        mine = [r for r in rows if r.solver == name]
        if mine:
            gaps = [r.gap for r in mine if r.feasible]
            print(
                f"{name:<6} feasible {sum(r.feasible for r in mine)}/{len(mine)}  "
                f"median gap {statistics.median(gaps) if gaps else float('nan'):.2f} %  "
                f"max gap {max(gaps) if gaps else float('nan'):.2f} %  "
                f"median time {statistics.median(r.seconds for r in mine):.1f} s"
            )
    if not args.no_city:
        run_city(args.time_limit, args.solvers, args.city_visits, args.city_collectors)
    if args.large_day:
        run_large_day(args.large_time_limit, args.large_day, args.large_day // 40)


if __name__ == "__main__":
    # PyVRP warns when its penalties saturate on a tight fleet; the table shows the outcome.
    warnings.filterwarnings("ignore", module="pyvrp")
    main()
