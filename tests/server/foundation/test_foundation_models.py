"""Money stays exact and times stay in UTC on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError

from server.extensions import db
from server.models import Account, Payment, Portfolio
from server.services.settings import local_date_of, local_midnight_utc


def test_money_sums_are_exact(factory: Any) -> None:
    account = factory.account("M-1")
    amounts = [Decimal("0.10")] * 10 + [Decimal("1234567.89"), Decimal("-0.01")]
    for n, amount in enumerate(amounts):
        db.session.add(
            Payment(
                account_id=account.id,
                source="imported",
                amount=amount,
                currency="PEN",
                paid_at=datetime(2026, 11, 1, 12, tzinfo=UTC) + timedelta(minutes=n),
                local_date=date(2026, 11, 1),
            )
        )
    db.session.commit()
    total = db.session.execute(select(func.sum(Payment.amount))).scalar_one()
    assert total == Decimal("1234568.88")
    assert isinstance(total, Decimal)


def test_times_come_back_aware_in_utc(factory: Any) -> None:
    lima = timezone(timedelta(hours=-5))
    account = factory.account("T-1")
    db.session.add(
        Payment(
            account_id=account.id,
            source="field",
            amount=Decimal("5"),
            currency="PEN",
            paid_at=datetime(2026, 11, 26, 23, 30, tzinfo=lima),
            local_date=date(2026, 11, 26),
        )
    )
    db.session.commit()
    db.session.expire_all()
    stored = db.session.execute(select(Payment.paid_at)).scalar_one()
    assert stored == datetime(2026, 11, 27, 4, 30, tzinfo=UTC)
    assert stored.tzinfo is not None


def test_naive_times_are_refused(factory: Any) -> None:
    account = factory.account("T-2")
    db.session.add(
        Payment(
            account_id=account.id,
            source="field",
            amount=Decimal("5"),
            currency="PEN",
            paid_at=datetime(2026, 11, 26, 23, 30),
            local_date=date(2026, 11, 26),
        )
    )
    with pytest.raises(StatementError):
        db.session.commit()
    db.session.rollback()


def test_external_id_is_unique_per_portfolio(factory: Any) -> None:
    factory.account("SAME")
    other = Portfolio(code="otro", name="otro")
    db.session.add(other)
    db.session.commit()
    db.session.add(Account(portfolio_id=other.id, external_id="SAME", debtor_name="B"))
    db.session.commit()
    db.session.add(Account(portfolio_id=other.id, external_id="SAME", debtor_name="C"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_foreign_keys_are_enforced(app: Any) -> None:
    db.session.add(Account(portfolio_id=424242, external_id="X", debtor_name="Nadie"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_local_day_follows_the_agency_time_zone(app: Any) -> None:
    late_evening_in_lima = datetime(2026, 11, 27, 4, 30, tzinfo=UTC)
    assert local_date_of(late_evening_in_lima) == date(2026, 11, 26)
    assert local_midnight_utc(date(2026, 11, 26)) == datetime(2026, 11, 26, 5, tzinfo=UTC)
