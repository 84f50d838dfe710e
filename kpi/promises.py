"""Promise-to-pay status (§3 of kpi-model.md): matching payments to promises and judging them.

Pure functions over frozen dataclasses; money is ``Decimal`` throughout. A single promise is
an installment plan with one installment, so one rule judges both.

Decisions the model text leaves open, made here once for every channel:

* Dates are agency-local calendar dates; a promise's window is inclusive at both ends,
  from its creation date to its last due date plus ``grace_days``.
* An installment is *due by* ``as_of`` when its due date plus grace is on or before
  ``as_of``; this keeps a single promise "pending while due date + grace is after as_of".
* A payment is matched whole to exactly one promise: the oldest (by creation date, then by
  the order given) that is *open* on the payment's date, i.e. the date lies in its window and
  the payments matched so far are below ``kept_tolerance`` × the promised total. A payment no
  promise is open for stays unmatched. Payments after ``as_of`` are not known yet and ignored.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

ZERO = Decimal(0)


class PromiseStatus(StrEnum):
    """The judgement of one promise as of a date."""

    PENDING = "pending"
    KEPT = "kept"
    PARTIALLY_KEPT = "partially_kept"
    BROKEN = "broken"


@dataclass(frozen=True, slots=True)
class PromiseRules:
    """The two knobs of §3; the defaults are the model's."""

    grace_days: int = 2
    kept_tolerance: Decimal = Decimal("1.00")

    def __post_init__(self) -> None:
        if self.grace_days < 0:
            raise ValueError("grace_days must be >= 0")
        if not ZERO < self.kept_tolerance <= Decimal(1):
            raise ValueError("kept_tolerance must be in (0, 1]")

    @property
    def grace(self) -> timedelta:
        """Grace period as a ``timedelta`` to add to due dates."""
        return timedelta(days=self.grace_days)


@dataclass(frozen=True, slots=True)
class Installment:
    """One dated amount of a promise."""

    due_date: date
    amount: Decimal

    def __post_init__(self) -> None:
        if self.amount <= ZERO:
            raise ValueError("an installment amount must be > 0")


@dataclass(frozen=True, slots=True)
class Promise:
    """A promise to pay: one installment for a plain promise, several for a plan."""

    promise_id: Hashable
    account_id: Hashable
    created_on: date
    installments: tuple[Installment, ...]

    def __post_init__(self) -> None:
        if not self.installments:
            raise ValueError("a promise needs at least one installment")
        dues = [i.due_date for i in self.installments]
        if any(a >= b for a, b in pairwise(dues)):
            raise ValueError("installment due dates must be strictly increasing")
        if dues[0] < self.created_on:
            raise ValueError("a promise cannot fall due before it was made")

    @classmethod
    def single(
        cls,
        promise_id: Hashable,
        account_id: Hashable,
        created_on: date,
        due_date: date,
        amount: Decimal,
    ) -> Promise:
        """A plain promise: one amount on one due date."""
        return cls(promise_id, account_id, created_on, (Installment(due_date, amount),))

    @property
    def amount(self) -> Decimal:
        """The total promised."""
        return sum((i.amount for i in self.installments), ZERO)

    @property
    def last_due_date(self) -> date:
        """Due date of the final installment."""
        return self.installments[-1].due_date

    def window_end(self, rules: PromiseRules) -> date:
        """Last date on which a payment can still count toward this promise."""
        return self.last_due_date + rules.grace


@dataclass(frozen=True, slots=True)
class Payment:
    """Money received on an account, dated by its agency-local day."""

    payment_id: Hashable
    account_id: Hashable
    paid_on: date
    amount: Decimal

    def __post_init__(self) -> None:
        if self.amount <= ZERO:
            raise ValueError("a payment amount must be > 0")


@dataclass(frozen=True, slots=True)
class PromiseOutcome:
    """A judged promise: its status and the payments that count toward it.

    ``amount_matched`` is what arrived by the judged horizon (last due-by-``as_of``
    installment plus grace); it is the promise's contribution to ``amount_kept`` when the
    status is kept or partially kept.
    """

    promise: Promise
    status: PromiseStatus
    amount_matched: Decimal
    payments: tuple[Payment, ...] = field(default=())


def match_payments(
    promises: Sequence[Promise],
    payments: Iterable[Payment],
    as_of: date,
    rules: PromiseRules = PromiseRules(),
) -> dict[Hashable, tuple[Payment, ...]]:
    """Assign each payment of one account to at most one promise, oldest open promise first.

    Returns the payments matched to each promise id (every promise id is present).
    """
    ordered = sorted(promises, key=lambda p: p.created_on)  # stable: ties keep input order
    matched: dict[Hashable, list[Payment]] = {p.promise_id: [] for p in ordered}
    totals: dict[Hashable, Decimal] = {p.promise_id: ZERO for p in ordered}
    targets = {p.promise_id: rules.kept_tolerance * p.amount for p in ordered}
    ends = {p.promise_id: p.window_end(rules) for p in ordered}
    for payment in sorted(payments, key=lambda p: p.paid_on):
        if payment.paid_on > as_of:
            continue
        for promise in ordered:
            pid = promise.promise_id
            in_window = promise.created_on <= payment.paid_on <= ends[pid]
            if in_window and totals[pid] < targets[pid]:
                matched[pid].append(payment)
                totals[pid] += payment.amount
                break
    return {pid: tuple(found) for pid, found in matched.items()}


def judge_promise(
    promise: Promise,
    matched: Sequence[Payment],
    as_of: date,
    rules: PromiseRules = PromiseRules(),
) -> PromiseOutcome:
    """Judge one promise given the payments matched to it (see ``match_payments``)."""
    grace = rules.grace
    due = [i for i in promise.installments if i.due_date + grace <= as_of]
    if not due:
        return PromiseOutcome(promise, PromiseStatus.PENDING, ZERO, tuple(matched))
    horizon = due[-1].due_date + grace
    arrived = [p for p in matched if p.paid_on <= horizon]
    amount_matched = sum((p.amount for p in arrived), ZERO)
    promised_so_far = ZERO
    kept = True
    for installment in due:
        promised_so_far += installment.amount
        cutoff = installment.due_date + grace
        paid_so_far = sum((p.amount for p in arrived if p.paid_on <= cutoff), ZERO)
        if paid_so_far < rules.kept_tolerance * promised_so_far:
            kept = False
            break
    if kept:
        status = PromiseStatus.KEPT
    elif amount_matched == ZERO:
        status = PromiseStatus.BROKEN
    else:
        status = PromiseStatus.PARTIALLY_KEPT
    return PromiseOutcome(promise, status, amount_matched, tuple(arrived))


def judge_account(
    promises: Sequence[Promise],
    payments: Iterable[Payment],
    as_of: date,
    rules: PromiseRules = PromiseRules(),
) -> list[PromiseOutcome]:
    """Match and judge every promise of one account, in the order given."""
    matched = match_payments(promises, payments, as_of, rules)
    return [judge_promise(p, matched[p.promise_id], as_of, rules) for p in promises]


@dataclass(frozen=True, slots=True)
class StatusSpan:
    """A promise's judgement for every ``as_of`` in ``[judged_from, judged_until)``.

    ``judged_until`` is None for the last span (the status holds from then on). Before a
    promise's first span it is pending.
    """

    promise: Promise
    judged_from: date
    judged_until: date | None
    status: PromiseStatus
    amount_matched: Decimal


def status_spans(
    promises: Sequence[Promise],
    payments: Iterable[Payment],
    rules: PromiseRules = PromiseRules(),
) -> list[StatusSpan]:
    """Every status each promise of one account takes as ``as_of`` moves forward.

    Why this is exact for any ``as_of``: payments are matched in date order and a payment's
    match depends only on earlier payments, so matching with every known payment and then
    keeping those on or before ``as_of`` gives what ``match_payments`` gives for that
    ``as_of``. A judgement then changes only when one more installment falls due (its due
    date plus grace), so one span per installment says all there is, and a report can pick
    the span holding its ``as_of`` in SQL.
    """
    matched = match_payments(promises, payments, date.max, rules)
    spans: list[StatusSpan] = []
    for promise in promises:
        ends = [i.due_date + rules.grace for i in promise.installments]
        for k, starts in enumerate(ends):
            outcome = judge_promise(promise, matched[promise.promise_id], starts, rules)
            until = ends[k + 1] if k + 1 < len(ends) else None
            spans.append(StatusSpan(promise, starts, until, outcome.status, outcome.amount_matched))
    return spans
