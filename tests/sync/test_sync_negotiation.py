import uuid
from datetime import date, timedelta
from decimal import Decimal

from sync.mutations import Installment, RecordPromise
from sync.negotiation import NegotiationOptions, promise_outside_options

DAY = date(2026, 11, 27)
OPTIONS = NegotiationOptions(max_discount_pct=Decimal(20), max_installments=3)


def promise(*parts: tuple[int, str]) -> RecordPromise:
    return RecordPromise(
        uuid.uuid4(),
        uuid.uuid4(),
        tuple(Installment(DAY + timedelta(days=d), Decimal(a)) for d, a in parts),
    )


def test_single_partial_promise_is_allowed() -> None:
    assert promise_outside_options(promise((5, "50")), OPTIONS, Decimal(1000), DAY) is None


def test_plan_within_discount_is_allowed() -> None:
    plan = promise((7, "300"), (37, "250"), (67, "250"))
    assert promise_outside_options(plan, OPTIONS, Decimal(1000), DAY) is None


def test_plan_outside_options() -> None:
    too_cheap = promise((7, "300"), (37, "200"), (67, "200"))
    assert "discount" in str(promise_outside_options(too_cheap, OPTIONS, Decimal(1000), DAY))
    too_many = promise((7, "300"), (37, "300"), (67, "300"), (97, "300"))
    assert "installments" in str(promise_outside_options(too_many, OPTIONS, Decimal(1000), DAY))
    backdated = promise((-1, "300"))
    assert "before" in str(promise_outside_options(backdated, OPTIONS, Decimal(1000), DAY))
    far = promise((45, "300"))
    assert "days out" in str(promise_outside_options(far, OPTIONS, Decimal(1000), DAY))


def test_options_from_the_account_record() -> None:
    options = NegotiationOptions.from_mapping(
        {"max_discount_pct": 20, "max_installments": 6, "min_installment": "50.00"}
    )
    assert options.max_installments == 6 and options.min_installment == Decimal("50.00")
    assert NegotiationOptions.from_mapping(None) == NegotiationOptions()
    small = promise((7, "900"), (37, "40"))
    assert "minimum" in str(promise_outside_options(small, options, Decimal(1000), DAY))
    assert options.as_json()["max_discount_pct"] == "20"
