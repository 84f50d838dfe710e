"""The materialised KPI state stays what a full rebuild from the events would write.

Promise status spans, the collector-day rollup and ``assignments.attempted`` are kept by the
services as they write (ORM flushes, the payments import, the demo seed); after each kind of
write the stored state must equal a rebuild from scratch.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Flask
from sqlalchemy import select

from server.extensions import db
from server.models import (
    Account,
    Assignment,
    CollectorDayActivity,
    CollectorDayAssignments,
    ImportedPaymentsDay,
    Payment,
    Portfolio,
    PromiseStatusSpan,
    PromiseToPay,
)
from server.services.demo import build_demo
from server.services.importing import import_payments
from server.services.reporting import rebuild_kpi_state
from server.services.settings import update_settings

DAY = date(2026, 11, 20)


def stored_state() -> tuple[list[Any], ...]:
    spans = db.session.execute(
        select(PromiseStatusSpan.__table__).order_by(
            PromiseStatusSpan.promise_id, PromiseStatusSpan.judged_from
        )
    ).all()
    days = db.session.execute(
        select(CollectorDayActivity.__table__).order_by(
            CollectorDayActivity.local_date, CollectorDayActivity.collector_id
        )
    ).all()
    attempted = db.session.execute(
        select(Assignment.id, Assignment.attempted).order_by(Assignment.id)
    ).all()
    assigned = db.session.execute(
        select(CollectorDayAssignments.__table__).order_by(
            CollectorDayAssignments.local_date, CollectorDayAssignments.collector_id
        )
    ).all()
    imported = db.session.execute(
        select(
            ImportedPaymentsDay.local_date,
            ImportedPaymentsDay.collector_id,
            ImportedPaymentsDay.amount_recovered,
        ).order_by(ImportedPaymentsDay.local_date, ImportedPaymentsDay.collector_id)
    ).all()
    return spans, days, attempted, assigned, imported


def assert_state_is_rebuilt_state() -> tuple[list[Any], ...]:
    kept = stored_state()
    rebuild_kpi_state()
    rebuilt = stored_state()
    db.session.rollback()
    names = ("spans", "days", "attempted", "assigned", "imported")
    for name, mine, fresh in zip(names, kept, rebuilt, strict=True):
        assert mine == fresh, name
    return kept


def test_demo_seed_imports_and_settings_keep_the_state(app: Flask) -> None:
    build_demo(seed=5, today=DAY, password="demo", accounts=150)
    spans, days, attempted, assigned, imported = assert_state_is_rebuilt_state()
    assert spans and days and assigned and imported and any(flag for _, flag in attempted)

    # Payments for the accounts with the most promises, one of them repeating a field receipt.
    receipt = db.session.execute(
        select(Account.external_id, Payment.receipt_number, Payment.amount, Portfolio.code)
        .join(Account, Account.id == Payment.account_id)
        .join(Portfolio, Portfolio.id == Account.portfolio_id)
        .where(Payment.source == "field", Payment.amount > 0)
        .order_by(Payment.id)
        .limit(1)
    ).one()
    busiest = db.session.execute(
        select(Account.external_id, Account.id)
        .join(PromiseToPay, PromiseToPay.account_id == Account.id)
        .join(Portfolio, Portfolio.id == Account.portfolio_id)
        .where(Portfolio.code == receipt[3])
        .group_by(Account.id)
        .order_by(db.func.count().desc(), Account.id)
        .limit(3)
    ).all()
    lines = ["external_id,amount,paid_at,method,receipt_number"]
    lines += [f"{ext},250.00,{DAY.isoformat()},transfer," for ext, _ in busiest]
    lines.append(f"{receipt[0]},{receipt[2]},{DAY.isoformat()},transfer,{receipt[1]}")
    report = import_payments("\n".join(lines).encode(), "pagos.csv", portfolio_code=receipt[3])
    assert report.created >= 3 and report.rejected == 0
    after, *_ = assert_state_is_rebuilt_state()
    assert after != spans  # the import changed some judgements, and they were rewritten

    update_settings({"grace_days": 0, "kept_tolerance": Decimal("0.50"), "verify_radius_m": 40})
    strict, strict_days, *_ = assert_state_is_rebuilt_state()
    assert strict != after and strict_days != days


def test_kpi_rebuild_command_restores_state_written_around_the_services(app: Flask) -> None:
    build_demo(seed=5, today=DAY, password="demo", accounts=60)
    kept = stored_state()
    # Rows removed behind the services' back (a restore from an older dump, say).
    db.session.execute(CollectorDayActivity.__table__.delete())
    db.session.execute(PromiseStatusSpan.__table__.delete())
    db.session.commit()
    assert stored_state() != kept

    result = app.test_cli_runner().invoke(args=["kpi-rebuild"])

    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert stored_state() == kept
