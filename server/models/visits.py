"""What happens at the door: visits (attempts), promises, payments, notes, photos."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.types import BigIntPK, Money, UTCDateTime, utcnow


class Visit(db.Model):  # type: ignore[name-defined,misc]
    """One attempt at an account's address, with exactly one disposition."""

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_local_date_collector", "local_date", "collector_id"),
        Index("ix_visits_account_local_date", "account_id", "local_date"),
        # KPI: "was this assignment attempted that day" answered from the index alone.
        Index(
            "ix_visits_account_date_collector",
            "account_id",
            "local_date",
            "collector_id",
            "disposition",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"))
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"))
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="SET NULL")
    )
    disposition: Mapped[str | None] = mapped_column(String(32))
    # Corrected time (device clock offset applied); what reports and ordering use.
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime)
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    local_date: Mapped[date] = mapped_column(Date)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    # verified | far_from_address | no_fix
    geo_status: Mapped[str] = mapped_column(String(24), default="no_fix")
    # e.g. ["reassigned", "implausible_time"]
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromiseToPay(db.Model):  # type: ignore[name-defined,misc]
    """A debtor's commitment: one dated amount or an installment plan, counted as one promise."""

    __tablename__ = "promises"
    __table_args__ = (
        Index("ix_promises_account_created", "account_id", "created_at"),
        Index("ix_promises_local_date_collector", "local_date", "collector_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    client_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    # Lets a capture refer to a visit created in the same sync push before it has an id.
    visit: Mapped[Visit | None] = relationship(foreign_keys=[visit_id])
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    local_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Money)
    first_due_date: Mapped[date] = mapped_column(Date)
    last_due_date: Mapped[date] = mapped_column(Date)
    installments: Mapped[list[PromiseInstallment]] = relationship(
        order_by="PromiseInstallment.seq", cascade="all, delete-orphan", lazy="selectin"
    )


class PromiseStatusSpan(db.Model):  # type: ignore[name-defined,misc]
    """A promise's status for report dates ``as_of`` in ``[judged_from, judged_until)``.

    Written by server.services.reporting whenever the account's promises or payments change
    (kpi.status_spans), so a report judges promises for any ``as_of`` with a join. No span
    holding ``as_of``: the promise is pending.
    """

    __tablename__ = "promise_status_spans"

    promise_id: Mapped[int] = mapped_column(
        ForeignKey("promises.id", ondelete="CASCADE"), primary_key=True
    )
    judged_from: Mapped[date] = mapped_column(Date, primary_key=True)
    judged_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    amount_matched: Mapped[Decimal] = mapped_column(Money)


class CollectorDayActivity(db.Model):  # type: ignore[name-defined,misc]
    """One collector's attempts and field payments on one local day, added up.

    A rollup of visits, photos and field payments kept by server.services.reporting as they
    are written; reports grouped by collector and time read it instead of the events.
    """

    __tablename__ = "collector_day_activity"

    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    collector_id: Mapped[int] = mapped_column(
        ForeignKey("collectors.id", ondelete="CASCADE"), primary_key=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    connections: Mapped[int] = mapped_column(default=0)
    contacts: Mapped[int] = mapped_column(default=0)
    direct_contacts: Mapped[int] = mapped_column(default=0)
    promises: Mapped[int] = mapped_column(default=0)
    attempts_with_position: Mapped[int] = mapped_column(default=0)
    # At the agency's verify_radius_m when written (a settings change rewrites the rollup).
    attempts_geo_verified: Mapped[int] = mapped_column(default=0)
    attempts_with_photo: Mapped[int] = mapped_column(default=0)
    # First to last check-in with a disposition.
    field_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    amount_collected_field: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))


class CollectorDayAssignments(db.Model):  # type: ignore[name-defined,misc]
    """One collector's assignments on one local day, added up per distinct account.

    ``overdue_at_start`` sums each account's overdue balance at its latest snapshot on or
    before the day; a report starting on ``from`` may use it when the latest snapshot date on
    or before ``from`` is ``overdue_as_of`` (no snapshot in between) and every account had a
    snapshot (``accounts_without_snapshot`` is 0). Kept by server.services.reporting.
    """

    __tablename__ = "collector_day_assignments"

    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    collector_id: Mapped[int] = mapped_column(
        ForeignKey("collectors.id", ondelete="CASCADE"), primary_key=True
    )
    accounts_assigned: Mapped[int] = mapped_column(default=0)
    accounts_attempted: Mapped[int] = mapped_column(default=0)
    planned_stops: Mapped[int] = mapped_column(default=0)
    planned_stops_attempted: Mapped[int] = mapped_column(default=0)
    overdue_as_of: Mapped[date | None] = mapped_column(Date)
    overdue_at_start: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    accounts_without_snapshot: Mapped[int] = mapped_column(default=0)


class ImportedPaymentsDay(db.Model):  # type: ignore[name-defined,misc]
    """Imported payments that count, added up per local day and credited collector.

    The collector is the one the account was last assigned to on or before the payment's day
    (None when it never was). Kept by server.services.reporting.
    """

    __tablename__ = "imported_payments_days"
    __table_args__ = (Index("ix_imported_payments_days_date", "local_date", "collector_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date)
    collector_id: Mapped[int | None] = mapped_column(
        ForeignKey("collectors.id", ondelete="CASCADE")
    )
    amount_recovered: Mapped[Decimal] = mapped_column(Money)


class PromiseInstallment(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "promise_installments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    promise_id: Mapped[int] = mapped_column(ForeignKey("promises.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)


class Payment(db.Model):  # type: ignore[name-defined,misc]
    """Money received: in the field (with a receipt) or posted by the creditor (imported).

    Append-only: a correction is a reversal row with a negative amount pointing at the original.
    An imported payment that repeats a field receipt is kept for audit with counted=False.
    """

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_account_paid", "account_id", "paid_at"),
        Index("ix_payments_local_date_collector", "local_date", "collector_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    client_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    # Lets a capture refer to a visit created in the same sync push before it has an id.
    visit: Mapped[Visit | None] = relationship(foreign_keys=[visit_id])
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("portfolio_imports.id"))
    source: Mapped[str] = mapped_column(String(16))  # field | imported
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16), default="cash")
    receipt_number: Mapped[str | None] = mapped_column(String(40), index=True)
    reference: Mapped[str | None] = mapped_column(String(80))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_date: Mapped[date] = mapped_column(Date)
    counted: Mapped[bool] = mapped_column(Boolean, default=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Note(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    client_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    # Lets a capture refer to a visit created in the same sync push before it has an id.
    visit: Mapped[Visit | None] = relationship(foreign_keys=[visit_id])
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Photo(db.Model):  # type: ignore[name-defined,misc]
    """Photo metadata; the bytes arrive separately (tus) and are matched by sha256."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    client_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    # Lets a capture refer to a visit created in the same sync push before it has an id.
    visit: Mapped[Visit | None] = relationship(foreign_keys=[visit_id])
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column()
    mime: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="other")
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # Where the camera says the photo was taken (EXIF GPS), compared with the account's
    # location once the bytes are stored: verified, far_from_address, no_fix or no_address.
    exif_lat: Mapped[float | None] = mapped_column(Float)
    exif_lon: Mapped[float | None] = mapped_column(Float)
    geo_status: Mapped[str | None] = mapped_column(String(24))
    geo_distance_m: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactUpdate(db.Model):  # type: ignore[name-defined,misc]
    """A new phone or address reported in the field, kept for the dispatcher to review."""

    __tablename__ = "contact_updates"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    client_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    kind: Mapped[str] = mapped_column(String(16))  # phone | address
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
