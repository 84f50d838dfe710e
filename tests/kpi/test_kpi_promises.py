"""Promise status (§3), each expectation worked out by hand from the model text."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from kpi import (
    Installment,
    Payment,
    Promise,
    PromiseRules,
    judge_account,
    match_payments,
)

D = Decimal
NOV = 11


def day(d: int) -> date:
    return date(2026, NOV, d)


def single(pid: str, made: int, due: int, amount: str) -> Promise:
    return Promise.single(pid, "acc", day(made), day(due), D(amount))


def pay(pid: str, on: int, amount: str) -> Payment:
    return Payment(pid, "acc", day(on), D(amount))


def statuses(
    promises: list[Promise], payments: list[Payment], as_of: int, **rules: Any
) -> list[tuple[str, Decimal]]:
    outcomes = judge_account(promises, payments, day(as_of), PromiseRules(**rules))
    return [(o.status.value, o.amount_matched) for o in outcomes]


@pytest.mark.parametrize(
    ("paid_on", "amount", "expected"),
    [
        (5, "100", ("kept", D(100))),  # on the due date
        (2, "100", ("kept", D(100))),  # on the day it was made
        (7, "100", ("kept", D(100))),  # due 5 + grace 2 = 7: late but within grace
        (8, "100", ("broken", D(0))),  # one day after the grace
        (4, "60", ("partially_kept", D(60))),
        (4, "150", ("kept", D(150))),  # overpaying still counts whole
    ],
)
def test_single_promise(paid_on: int, amount: str, expected: tuple[str, Decimal]) -> None:
    promise = single("p", made=2, due=5, amount="100")
    assert statuses([promise], [pay("x", paid_on, amount)], as_of=20) == [expected]


def test_payment_before_the_promise_does_not_count() -> None:
    assert statuses([single("p", 3, 5, "100")], [pay("x", 2, "100")], as_of=20) == [
        ("broken", D(0))
    ]


def test_pending_until_due_plus_grace_reaches_as_of() -> None:
    promise = single("p", 2, 5, "100")
    # due 5 + 2 grace = 7 is after as_of 6: pending, even though fully paid.
    assert statuses([promise], [pay("x", 3, "100")], as_of=6) == [("pending", D(0))]
    assert statuses([promise], [pay("x", 3, "100")], as_of=7) == [("kept", D(100))]
    assert statuses([promise], [], as_of=7) == [("broken", D(0))]


def test_payments_after_as_of_are_not_known_yet() -> None:
    promise = single("p", 2, 5, "100")
    assert statuses([promise], [pay("x", 7, "100")], as_of=6) == [("pending", D(0))]
    assert statuses([promise], [pay("x", 7, "100")], as_of=7) == [("kept", D(100))]


def test_grace_days_and_tolerance_are_settings() -> None:
    promise = single("p", 2, 5, "100")
    assert statuses([promise], [pay("x", 7, "100")], as_of=20, grace_days=0) == [("broken", D(0))]
    assert statuses([promise], [pay("x", 4, "95")], as_of=20, kept_tolerance=D("0.95")) == [
        ("kept", D(95))
    ]
    assert statuses([promise], [pay("x", 4, "94.99")], as_of=20, kept_tolerance=D("0.95")) == [
        ("partially_kept", D("94.99"))
    ]


def test_one_payment_matching_two_open_promises_goes_to_the_oldest() -> None:
    older, newer = single("older", 2, 6, "100"), single("newer", 3, 6, "100")
    # 200 on day 4: both are open; the payment counts whole toward the older one only.
    assert statuses([newer, older], [pay("x", 4, "200")], as_of=20) == [
        ("broken", D(0)),
        ("kept", D(200)),
    ]
    # Two payments: the first fills the older promise, which closes it; the second goes on.
    assert statuses([older, newer], [pay("x", 4, "100"), pay("y", 5, "100")], as_of=20) == [
        ("kept", D(100)),
        ("kept", D(100)),
    ]
    # A partial payment keeps the older one open, so the next payment still goes to it.
    assert statuses([older, newer], [pay("x", 4, "40"), pay("y", 5, "100")], as_of=20) == [
        ("kept", D(140)),
        ("broken", D(0)),
    ]


def test_a_closed_window_passes_the_payment_to_the_next_promise() -> None:
    first, second = single("a", 2, 3, "100"), single("b", 4, 10, "100")
    # first's window ends 3 + 2 = 5; a payment on day 6 can only count for the second.
    assert statuses([first, second], [pay("x", 6, "100")], as_of=20) == [
        ("broken", D(0)),
        ("kept", D(100)),
    ]


def test_unmatched_payment_stays_unmatched() -> None:
    matched = match_payments([single("a", 2, 3, "100")], [pay("x", 9, "50")], day(20))
    assert matched == {"a": ()}


def plan(*installments: tuple[int, str]) -> Promise:
    return Promise("plan", "acc", day(1), tuple(Installment(day(d), D(a)) for d, a in installments))


THREE = plan((5, "50"), (12, "50"), (19, "50"))


@pytest.mark.parametrize(
    ("payments", "as_of", "expected"),
    [
        # Installments 1 (5+2=7) and 2 (12+2=14) are due by 15; 3 (19+2=21) is not.
        ([(5, "50"), (13, "50")], 15, ("kept", D(100))),
        # Nothing is due until day 7.
        ([(5, "50")], 6, ("pending", D(0))),
        ([(5, "50")], 7, ("kept", D(50))),
        # 50 arrived on day 10: late for installment 1 (cutoff 7) -> partially kept.
        ([(10, "50")], 15, ("partially_kept", D(50))),
        # Enough in total by day 14, but installment 1 was not covered by day 7.
        ([(6, "20"), (11, "80")], 15, ("partially_kept", D(100))),
        # Paying everything up front keeps every installment.
        ([(2, "150")], 21, ("kept", D(150))),
        ([], 15, ("broken", D(0))),
        # The only payment arrives after the last due installment's cutoff (14): broken.
        ([(15, "100")], 15, ("broken", D(0))),
    ],
)
def test_installment_plan(payments: list[tuple[int, str]], as_of: int, expected: object) -> None:
    found = [pay(f"x{i}", on, amount) for i, (on, amount) in enumerate(payments)]
    assert statuses([THREE], found, as_of=as_of) == [expected]


def test_plan_counts_as_one_promise_with_its_total() -> None:
    assert THREE.amount == D(150)
    assert THREE.last_due_date == day(19)
    assert THREE.window_end(PromiseRules()) == day(21)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Promise("p", "a", day(1), ()),
        lambda: plan((5, "50"), (5, "50")),
        lambda: plan((9, "50"), (5, "50")),
        lambda: single("p", 6, 5, "100"),
        lambda: single("p", 2, 5, "0"),
        lambda: pay("x", 2, "-1"),
        lambda: PromiseRules(grace_days=-1),
        lambda: PromiseRules(kept_tolerance=D("1.01")),
        lambda: PromiseRules(kept_tolerance=D(0)),
    ],
)
def test_invalid_input_is_rejected(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]
