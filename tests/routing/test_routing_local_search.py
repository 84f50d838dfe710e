import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.construct import construct
from routing.evaluate import evaluate
from routing.local_search import LocalSearch
from routing.model import Break, CollectorShift, ProblemData, Route, Solution, Visit
from routing.solver import SolveParams, nearest_visits, plan_cost

H, M = 3600, 60
PARAMS = SolveParams(workers=1)


def _search(data: ProblemData, solution: Solution, seed: int = 0) -> Solution:
    moves = LocalSearch(data, PARAMS.value_weight_s, nearest_visits(data, 8))
    return moves.run(solution, time.time() + 5.0, np.random.default_rng(seed))


@st.composite
def planar_days(draw: st.DrawFn) -> ProblemData:
    """Doors on a plane, collectors from different homes, every kind of limit mixed."""
    n = draw(st.integers(2, 14))
    m = draw(st.integers(1, 4))
    points = np.array(
        draw(
            st.lists(
                st.tuples(st.integers(0, 40), st.integers(0, 40)),
                min_size=n + 2 * m,
                max_size=n + 2 * m,
            )
        ),
        dtype=np.float64,
    )
    durations = np.ceil(
        np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)) * 60
    ).astype(np.int64)
    collector_ids = [f"c{k}" for k in range(m)]
    visits = []
    for i in range(n):
        start = draw(st.integers(8 * 60, 14 * 60)) * 60
        kind = draw(st.sampled_from(["day", "one", "two"]))
        if kind == "day":
            windows: tuple[tuple[int, int], ...] = ((8 * H, 16 * H),)
        elif kind == "one":
            windows = ((start, start + draw(st.integers(0, 180)) * M),)
        else:
            windows = ((start, start + 30 * M), (start + 2 * H, start + 3 * H))
        visits.append(
            Visit(
                f"v{i}",
                i,
                draw(st.integers(0, 40)) * M,
                draw(st.integers(0, 1000)),
                windows,
                required=i == 0 and draw(st.booleans()),
                demand=draw(st.integers(0, 3)),
                allowed_collectors=(draw(st.sampled_from(collector_ids)),)
                if draw(st.integers(0, 5)) == 0
                else (),
            )
        )
    collectors = tuple(
        CollectorShift(
            f"c{k}",
            n + 2 * k,
            n + 2 * k + draw(st.integers(0, 1)),
            8 * H,
            draw(st.sampled_from([12 * H, 16 * H])),
            max_visits=draw(st.sampled_from([None, 3, 5])),
            capacity=draw(st.sampled_from([None, 6])),
            lunch=Break(11 * H, 11 * H + 30 * M, 20 * M) if draw(st.booleans()) else None,
        )
        for k in range(m)
    )
    return ProblemData(tuple(visits), collectors, durations, (durations,), points)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planar_days(), st.integers(0, 3))
def test_the_moves_keep_every_plan_feasible_and_never_cost_more(
    data: ProblemData, seed: int
) -> None:
    start = construct(data)
    before = evaluate(data, start)
    result = _search(data, start, seed)
    after = evaluate(data, result)
    assert [v for v in after.violations if "required" not in v] == []
    assert len(after.violations) <= len(before.violations)
    assert plan_cost(data, result, PARAMS) <= plan_cost(data, start, PARAMS)


def test_a_route_that_doubles_back_is_straightened(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([1, 2, 3, 4, 5])
    zigzag = Solution((Route("c1", ("v4", "v1", "v5", "v2", "v3")),))
    result = _search(data, zigzag)
    assert evaluate(data, result).travel_s == 10 * M
    assert evaluate(data, result).feasible


def test_a_dropped_visit_takes_the_place_of_a_cheaper_one(line_day) -> None:  # type: ignore[no-untyped-def]
    # One hour of shift: two doors of 20 minutes fit, not three.
    data = line_day([1, 2, 3], values=[50, 10, 900], shift=(8 * H, 9 * H), service_s=20 * M)
    start = Solution((Route("c1", ("v1", "v2")),))
    result = _search(data, start)
    check = evaluate(data, result)
    assert check.feasible
    assert set(check.dropped) == {"v2"}


def test_routes_with_a_lunch_break_are_left_to_or_tools(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([1, 2, 3, 4], lunch=Break(12 * H, 13 * H, 30 * M))
    zigzag = Solution((Route("c1", ("v3", "v1", "v4", "v2")),))
    assert _search(data, zigzag) == zigzag


def test_an_infeasible_route_is_left_as_it_is(line_day) -> None:  # type: ignore[no-untyped-def]
    late = ((8 * H, 8 * H + 5 * M),)
    data = line_day([1, 30, 2], windows=[((8 * H, 16 * H),), ((8 * H, 16 * H),), late])
    broken = Solution((Route("c1", ("v1", "v2", "v3")),))
    assert not evaluate(data, broken).feasible
    assert _search(data, broken) == broken


def _street_with_homes(
    homes: list[int], doors: list[int], shift: tuple[int, int] = (8 * H, 16 * H)
) -> ProblemData:
    """Doors and collectors' homes on one street, one minute per block, 10 min per visit."""
    places = np.array([*doors, *homes], dtype=np.float64)
    durations = (np.abs(places[:, None] - places[None, :]) * M).astype(np.int64)
    visits = tuple(Visit(f"v{i + 1}", i, 10 * M, 100, (shift,)) for i in range(len(doors)))
    collectors = tuple(
        CollectorShift(f"c{k + 1}", len(doors) + k, len(doors) + k, *shift)
        for k in range(len(homes))
    )
    coordinates = np.column_stack([places, np.zeros_like(places)])
    return ProblemData(visits, collectors, durations * 10, (durations,), coordinates)


def test_routes_go_to_the_collectors_whose_homes_they_suit() -> None:
    # Homes at blocks 0, 30 and 60; four doors just past each; every route starts at the
    # wrong home (a rotation: c1 has the doors of c2, c2 those of c3, c3 those of c1).
    data = _street_with_homes([0, 30, 60], [1, 2, 3, 4, 31, 32, 33, 34, 61, 62, 63, 64])
    rotated = Solution(
        (
            Route("c1", ("v5", "v6", "v7", "v8")),
            Route("c2", ("v9", "v10", "v11", "v12")),
            Route("c3", ("v1", "v2", "v3", "v4")),
        )
    )
    before = evaluate(data, rotated)
    result = _search(data, rotated)
    after = evaluate(data, result)
    assert after.feasible
    assert after.value == before.value
    # Out to the fourth door and back, for each collector: 3 x 8 blocks.
    assert after.travel_s == 3 * 8 * M < before.travel_s
    assert result.route_of("c1") == Route("c1", ("v1", "v2", "v3", "v4"))


def test_two_routes_trade_their_heads_when_that_shortens_both() -> None:
    # Homes at blocks 0 and 40. Each route starts with a door near the other's home and a
    # two-hour shift leaves no room to carry both heads in one route.
    data = _street_with_homes([0, 40], [38, 2, 3, 1, 37, 39], shift=(8 * H, 10 * H))
    crossed = Solution((Route("c1", ("v1", "v2", "v3")), Route("c2", ("v4", "v5", "v6"))))
    before = evaluate(data, crossed)
    assert before.feasible
    result = _search(data, crossed)
    after = evaluate(data, result)
    assert after.feasible
    assert after.value == before.value
    # c1: 0 -> 1 -> 2 -> 3 -> 0 and c2: 40 -> 37 -> 38 -> 39 -> 40, 6 + 6 blocks.
    assert after.travel_s == 12 * M < before.travel_s
