"""The creditor's negotiation options for an account, and checking a promise against them.

A collector at the door offers a solution made to the debtor's situation, within limits the
creditor sets per account: how deep a settlement discount may go, how many installments a
plan may have, how far out the first and last payments may be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sync.mutations import RecordPromise


@dataclass(frozen=True, slots=True)
class NegotiationOptions:
    """What the creditor allows for one account."""

    max_discount_pct: Decimal = Decimal(0)
    max_installments: int = 1
    max_days_to_first_payment: int = 30
    max_plan_days: int = 365
    min_installment: Decimal | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> NegotiationOptions:
        """Read the creditor's options as stored with the account; absent keys take defaults.

        Malformed values raise ``ValueError``: they come from the creditor's file and must be
        fixed there rather than silently widened.
        """
        raw = raw or {}
        try:
            minimum = raw.get("min_installment")
            return cls(
                max_discount_pct=Decimal(str(raw.get("max_discount_pct", 0))),
                max_installments=int(raw.get("max_installments", 1)),
                max_days_to_first_payment=int(raw.get("max_days_to_first_payment", 30)),
                max_plan_days=int(raw.get("max_plan_days", 365)),
                min_installment=None if minimum is None else Decimal(str(minimum)),
            )
        except (InvalidOperation, TypeError) as exc:
            raise ValueError(f"malformed negotiation options: {exc}") from None

    def as_json(self) -> dict[str, object]:
        """The options as the device receives them in a pull."""
        return {
            "max_discount_pct": str(self.max_discount_pct),
            "max_installments": self.max_installments,
            "max_days_to_first_payment": self.max_days_to_first_payment,
            "max_plan_days": self.max_plan_days,
            "min_installment": None if self.min_installment is None else str(self.min_installment),
        }


def promise_outside_options(
    promise: RecordPromise, options: NegotiationOptions, balance: Decimal, visit_day: date
) -> str | None:
    """Why the promise breaks the creditor's options, or None when it is allowed.

    A single dated amount may be a partial payment. A plan is a settlement: its total must
    reach the balance less at most the allowed discount.
    """
    first, last = promise.installments[0], promise.installments[-1]
    if first.due_date < visit_day:
        return "the first payment is dated before the visit"
    if first.due_date > visit_day + timedelta(days=options.max_days_to_first_payment):
        return f"the first payment is more than {options.max_days_to_first_payment} days out"
    if not promise.is_plan:
        return None
    if options.min_installment is not None and any(
        i.amount < options.min_installment for i in promise.installments
    ):
        return f"an installment is below the minimum of {options.min_installment}"
    if len(promise.installments) > options.max_installments:
        return f"the creditor allows at most {options.max_installments} installments"
    if last.due_date > visit_day + timedelta(days=options.max_plan_days):
        return f"the plan runs longer than {options.max_plan_days} days"
    floor = (balance * (Decimal(100) - options.max_discount_pct) / Decimal(100)).quantize(
        Decimal("0.01")
    )
    if promise.total < floor:
        return f"the plan total is below the {options.max_discount_pct}% discount limit"
    return None
