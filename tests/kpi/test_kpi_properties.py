"""Properties of the model that must hold for any data (hypothesis)."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi import (
    MEASURES,
    Disposition,
    FunnelLevel,
    GroupTotals,
    Installment,
    Movement,
    Payment,
    Promise,
    PromiseRules,
    PromiseStatus,
    Tally,
    bucket_name,
    compute_measures,
    dispositions_reaching,
    judge_account,
    movement,
    status_spans,
    summarize,
)

BASE = date(2026, 11, 1)
FUNNEL = ["attempts", "connections", "contacts", "direct_contacts", "promises"]


def totals_of(dispositions: list[Disposition], extra: dict[str, int]) -> GroupTotals:
    """Aggregate attempts the way the server's SQL does: one conditional count per level."""

    def reaching(level: FunnelLevel) -> int:
        return sum(d in dispositions_reaching(level) for d in dispositions)

    attempts = len(dispositions)
    promises = reaching(FunnelLevel.PROMISE)
    kept = min(extra["kept"], promises)
    return GroupTotals(
        attempts=attempts,
        connections=reaching(FunnelLevel.CONNECTION),
        contacts=reaching(FunnelLevel.CONTACT),
        direct_contacts=reaching(FunnelLevel.DIRECT_CONTACT),
        promises=promises,
        promises_due=min(promises, kept + extra["other_due"]),
        promises_kept=kept,
        accounts_assigned=extra["assigned"],
        accounts_attempted=min(extra["assigned"], attempts),
        planned_stops=extra["planned"],
        planned_stops_attempted=min(extra["planned"], attempts),
        attempts_with_position=min(attempts, extra["positioned"]),
        attempts_geo_verified=min(attempts, extra["positioned"], extra["verified"]),
        attempts_with_photo=min(attempts, extra["photos"]),
    )


counts = st.integers(min_value=0, max_value=50)
extras = st.fixed_dictionaries(
    {
        k: counts
        for k in ("kept", "other_due", "assigned", "planned", "positioned", "verified", "photos")
    }
)


@given(st.lists(st.sampled_from(list(Disposition)), max_size=60), extras)
def test_funnel_never_increases_and_bounded_rates_stay_in_unit_interval(
    dispositions: list[Disposition], extra: dict[str, int]
) -> None:
    values = compute_measures(totals_of(dispositions, extra))
    funnel = [values[name] for name in FUNNEL]
    assert funnel == sorted(funnel, reverse=True)  # type: ignore[type-var]
    for measure in MEASURES:
        if measure.bounded:
            rate = values[measure.name]
            assert rate is None or 0.0 <= rate <= 1.0, measure.name


@given(
    st.lists(st.sampled_from(list(Disposition)), max_size=30),
    st.lists(st.sampled_from(list(Disposition)), max_size=30),
    extras,
)
def test_totals_of_disjoint_groups_add_up(
    left: list[Disposition], right: list[Disposition], extra: dict[str, int]
) -> None:
    whole = compute_measures(totals_of(left, extra) + totals_of(right, extra))
    parts = (compute_measures(totals_of(left, extra)), compute_measures(totals_of(right, extra)))
    for name in FUNNEL:
        assert whole[name] == parts[0][name] + parts[1][name]  # type: ignore[operator]


dpd = st.integers(min_value=0, max_value=400)


@given(st.lists(st.tuples(st.integers(1, 400), dpd, st.integers(0, 10_000)), max_size=80))
def test_effectiveness_shares_sum_to_one_per_bucket(rows: list[tuple[int, int, int]]) -> None:
    result = summarize(
        (bucket_name(start), movement(start, end), Tally(1, Decimal(balance)))
        for start, end, balance in rows
    )
    assert sum(r.accounts for r in result) == len(rows)
    for row in result:
        shares = [row.share(m) for m in Movement]
        if row.accounts == 0:
            assert shares == [None] * 4
        else:
            assert abs(sum(s for s in shares if s is not None) - 1.0) < 1e-9


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(500), places=2)


@st.composite
def account_history(draw: st.DrawFn) -> tuple[list[Promise], list[Payment], date]:
    promises = []
    for n in range(draw(st.integers(0, 4))):
        made = BASE + timedelta(days=draw(st.integers(0, 20)))
        gaps = draw(st.lists(st.integers(1, 10), min_size=1, max_size=3))
        due, installments = made, []
        for i, gap in enumerate(gaps):
            due = due + timedelta(days=gap - (1 if i == 0 else 0))
            installments.append(Installment(due, draw(money)))
        promises.append(Promise(f"p{n}", "acc", made, tuple(installments)))
    payments = [
        Payment(f"x{n}", "acc", BASE + timedelta(days=draw(st.integers(0, 45))), draw(money))
        for n in range(draw(st.integers(0, 6)))
    ]
    as_of = BASE + timedelta(days=draw(st.integers(0, 50)))
    return promises, payments, as_of


@settings(max_examples=200)
@given(account_history())
def test_each_payment_counts_toward_one_promise_at_most(
    history: tuple[list[Promise], list[Payment], date],
) -> None:
    promises, payments, as_of = history
    rules = PromiseRules()
    outcomes = judge_account(promises, payments, as_of, rules)
    used = [p.payment_id for o in outcomes for p in o.payments]
    assert len(used) == len(set(used))
    assert sum((o.amount_matched for o in outcomes), Decimal(0)) <= sum(
        (p.amount for p in payments if p.paid_on <= as_of), Decimal(0)
    )
    for o in outcomes:
        assert all(o.promise.created_on <= p.paid_on <= as_of for p in o.payments)
        due = [i for i in o.promise.installments if i.due_date + rules.grace <= as_of]
        if o.status is PromiseStatus.PENDING:
            assert not due
        elif o.status is PromiseStatus.KEPT:
            assert o.amount_matched >= sum((i.amount for i in due), Decimal(0))
        elif o.status is PromiseStatus.BROKEN:
            assert o.amount_matched == 0
        else:
            assert o.amount_matched > 0


@settings(max_examples=300)
@given(account_history(), st.integers(0, 3), st.sampled_from([Decimal("1.00"), Decimal("0.9")]))
def test_status_spans_give_the_judgement_of_any_as_of(
    history: tuple[list[Promise], list[Payment], date], grace: int, tolerance: Decimal
) -> None:
    """What the server stores per promise answers every as_of as judging afresh would."""
    promises, payments, as_of = history
    rules = PromiseRules(grace, tolerance)
    spans = status_spans(promises, payments, rules)
    for outcome in judge_account(promises, payments, as_of, rules):
        holding = [
            s
            for s in spans
            if s.promise is outcome.promise
            and s.judged_from <= as_of
            and (s.judged_until is None or as_of < s.judged_until)
        ]
        if outcome.status is PromiseStatus.PENDING:
            assert holding == []
        else:
            assert [(s.status, s.amount_matched) for s in holding] == [
                (outcome.status, outcome.amount_matched)
            ]
