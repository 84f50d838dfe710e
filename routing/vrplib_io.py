"""Benchmark instances (Solomon VRPTW, CVRPLIB) as planning problems, and their solutions.

Solomon convention: Euclidean distance in double precision and travel time = distance. The
planner works in integers, so coordinates are scaled by ``scale`` and every leg is rounded
*up*: a plan feasible in these integers is feasible in double precision too, and the
objective is off by less than one unit of 1/scale per leg. Distances reported back are
recomputed in double precision from the coordinates (or with the instance's own rounding).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import vrplib

from routing.model import CollectorShift, FloatArray, ProblemData, Visit

SOLOMON_SCALE = 1000


@dataclass(frozen=True)
class Instance:
    """A benchmark instance: the problem, the depot-based numbering and the exact metric."""

    name: str
    data: ProblemData
    exact: FloatArray  # distance between file nodes (double precision or the file's rounding)
    scale: int
    kind: str  # "solomon" or "cvrp"


def read_instance(
    path: str | Path, vehicles: int | None = None, scale: int = SOLOMON_SCALE
) -> Instance:
    """Read a Solomon ``.txt`` or CVRPLIB ``.vrp`` file; visits are named by file number.

    A coarser ``scale`` rounds up more: its plans are still feasible at any finer scale.
    """
    path = Path(path)
    if path.suffix == ".txt":
        raw = vrplib.read_instance(path, instance_format="solomon")
        kind = "solomon"
    else:
        raw = vrplib.read_instance(path)
        kind, scale = "cvrp", 1
    coords = np.asarray(raw["node_coord"], dtype=np.float64)
    exact = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(axis=2))
    if kind == "cvrp":
        exact = np.rint(exact)  # TSPLIB EUC_2D: nearest integer
        scaled = exact.astype(np.int64)
    else:
        scaled = np.ceil(exact * scale - 1e-6).astype(np.int64)
    fleet = vehicles if vehicles is not None else _default_fleet(raw, len(coords))
    return Instance(
        path.stem, _problem(raw, coords, scaled, fleet, scale, kind), exact, scale, kind
    )


def _default_fleet(raw: dict[str, Any], size: int) -> int:
    if "vehicles" in raw:
        return int(raw["vehicles"])
    total = int(np.asarray(raw["demand"]).sum())
    return max(1, math.ceil(total / int(raw["capacity"]))) + max(2, size // 50)


def _problem(
    raw: dict[str, Any], coords: FloatArray, scaled: np.ndarray, fleet: int, scale: int, kind: str
) -> ProblemData:
    n = len(coords)
    demand = np.asarray(raw["demand"], dtype=np.int64)
    if kind == "solomon":
        windows = np.asarray(raw["time_window"], dtype=np.int64) * scale
        service = np.asarray(raw["service_time"], dtype=np.int64) * scale
    else:
        horizon = int(scaled.max()) * (n + 1) + 1
        windows = np.tile(np.array([0, horizon], dtype=np.int64), (n, 1))
        service = np.zeros(n, dtype=np.int64)
    visits = tuple(
        Visit(
            id=str(i),
            location=i,
            service_s=int(service[i]),
            value=0,
            windows=((int(windows[i, 0]), int(windows[i, 1])),),
            required=True,
            demand=int(demand[i]),
        )
        for i in range(1, n)
    )
    collectors = tuple(
        CollectorShift(
            id=f"vehicle{k + 1}",
            start_location=0,
            end_location=0,
            shift_start_s=int(windows[0, 0]),
            shift_end_s=int(windows[0, 1]),
            capacity=int(raw["capacity"]),
        )
        for k in range(fleet)
    )
    return ProblemData(visits, collectors, scaled, (scaled,), coords)


def route_distance(instance: Instance, routes: Sequence[Sequence[int]]) -> float:
    """Total distance of depot-to-depot routes of file node numbers, in the exact metric."""
    total = 0.0
    for route in routes:
        path = [0, *route, 0]
        total += float(sum(instance.exact[a, b] for a, b in itertools.pairwise(path)))
    return total


def read_routes(path: str | Path) -> list[list[int]]:
    """Routes of a ``.sol`` file (client numbers as in the instance)."""
    solution = vrplib.read_solution(str(path))
    return [list(map(int, route)) for route in solution["routes"]]
