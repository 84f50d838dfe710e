"""Very big days (thousands of visits, hundreds of collectors): zones end to end.

A full travel matrix for 10,000 doors holds 10^8 entries per mode (gigabytes, minutes to
build), so a big day is never loaded whole. It is cut into groups of neighbouring collectors
with the doors of their territories; each group is its own small day file, planned in a worker
process with its own small matrix. A second round redraws the groups around the routes found
(neighbouring collectors of different groups now meet) and re-plans each new group
warm-started from its current routes, with the doors still unplanned nearby: visits move
across the old borders. Routes only depend on their own collector and doors, so the plan's
evaluation is the sum of the groups' independent evaluations.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from routing.dayfile import load_day
from routing.evaluate import Evaluation
from routing.model import Route, Solution
from routing.solver import Progress, SolveParams, plan
from routing.zones import balanced_territories, planar_km

GROUP_COLLECTORS = 10
MERGE_MARGIN = 0.02
Group = tuple[list[str], list[int], dict[str, list[str]]]
"""Collector ids, indices of their doors in the day file, and their warm-start routes."""


@dataclass(frozen=True)
class GroupOutcome:
    """What a worker sends back: routes, their evaluation and the dropped visits' reasons."""

    routes: dict[str, list[str]]
    evaluation: Evaluation
    reasons: dict[str, str]


@dataclass(frozen=True)
class LargePlan:
    """The combined plan of all groups."""

    routes: dict[str, list[str]]
    evaluation: Evaluation
    reasons: dict[str, str]
    first_round_value: int
    runtime_s: float


def plan_group(
    day: dict[str, Any], start: dict[str, list[str]], deadline: float, seed: int
) -> GroupOutcome:
    """Worker entry point: plan one group's day file until the wall-clock ``deadline``."""
    data = load_day(day)
    limit = max(0.0, deadline - time.time())
    warm = Solution(tuple(Route(c, tuple(v)) for c, v in start.items())) if start else None
    result = plan(data, SolveParams(time_limit_s=limit, workers=1, seed=seed), start=warm)
    routes = {r.collector_id: list(r.visit_ids) for r in result.solution.routes}
    return GroupOutcome(routes, result.evaluation, result.dropped_reasons)


def _owners(visit_points: np.ndarray, home_points: np.ndarray) -> np.ndarray:
    """Each door's collector: balanced territories matched to the nearest homes."""
    k = len(home_points)
    labels = balanced_territories(visit_points, k, slack=0.1)
    centres = np.array([visit_points[labels == z].mean(axis=0) for z in range(k)])
    distance = ((home_points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    owner = np.full(k, -1, dtype=np.int64)
    for flat in np.argsort(distance, axis=None).tolist():
        collector, zone = divmod(flat, k)
        if owner[zone] < 0 and collector not in owner:
            owner[zone] = collector
    result: np.ndarray = owner[labels]
    return result


def plan_large_day(
    day: Mapping[str, Any],
    time_limit_s: float,
    workers: int = 2,
    progress: Callable[[Progress], None] | None = None,
    cross_borders: bool = True,
) -> LargePlan:
    """Plan a big day file by zones in parallel processes, then across the zone borders.

    ``cross_borders=False`` spends the whole budget on the zones alone: the benchmark's
    peer, which shows what the second round is worth.
    """
    started = time.time()
    visits = list(day["visits"])
    collectors = list(day["collectors"])
    ids = [c["id"] for c in collectors]
    visit_points = planar_km(np.array([[v["lat"], v["lon"]] for v in visits], dtype=np.float64))
    homes = planar_km(np.array([c["start"] for c in collectors], dtype=np.float64))
    owner = _owners(visit_points, homes)
    position = {v["id"]: i for i, v in enumerate(visits)}
    k = max(1, math.ceil(len(collectors) / GROUP_COLLECTORS))
    group_of = balanced_territories(homes, k, slack=0.0)
    first_groups: list[Group] = []
    for g in range(k):
        members = np.flatnonzero(group_of == g)
        doors = np.flatnonzero(np.isin(owner, members)).tolist()
        first_groups.append(([ids[c] for c in members.tolist()], doors, {}))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context) as pool:
        share = 0.6 if cross_borders else 1.0
        # Workers return and the groups are merged after the deadline: keep a margin for it.
        margin = max(1.0, MERGE_MARGIN * time_limit_s)
        first_deadline = started + max(0.5, share * time_limit_s - (0 if cross_borders else margin))
        first = _round(pool, day, first_groups, first_deadline, workers, 0)
        routes = {c: r for o in first for c, r in o.routes.items()}
        first_value = sum(o.evaluation.value for o in first)
        if progress is not None:
            progress(_progress(first, started, time_limit_s, "zones"))
        if not cross_borders:
            return _finish(first, first, visits, first_value, started, time_limit_s, progress)
        # Second round: new groups around the routes' centres, carrying the unplanned doors.
        centre = np.array(
            [
                visit_points[[position[v] for v in routes.get(c, [])]].mean(axis=0)
                if routes.get(c)
                else homes[i]
                for i, c in enumerate(ids)
            ]
        )
        regroup = balanced_territories(centre, k + 1 if k > 1 else 1, slack=0.0, seed=1)
        planned = {v for r in routes.values() for v in r}
        group_centres = np.array(
            [centre[regroup == g].mean(axis=0) for g in range(regroup.max() + 1)]
        )
        loose = [i for i, v in enumerate(visits) if v["id"] not in planned]
        nearest = (
            ((visit_points[loose][:, None, :] - group_centres[None, :, :]) ** 2)
            .sum(axis=2)
            .argmin(axis=1)
            if loose
            else np.zeros(0, dtype=np.int64)
        )
        second_groups: list[Group] = []
        for g in range(len(group_centres)):
            names = [ids[c] for c in np.flatnonzero(regroup == g).tolist()]
            doors = [position[v] for c in names for v in routes.get(c, [])]
            doors += [loose[j] for j in np.flatnonzero(nearest == g).tolist()]
            second_groups.append((names, doors, {c: routes.get(c, []) for c in names}))
        second = _round(pool, day, second_groups, started + time_limit_s - margin, workers, 1)
    return _finish(first, second, visits, first_value, started, time_limit_s, progress)


def _finish(
    first: list[GroupOutcome],
    last: list[GroupOutcome],
    visits: list[dict[str, Any]],
    first_value: int,
    started: float,
    time_limit_s: float,
    progress: Callable[[Progress], None] | None,
) -> LargePlan:
    """The plan of the last round's groups, with reasons from the last round that had one."""
    outcomes: dict[str, GroupOutcome] = {}
    for outcome in last:
        for collector_id in outcome.routes:
            outcomes[collector_id] = outcome
    final = list({id(o): o for o in outcomes.values()}.values())
    evaluation = _combine(final, visits)
    reasons = {v: r for o in [*first, *last] for v, r in o.reasons.items()}
    if progress is not None:
        progress(_progress(final, started, time_limit_s, "done"))
    return LargePlan(
        {c: r for o in final for c, r in o.routes.items()},
        evaluation,
        {v: reasons.get(v, "not selected") for v in evaluation.dropped},
        first_value,
        time.time() - started,
    )


def _round(
    pool: ProcessPoolExecutor,
    day: Mapping[str, Any],
    groups: list[Group],
    deadline: float,
    workers: int,
    seed: int,
) -> list[GroupOutcome]:
    """Plan every group; groups run in waves of ``workers``, each wave with its deadline."""
    now = time.time()
    waves = math.ceil(len(groups) / max(1, workers))
    slot = max(0.5, (deadline - now) / waves)
    by_id = {c["id"]: c for c in day["collectors"]}
    futures = []
    for g, (members, doors, start) in enumerate(groups):
        sub = {
            "travel": day.get("travel", {}),
            "visits": [day["visits"][i] for i in doors],
            "collectors": [by_id[c] for c in members],
        }
        wave_deadline = now + (g // max(1, workers) + 1) * slot
        futures.append(pool.submit(plan_group, sub, start, wave_deadline, seed))
    return [f.result() for f in futures]


def _combine(outcomes: list[GroupOutcome], visits: list[dict[str, Any]]) -> Evaluation:
    served = {v for o in outcomes for r in o.routes.values() for v in r}
    routes = tuple(r for o in outcomes for r in o.evaluation.routes)
    violations = tuple(v for o in outcomes for v in o.evaluation.violations)
    dropped = tuple(v["id"] for v in visits if v["id"] not in served)
    return Evaluation(
        feasible=not violations,
        violations=violations,
        routes=routes,
        value=sum(r.value for r in routes),
        travel_s=sum(r.travel_s for r in routes),
        distance_m=sum(r.distance_m for r in routes),
        dropped=dropped,
    )


def _progress(outcomes: list[GroupOutcome], started: float, limit: float, phase: str) -> Progress:
    percent = min(100.0, 100.0 * (time.time() - started) / max(limit, 1e-9))
    value = sum(o.evaluation.value for o in outcomes)
    travel = sum(o.evaluation.travel_s for o in outcomes)
    return Progress(round(percent, 1), value, travel, phase)
