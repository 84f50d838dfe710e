from routing.bigday import plan_large_day
from routing.dayfile import load_day
from routing.evaluate import evaluate
from routing.model import Route, Solution
from routing.synthetic import city_day


def test_a_big_day_is_planned_by_zones_and_passes_the_evaluator() -> None:
    day = city_day(visits=120, collectors=12, windowed=30, seed=5)
    result = plan_large_day(day, time_limit_s=3.0, workers=1)
    # Re-check the combined plan on the whole day, independently of the group evaluations.
    solution = Solution(tuple(Route(c, tuple(v)) for c, v in result.routes.items()))
    check = evaluate(load_day(day), solution)
    assert check.feasible and result.evaluation.feasible
    assert check.value == result.evaluation.value >= result.first_round_value
    assert check.travel_s == result.evaluation.travel_s
    assert set(check.dropped) == set(result.reasons)
    assert len(result.routes) == 12


def test_the_zones_alone_peer_spends_the_budget_on_one_round() -> None:
    day = city_day(visits=120, collectors=12, windowed=30, seed=5)
    result = plan_large_day(day, time_limit_s=2.0, workers=1, cross_borders=False)
    solution = Solution(tuple(Route(c, tuple(v)) for c, v in result.routes.items()))
    check = evaluate(load_day(day), solution)
    assert check.feasible and result.evaluation.feasible
    # One round only: the plan is the first round's.
    assert check.value == result.evaluation.value == result.first_round_value
    assert set(check.dropped) == set(result.reasons)
