"""The creditor's portfolio: accounts, imports, snapshots and daily assignments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.models.types import BigIntPK, Money, UTCDateTime, utcnow


class Portfolio(db.Model):  # type: ignore[name-defined,misc]
    """One creditor's book of accounts handed to the agency."""

    __tablename__ = "portfolios"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    creditor: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Account(db.Model):  # type: ignore[name-defined,misc]
    """A debt to collect at a debtor's address."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "external_id", name="uq_accounts_portfolio_external"),
        Index("ix_accounts_zone", "zone_id"),
        Index("ix_accounts_geocode_status", "geocode_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    debtor_name: Mapped[str] = mapped_column(String(160))
    national_id: Mapped[str | None] = mapped_column(String(32))
    phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    address: Mapped[str] = mapped_column(String(255), default="")
    district: Mapped[str | None] = mapped_column(String(80))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # ok, pending, failed, manual
    geocode_status: Mapped[str] = mapped_column(String(16), default="pending")
    currency: Mapped[str] = mapped_column(String(3), default="PEN")
    balance: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    overdue_balance: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    days_past_due: Mapped[int] = mapped_column(default=0)
    risk_score: Mapped[float | None] = mapped_column(Float)
    segment: Mapped[str | None] = mapped_column(String(40))
    # [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "13:00"}], weekday 0 = Monday.
    preferred_windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # What the creditor allows the collector to offer, e.g.
    # {"max_discount_pct": 20, "max_installments": 6, "min_installment": "50.00"}.
    negotiation_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PortfolioImport(db.Model):  # type: ignore[name-defined,misc]
    """One uploaded file (accounts or payments) and what came of it."""

    __tablename__ = "portfolio_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # accounts | payments
    portfolio_id: Mapped[int | None] = mapped_column(ForeignKey("portfolios.id"))
    as_of: Mapped[date] = mapped_column(Date)
    filename: Mapped[str] = mapped_column(String(255), default="")
    file_format: Mapped[str] = mapped_column(String(8))
    mode: Mapped[str] = mapped_column(String(8), default="partial")
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    rejected_count: Mapped[int] = mapped_column(default=0)
    committed: Mapped[bool] = mapped_column(Boolean, default=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountSnapshot(db.Model):  # type: ignore[name-defined,misc]
    """An account's balances as of an import's date, the basis of roll rates."""

    __tablename__ = "account_snapshots"
    __table_args__ = (
        UniqueConstraint("import_id", "account_id", name="uq_snapshots_import_account"),
        Index("ix_account_snapshots_as_of_account", "as_of", "account_id"),
        # KPI: an account's latest snapshot on or before a date (effectiveness, start bucket).
        Index("ix_account_snapshots_account_as_of", "account_id", "as_of"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("portfolio_imports.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    as_of: Mapped[date] = mapped_column(Date)
    balance: Mapped[Decimal] = mapped_column(Money)
    overdue_balance: Mapped[Decimal] = mapped_column(Money)
    days_past_due: Mapped[int] = mapped_column()


class Assignment(db.Model):  # type: ignore[name-defined,misc]
    """An account given to a collector for a local day, usually as a stop of a published route."""

    __tablename__ = "assignments"
    __table_args__ = (
        Index("ix_assignments_collector_date", "collector_id", "date"),
        Index("ix_assignments_account_date", "account_id", "date"),
        # A day's assignments per collector, read from the index alone: the live view's
        # progress and the KPI rollups (plan completion, accounts assigned).
        Index(
            "ix_assignments_kpi",
            "date",
            "collector_id",
            "account_id",
            "status",
            "plan_id",
            "attempted",
        ),
        # The live view's check that a day's plan is unchanged: count and latest change of
        # the day's assignments from the index alone.
        Index("ix_assignments_date_updated", "date", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("route_plans.id", ondelete="SET NULL"))
    sequence: Mapped[int | None] = mapped_column()
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # active | removed (reassigned away: a tombstone for the device) | done
    status: Mapped[str] = mapped_column(String(16), default="active")
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether its collector attempted the account that day (a visit with a disposition);
    # kept by server.services.reporting when visits and assignments are written.
    attempted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
