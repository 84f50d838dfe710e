import datetime as dt

import pytest

from routing.scoring import AccountFacts, ScoringWeights, rank_candidates, score_visit

DAY = dt.date(2026, 12, 1)


def test_value_is_balance_times_collect_chance_with_every_factor_explained() -> None:
    facts = AccountFacts("a1", 1000.0, 45, risk_score=0.5, visit_count=0)
    score = score_visit(facts, DAY)
    # 1000 x 0.25 (31+ dpd) x (1 - 0.6 x 0.5) x 1.25 (never visited)
    assert score.value == pytest.approx(1000 * 0.25 * 0.7 * 1.25)
    assert [r.factor for r in score.reasons] == ["balance", "bucket", "risk", "never_visited"]
    assert "45 days past due (31+ dpd)" in score.explain()
    assert not score.required


def test_recent_outcomes_and_recency_move_the_value() -> None:
    base = AccountFacts("a", 500.0, 10, visit_count=2, days_since_last_attempt=14)
    refused = AccountFacts(
        "a", 500.0, 10, recent_outcomes=("refused",), visit_count=2, days_since_last_attempt=14
    )
    yesterday = AccountFacts("a", 500.0, 10, visit_count=2, days_since_last_attempt=1)
    assert score_visit(refused, DAY).value == pytest.approx(score_visit(base, DAY).value * 0.6)
    assert score_visit(yesterday, DAY).value < score_visit(base, DAY).value
    assert "last attempt 1 days ago" in score_visit(yesterday, DAY).explain()


def test_promises_due_or_just_broken_make_a_visit_required() -> None:
    due = score_visit(AccountFacts("a", 10.0, 5, promise_due=DAY), DAY)
    broken = score_visit(
        AccountFacts("b", 10.0, 5, promise_broken_on=DAY - dt.timedelta(days=1)), DAY
    )
    stale = score_visit(
        AccountFacts("c", 10.0, 5, promise_broken_on=DAY - dt.timedelta(days=9)), DAY
    )
    assert due.required and "falls due" in due.explain()
    assert broken.required and broken.required_because == "promise broken 1 day(s) ago"
    assert not stale.required


def test_weights_are_configurable_and_validated() -> None:
    facts = AccountFacts("a", 1000.0, 200, risk_score=1.0, visit_count=1)
    assert (
        score_visit(facts, DAY, ScoringWeights(risk_weight=0.0)).value
        > score_visit(facts, DAY).value
    )
    with pytest.raises(ValueError):
        ScoringWeights(buckets=((0, 0.3), (0, 0.2)))
    with pytest.raises(ValueError):
        ScoringWeights(risk_weight=2.0)


def test_ranking_puts_must_visits_first_then_value_and_says_why() -> None:
    accounts = [
        AccountFacts("small-promise", 10.0, 5, promise_due=DAY),
        AccountFacts("big", 5000.0, 20),
        AccountFacts("medium", 800.0, 20),
    ]
    ranked = rank_candidates(accounts, DAY)
    assert [r.score.account_id for r in ranked] == ["small-promise", "big", "medium"]
    assert [r.rank for r in ranked] == [1, 2, 3]
    assert "below big" in ranked[2].why
