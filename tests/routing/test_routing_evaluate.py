from dataclasses import replace

from routing.evaluate import evaluate
from routing.model import Break, Route, Solution

H, M = 3600, 60


def test_times_and_totals_of_a_simple_route(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([10, 20], windows=[((8 * H, 16 * H),), ((9 * H, 10 * H),)])
    result = evaluate(data, Solution((Route("c1", ("v1", "v2")),)))
    assert result.feasible
    (route,) = result.routes
    # Leave 08:00, 10 min to v1, serve 10 min, 10 min to v2, wait for 09:00, serve, 20 min back.
    assert [(s.arrival_s, s.start_s) for s in route.stops] == [
        (8 * H + 10 * M, 8 * H + 10 * M),
        (8 * H + 30 * M, 9 * H),
    ]
    assert route.end_s == 9 * H + 30 * M
    assert result.travel_s == 40 * M
    assert result.distance_m == 400 * M
    assert result.value == 200
    assert result.dropped == ()


def test_the_break_is_taken_on_the_leg_that_fits(line_day) -> None:  # type: ignore[no-untyped-def]
    lunch = Break(12 * H, 12 * H + 30 * M, 30 * M)
    windows = [((11 * H + 50 * M, 11 * H + 55 * M),), ((12 * H + 25 * M, 12 * H + 40 * M),)]
    data = line_day([10, 20], windows=windows, lunch=lunch)
    result = evaluate(data, Solution((Route("c1", ("v1", "v2")),)))
    assert result.feasible
    (route,) = result.routes
    assert route.break_start_s == 12 * H
    assert route.stops[1].start_s == 12 * H + 40 * M  # 10 min travel + 30 min break
    longer = replace(data.collectors[0], lunch=Break(12 * H, 12 * H + 30 * M, 45 * M))
    data = replace(data, collectors=(longer,))
    assert not evaluate(data, Solution((Route("c1", ("v1", "v2")),))).feasible


def test_a_route_back_before_the_break_window_closes_needs_no_break(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([10], lunch=Break(12 * H, 13 * H, 45 * M))
    (route,) = evaluate(data, Solution((Route("c1", ("v1",)),))).routes
    assert route.feasible and route.break_start_s is None


def test_violations_are_reported(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day(
        [10, 20, 30],
        windows=[((8 * H, 8 * H + 5 * M),), ((8 * H, 16 * H),), ((8 * H, 16 * H),)],
        required=[False, False, True],
        collectors=2,
        max_visits=1,
    )
    late = Solution((Route("c1", ("v2", "v1")), Route("c2", ("v2",)), Route("x", ())))
    result = evaluate(data, late)
    assert not result.feasible
    text = " | ".join(result.violations)
    assert "unknown collector x" in text
    assert "v2 is served twice" in text
    assert "c1: no schedule" in text
    assert "2 visits > max 1" in text
    assert "required visit v3 is not served" in text
    # An infeasible route still gets (relaxed) times so a dispatcher can see the problem.
    assert [s.visit_id for s in result.routes[0].stops] == ["v2", "v1"]


def test_shift_end_is_enforced(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([200], shift=(8 * H, 11 * H))
    result = evaluate(data, Solution((Route("c1", ("v1",)),)))
    assert not result.feasible  # 200 min out and back + 10 min service > 3 h
