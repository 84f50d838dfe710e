"""The planning commands anyone can run, sharing the server's planner code.

``plan-day DAY.json --time-limit S --out PLAN.json`` plans a documented day file;
``solve INSTANCE --time-limit S [--vehicles N] --out solution.json`` solves a Solomon or
CVRPLIB instance and writes ``{"routes": [[client numbers]], "distance": ..., "vehicles": ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from routing.bigday import plan_large_day
from routing.dayfile import VALUE_SCALE, load_day, plan_document
from routing.model import Solution
from routing.solver import Progress, SolveParams, plan
from routing.vrplib_io import read_instance, route_distance

LARGE_DAY_VISITS = 3000


def _print_progress(event: Progress) -> None:
    print(
        f"\r{event.percent:5.1f}%  value {event.value}  travel {event.travel_s} s"
        f"  {event.phase:<24}",
        end="",
        file=sys.stderr,
        flush=True,
    )


def plan_day(args: argparse.Namespace) -> int:
    day = json.loads(Path(args.day).read_text())
    if len(day.get("visits", [])) > LARGE_DAY_VISITS:
        return _plan_large_day(args, day)
    data = load_day(day)
    params = SolveParams(time_limit_s=args.time_limit, workers=args.workers, seed=args.seed)
    result = plan(data, params, progress=None if args.quiet else _print_progress)
    document = plan_document(result.evaluation, result.dropped_reasons)
    Path(args.out).write_text(json.dumps(document, indent=1))
    if not args.quiet:
        print(file=sys.stderr)
    print(
        f"value {document['value']:.2f}  travel {document['travel_s']} s  "
        f"dropped {len(document['dropped'])}  feasible {document['feasible']}  "
        f"in {result.runtime_s:.1f} s"
    )
    return 0 if result.evaluation.feasible else 1


def _plan_large_day(args: argparse.Namespace, day: dict[str, object]) -> int:
    """Thousands of visits: zones end to end, never one city-wide matrix (routing.bigday)."""
    result = plan_large_day(
        day, args.time_limit, args.workers, progress=None if args.quiet else _print_progress
    )
    document = plan_document(result.evaluation, result.reasons)
    Path(args.out).write_text(json.dumps(document, indent=1))
    if not args.quiet:
        print(file=sys.stderr)
    print(
        f"value {document['value']:.2f} (zones alone: {result.first_round_value / VALUE_SCALE:.2f})"
        f"  travel {document['travel_s']} s  dropped {len(document['dropped'])}"
        f"  feasible {document['feasible']}  in {result.runtime_s:.1f} s"
    )
    return 0 if result.evaluation.feasible else 1


def solution_document(instance_routes: list[list[int]], distance: float) -> dict[str, object]:
    return {
        "routes": instance_routes,
        "distance": round(distance, 4),
        "vehicles": len(instance_routes),
    }


def solve(args: argparse.Namespace) -> int:
    instance = read_instance(args.instance, args.vehicles)
    params = SolveParams(
        time_limit_s=args.time_limit,
        workers=args.workers,
        seed=args.seed,
        whole_day_max_visits=10**6,
    )
    result = plan(instance.data, params, progress=None if args.quiet else _print_progress)
    routes = _numbered_routes(result.solution)
    document = solution_document(routes, route_distance(instance, routes))
    Path(args.out).write_text(json.dumps(document))
    if not args.quiet:
        print(file=sys.stderr)
    status = "feasible" if result.evaluation.feasible else "INFEASIBLE"
    print(f"{instance.name}: distance {document['distance']}  vehicles {len(routes)}  {status}")
    return 0 if result.evaluation.feasible else 1


def _numbered_routes(solution: Solution) -> list[list[int]]:
    return [[int(v) for v in route.visit_ids] for route in solution.routes if route.visit_ids]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    day = commands.add_parser("plan-day", help="plan a day file")
    day.add_argument("day")
    day.set_defaults(run=plan_day)
    bench = commands.add_parser("solve", help="solve a VRPLIB/Solomon instance")
    bench.add_argument("instance")
    bench.add_argument("--vehicles", type=int, default=None)
    bench.set_defaults(run=solve)
    for command in (day, bench):
        command.add_argument("--time-limit", type=float, default=10.0)
        command.add_argument("--out", required=True)
        command.add_argument("--workers", type=int, default=2)
        command.add_argument("--seed", type=int, default=0)
        command.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code
