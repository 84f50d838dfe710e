import datetime as dt
import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.construct import Builder, construct
from routing.contact_hours import PERU, visit_windows
from routing.evaluate import evaluate
from routing.model import Break, CollectorShift, ProblemData, Route, Solution, Visit
from routing.solver import (
    OrtoolsModel,
    Progress,
    SolveParams,
    lns_until,
    nearest_visits,
    objective,
    plan,
    plan_cost,
    route_window,
    ruin,
    search_weight,
    shorten,
)

H, M = 3600, 60
QUICK = SolveParams(time_limit_s=1.0, workers=1)
MONDAY = dt.date(2026, 11, 30)


def _with_windows(data: ProblemData, windows: list[tuple[tuple[int, int], ...]]) -> ProblemData:
    visits = tuple(replace(v, windows=w) for v, w in zip(data.visits, windows, strict=True))
    return replace(data, visits=visits)


def test_a_visit_outside_legal_hours_is_never_scheduled(line_day) -> None:  # type: ignore[no-untyped-def]
    shift = (7 * H, 23 * H)
    legal = PERU.windows_on(MONDAY)
    preferred = [[(21 * H, 22 * H)], [(19 * H, 23 * H)], [(6 * H, 8 * H)]]
    data = line_day([5, 6, 7], shift=shift)
    data = _with_windows(data, [visit_windows(p, legal, shift, 600) for p in preferred])
    result = plan(data, QUICK)
    assert result.evaluation.feasible
    assert result.evaluation.dropped == ("v1",)
    assert "no contact window" in result.dropped_reasons["v1"]
    for stop in result.evaluation.routes[0].stops:
        assert stop.start_s >= 7 * H and stop.start_s + 600 <= 20 * H


def test_a_public_holiday_in_peru_yields_no_visits(line_day) -> None:  # type: ignore[no-untyped-def]
    fiestas_patrias = dt.date(2026, 7, 28)
    legal = PERU.windows_on(fiestas_patrias)
    data = line_day([5, 6, 7], required=[True, False, False])
    data = _with_windows(data, [visit_windows(None, legal, (8 * H, 16 * H))] * 3)
    result = plan(data, QUICK)
    assert all(not r.stops for r in result.evaluation.routes)
    assert set(result.evaluation.dropped) == {"v1", "v2", "v3"}
    assert not result.evaluation.feasible  # the must-visit could not be kept: reported, not hidden


def test_the_break_is_taken_inside_its_window(line_day) -> None:  # type: ignore[no-untyped-def]
    lunch = Break(12 * H, 13 * H, 45 * M)
    data = line_day([3, 5, 8, 13, 21, 34], service_s=60 * M, lunch=lunch)
    result = plan(data, QUICK)
    assert result.evaluation.feasible
    (route,) = result.evaluation.routes
    assert route.break_start_s is not None
    assert 12 * H <= route.break_start_s <= 13 * H
    pause = (route.break_start_s, route.break_start_s + 45 * M)
    assert all(s.departure_s <= pause[0] or s.start_s >= pause[1] for s in route.stops)
    assert route.end_s > 13 * H  # the day goes past the window, so the break was on the clock


def test_must_visits_are_kept_even_when_worth_little(line_day) -> None:  # type: ignore[no-untyped-def]
    values = [1, 500, 500, 500, 500, 500]
    required = [True, False, False, False, False, False]
    data = line_day(
        [100, 2, 3, 4, 5, 6],
        values=values,
        required=required,
        shift=(8 * H, 12 * H),
        service_s=40 * M,
    )
    result = plan(data, QUICK)
    assert result.evaluation.feasible
    assert "v1" not in result.evaluation.dropped
    assert result.evaluation.dropped  # something had to give way


def test_dropped_visits_are_the_least_valuable(line_day) -> None:  # type: ignore[no-untyped-def]
    values = [70, 10, 90, 30, 50, 20, 80, 40, 60]
    data = line_day([5] * 9, values=values, shift=(8 * H, 12 * H), service_s=55 * M)
    result = plan(data, QUICK)
    assert result.evaluation.feasible
    served = {s.visit_id for s in result.evaluation.routes[0].stops}
    # 5 + 5 min of travel and 4 x 55 min fit in 4 h: the four most valuable are kept.
    assert served == {"v3", "v7", "v1", "v9"}
    assert "lower value per minute" in result.dropped_reasons["v2"]


def test_max_visits_and_locked_stops(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([1, 2, 3, 4, 5], collectors=2, max_visits=2)
    locked = replace(data.visits[4], allowed_collectors=("c2",), required=True)
    data = replace(data, visits=(*data.visits[:4], locked))
    result = plan(data, QUICK)
    assert result.evaluation.feasible
    by_collector = {r.collector_id: [s.visit_id for s in r.stops] for r in result.evaluation.routes}
    assert "v5" in by_collector["c2"]
    assert all(len(stops) <= 2 for stops in by_collector.values())


def test_warm_start_keeps_a_good_plan_and_progress_is_reported(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([1, 2, 3, 4], collectors=2)
    start = Solution((Route("c2", ("v1", "v2", "v3", "v4")),))
    events: list[Progress] = []
    result = plan(data, QUICK, progress=events.append, start=start)
    assert result.evaluation.feasible and not result.evaluation.dropped
    assert events[0].phase == "first plan" and events[-1].phase == "done"
    percents = [e.percent for e in events]
    assert percents == sorted(percents) and events[-1].value == 400


def test_zone_decomposition_plans_a_bigger_day_in_rounds() -> None:
    from routing.dayfile import load_day
    from routing.synthetic import city_day

    data = load_day(city_day(visits=60, collectors=4, windowed=15, seed=3))
    first = evaluate(data, construct(data))
    params = SolveParams(time_limit_s=3.0, workers=1, zone_size=2, whole_day_max_visits=10)
    result = plan(data, params)
    assert result.evaluation.feasible
    assert any(e.phase.startswith("zones round") for e in result.history)
    assert (result.evaluation.value, -result.evaluation.travel_s) >= (first.value, -first.travel_s)


def test_the_search_weight_prices_a_typical_visit_at_a_few_service_times() -> None:
    from routing.dayfile import load_day
    from routing.synthetic import city_day

    data = load_day(city_day(visits=60, collectors=4, windowed=15, seed=3))
    params = SolveParams(search_worth=1.5)
    relaxed = search_weight(data, params)
    median_value = float(np.median([v.value for v in data.visits]))
    assert 0 < relaxed < params.value_weight_s
    assert relaxed * median_value == pytest.approx(1.5 * 720)  # 12 min of service per visit
    # Never above the full weight, and nothing to relax when every visit is a must.
    assert search_weight(data, replace(params, value_weight_s=0.01)) == 0.01
    assert search_weight(data, replace(params, search_worth=0)) == params.value_weight_s
    musts = replace(data, visits=tuple(replace(v, required=True) for v in data.visits))
    assert search_weight(musts, params) == params.value_weight_s


def test_zone_rounds_search_relaxed_but_return_the_best_plan_at_the_full_weight() -> None:
    from routing.dayfile import load_day
    from routing.synthetic import city_day

    # More work than the shifts hold: the relaxed search lets visits go, the end puts back.
    data = load_day(city_day(visits=90, collectors=3, windowed=25, seed=11))
    params = SolveParams(time_limit_s=4.0, workers=1, zone_size=2, whole_day_max_visits=10)
    result = plan(data, params)
    assert result.evaluation.feasible
    assert result.evaluation.dropped
    assert search_weight(data, params) < params.value_weight_s
    assert "visits put back, local search" in {e.phase for e in result.history}
    # Judged at the full weight, the plan returned is no worse than the first plan.
    first = construct(data)
    assert objective(data, result.evaluation, params) <= objective(
        data, evaluate(data, first), params
    )


@st.composite
def small_days(draw: st.DrawFn) -> ProblemData:
    n = draw(st.integers(1, 9))
    m = draw(st.integers(1, 3))
    places = np.array(
        draw(st.lists(st.integers(0, 60), min_size=n + 1, max_size=n + 1)), dtype=np.float64
    )
    durations = (np.abs(places[:, None] - places[None, :]) * 60).astype(np.int64)
    visits = []
    for i in range(n):
        start = draw(st.integers(8 * 60, 15 * 60)) * 60
        windows = (
            ((start, start + draw(st.integers(0, 240)) * 60),)
            if draw(st.booleans())
            else ((8 * H, 16 * H),)
        )
        visits.append(
            Visit(
                f"v{i}",
                i + 1,
                draw(st.integers(0, 60)) * 60,
                draw(st.integers(0, 1000)),
                windows,
                required=draw(st.booleans()) and i == 0,
            )
        )
    lunch = Break(12 * H, 13 * H, 30 * M) if draw(st.booleans()) else None
    collectors = tuple(
        CollectorShift(
            f"c{k}",
            0,
            0,
            8 * H,
            16 * H,
            max_visits=draw(st.sampled_from([None, 2, 4])),
            lunch=lunch,
        )
        for k in range(m)
    )
    coords = np.column_stack([places, np.zeros_like(places)])
    return ProblemData(tuple(visits), collectors, durations, (durations,), coords)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_days())
def test_every_plan_passes_the_independent_evaluator(data: ProblemData) -> None:
    first = construct(data)
    assert evaluate(data, first).feasible or data.visits[0].required
    improved = OrtoolsModel(data, SolveParams(workers=1)).solve(first, 0.2)
    if improved is not None:
        check = evaluate(data, improved)
        assert not [v for v in check.violations if "required" not in v]
    result = plan(data, SolveParams(time_limit_s=0.4, workers=1))
    assert not [v for v in result.evaluation.violations if "required" not in v]


def test_ruin_removes_strings_of_consecutive_stops_from_neighbouring_routes(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day(list(range(1, 13)), collectors=3)
    solution = Solution(
        (
            Route("c1", ("v1", "v2", "v3", "v4")),
            Route("c2", ("v5", "v6", "v7", "v8")),
            Route("c3", ("v9", "v10", "v11", "v12")),
        )
    )
    neighbours = nearest_visits(data, 5)
    assert neighbours[0].tolist()[:2] == [1, 2]  # v1 is next to v2, then v3
    rng = np.random.default_rng(1)
    for _ in range(20):
        collectors, removed, seed = ruin(data, solution, neighbours, rng, average_removed=4)
        assert removed and collectors
        assert data.visits[seed].id in {v for r in solution.routes for v in r.visit_ids}
        for route in solution.routes:
            taken = [k for k, v in enumerate(route.visit_ids) if v in removed]
            # One string per touched route: consecutive positions, and only touched routes.
            assert taken == list(range(taken[0], taken[0] + len(taken))) if taken else True
            assert bool(taken) == (route.collector_id in collectors)


def test_plan_cost_is_travel_plus_the_penalties_of_the_dropped(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([2, 4, 6], values=[10, 20, 30])
    solution = Solution((Route("c1", ("v1", "v3")),))
    params = SolveParams(value_weight_s=60)
    travel = evaluate(data, solution).travel_s
    assert travel == 12 * M
    assert plan_cost(data, solution, params) == travel + 20 * 60
    # With balancing, the span (12 min travel + 2 x 10 min service) is priced per second.
    balanced = replace(params, balance_weight=2)
    assert plan_cost(data, solution, balanced) == travel + 20 * 60 + 2 * 32 * M


def test_ruin_and_recreate_finds_a_plan_the_evaluator_accepts() -> None:
    from routing.dayfile import load_day
    from routing.synthetic import city_day

    data = load_day(city_day(visits=80, collectors=4, windowed=20, seed=7))
    params = SolveParams(workers=1, lns_first_share=0.2)
    start = construct(data)
    result = lns_until(data, start, time.time() + 2.0, params)
    assert result is not None
    check = evaluate(data, result)
    assert check.feasible
    assert plan_cost(data, result, params) <= plan_cost(data, start, params)


def test_a_long_route_is_reoptimised_in_a_window_between_pinned_stops(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day(list(range(1, 11)))
    route = Route("c1", tuple(f"v{i}" for i in range(1, 11)))
    window = route_window(data, Builder(data), route, {"v5"}, reach=2)
    assert window.prefix == ("v1", "v2")
    assert window.middle == ("v3", "v4", "v5", "v6", "v7")
    assert window.suffix == ("v8", "v9", "v10")
    # Leave v2 at its earliest (8:12 + 10 min service); reach v8 by its latest start: the
    # office at 16:00 is 10 blocks from v10, 10 min of service at v10 and v9, 1 block apart.
    assert window.shift.start_location == 2 and window.shift.end_location == 8
    assert window.shift.shift_start_s == 8 * H + 22 * M
    assert window.shift.shift_end_s == 15 * H + 18 * M
    # Any order of the window that fits its shift keeps the whole route feasible.
    sub = data.subset(["c1"], list(window.middle), [window.shift])
    reordered = OrtoolsModel(sub, QUICK).solve(
        Solution((Route("c1", ("v7", "v3", "v5", "v4", "v6")),)), 0.2
    )
    assert reordered is not None and evaluate(sub, reordered).feasible
    stitched = window.prefix + reordered.routes[0].visit_ids + window.suffix
    assert evaluate(data, Solution((Route("c1", stitched),))).feasible


def test_a_visit_opening_after_every_shift_ends_is_dropped_not_an_error(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([1, 2], windows=[((9 * H, 10 * H),), ((17 * H, 18 * H),)])
    result = OrtoolsModel(data, QUICK).solve(None, 0.2)
    assert result is not None and result.routes[0].visit_ids == ("v1",)


def test_shortening_keeps_the_chosen_visits_and_cuts_travel(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([1, 2, 3, 4, 5, 6, 7], collectors=2)
    zigzag = Solution((Route("c1", ("v6", "v1", "v5")), Route("c2", ("v2", "v4", "v3"))))
    before = evaluate(data, zigzag)
    shorter = shorten(data, zigzag, SolveParams(workers=1), 1.0)
    assert shorter is not None
    after = evaluate(data, shorter)
    assert after.feasible
    # The same six doors (v7 stays dropped), now one trip out to block 6 and back.
    assert set(after.dropped) == set(before.dropped) == {"v7"}
    assert after.travel_s == 12 * M < before.travel_s
