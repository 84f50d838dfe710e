"""Builders for field events (visits, promises, payments, photos, fixes, snapshots).

Times are given in Lima local time and stored the way the sync service stores them: UTC
instants plus the agency-local day computed by ``local_date_of``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from server.extensions import db
from server.models import (
    Account,
    AccountSnapshot,
    Collector,
    Device,
    Payment,
    Photo,
    PortfolioImport,
    Position,
    PromiseInstallment,
    PromiseToPay,
    RoutePlan,
    Visit,
    Zone,
)
from server.services.settings import local_date_of

LIMA = ZoneInfo("America/Lima")


def lima(day: date, hhmm: str) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=LIMA)


@dataclass
class FieldLog:
    app: Flask

    def zone(self, name: str) -> Zone:
        ring = [[-77.1, -12.1], [-77.0, -12.1], [-77.0, -12.0], [-77.1, -12.0], [-77.1, -12.1]]
        zone = Zone(name=name, geometry={"type": "Polygon", "coordinates": [ring]})
        db.session.add(zone)
        db.session.commit()
        return zone

    def plan(self, day: date) -> RoutePlan:
        plan = RoutePlan(date=day, status="published")
        db.session.add(plan)
        db.session.commit()
        return plan

    def visit(
        self,
        collector: Collector,
        account: Account,
        at: datetime,
        disposition: str | None,
        distance_m: float | None = None,
        photos: int = 0,
    ) -> Visit:
        has_fix = distance_m is not None
        visit = Visit(
            client_uuid=str(uuid.uuid4()),
            account_id=account.id,
            collector_id=collector.id,
            disposition=disposition,
            checked_in_at=at,
            local_date=local_date_of(at),
            lat=-12.05 if has_fix else None,
            lon=-77.03 if has_fix else None,
            distance_m=distance_m,
            geo_status="no_fix" if not has_fix else "verified",
        )
        db.session.add(visit)
        db.session.flush()
        for _ in range(photos):
            db.session.add(
                Photo(
                    account_id=account.id,
                    visit_id=visit.id,
                    collector_id=collector.id,
                    sha256=uuid.uuid4().hex * 2,
                    size_bytes=1000,
                    mime="image/jpeg",
                )
            )
        db.session.commit()
        return visit

    def promise(
        self,
        visit: Visit,
        installments: Sequence[tuple[date, str]],
    ) -> PromiseToPay:
        amounts = [Decimal(a) for _, a in installments]
        promise = PromiseToPay(
            visit_id=visit.id,
            account_id=visit.account_id,
            collector_id=visit.collector_id,
            created_at=visit.checked_in_at,
            local_date=visit.local_date,
            currency="PEN",
            amount=sum(amounts, Decimal(0)),
            first_due_date=installments[0][0],
            last_due_date=installments[-1][0],
        )
        if len(installments) > 1:
            promise.installments = [
                PromiseInstallment(seq=i + 1, due_date=d, amount=Decimal(a))
                for i, (d, a) in enumerate(installments)
            ]
        db.session.add(promise)
        db.session.commit()
        return promise

    def payment(
        self,
        account: Account,
        at: datetime,
        amount: str,
        *,
        source: str = "imported",
        collector: Collector | None = None,
        visit: Visit | None = None,
        receipt: str | None = None,
        method: str = "transfer",
        counted: bool = True,
        currency: str = "PEN",
    ) -> Payment:
        payment = Payment(
            account_id=account.id,
            collector_id=collector.id if collector else None,
            visit_id=visit.id if visit else None,
            source=source,
            amount=Decimal(amount),
            currency=currency,
            method=method,
            receipt_number=receipt,
            paid_at=at,
            local_date=local_date_of(at),
            counted=counted,
        )
        db.session.add(payment)
        db.session.commit()
        return payment

    def device(self, collector: Collector) -> Device:
        device = Device(
            id=str(uuid.uuid4()),
            collector_id=collector.id,
            credential_hash=uuid.uuid4().hex * 2,
            tracking_id=uuid.uuid4().hex,
        )
        db.session.add(device)
        db.session.commit()
        return device

    def fix(
        self,
        device: Device,
        at: datetime,
        distance_m: float,
        filter_reason: str | None = None,
        zone: Zone | None = None,
    ) -> None:
        db.session.add(
            Position(
                device_id=device.id,
                collector_id=device.collector_id,
                fix_time=at,
                local_date=local_date_of(at),
                lat=-12.05,
                lon=-77.03,
                distance_m=distance_m,
                filter_reason=filter_reason,
                zone_id=zone.id if zone else None,
            )
        )
        db.session.commit()

    def snapshot(self, as_of: date, rows: dict[Account, tuple[int, str]]) -> None:
        """A portfolio snapshot: account -> (days past due, overdue balance)."""
        record = PortfolioImport(kind="accounts", as_of=as_of, file_format="csv")
        db.session.add(record)
        db.session.flush()
        for account, (dpd, overdue) in rows.items():
            db.session.add(
                AccountSnapshot(
                    import_id=record.id,
                    account_id=account.id,
                    as_of=as_of,
                    balance=Decimal(overdue) * 2,
                    overdue_balance=Decimal(overdue),
                    days_past_due=dpd,
                )
            )
        db.session.commit()


@pytest.fixture()
def field(app: Flask) -> FieldLog:
    return FieldLog(app)


@pytest.fixture()
def report(client: Any, auth_header: Any) -> Any:
    """GET /api/v1/kpi/report as a user; returns the JSON document (asserting 200)."""

    def get(user: str, **params: str) -> dict[str, Any]:
        response = client.get("/api/v1/kpi/report", query_string=params, headers=auth_header(user))
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    return get
