"""Positions reported by collectors' devices and the field alerts derived from them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.models.types import BigIntPK, UTCDateTime, utcnow


class Position(db.Model):  # type: ignore[name-defined,misc]
    """One fix; a filtered fix keeps its reason and stays out of the live view and tracks."""

    __tablename__ = "positions"
    # Every index costs each of thousands of inserts a second: tracks and the retention
    # purge go through the collector's, duplicate checks through the device's.
    __table_args__ = (
        UniqueConstraint("device_id", "fix_time", name="uq_positions_device_fix_time"),
        Index("ix_positions_collector_fix_time", "collector_id", "fix_time"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"))
    fix_time: Mapped[datetime] = mapped_column(UTCDateTime)
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    server_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    local_date: Mapped[date] = mapped_column(Date)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    heading: Mapped[float | None] = mapped_column(Float)
    altitude_m: Mapped[float | None] = mapped_column(Float)
    battery: Mapped[float | None] = mapped_column(Float)
    provider: Mapped[str | None] = mapped_column(String(16))
    mock: Mapped[bool] = mapped_column(Boolean, default=False)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    filter_reason: Mapped[str | None] = mapped_column(String(32))
    distance_m: Mapped[float | None] = mapped_column(Float)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))


class FieldAlert(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "field_alerts"
    __table_args__ = (Index("ix_field_alerts_collector_raised", "collector_id", "raised_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"))
    kind: Mapped[str] = mapped_column(String(32))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CollectorLocation(db.Model):  # type: ignore[name-defined,misc]
    """Each collector's latest accepted fix by fix time, kept at ingestion.

    The live view of a thousand collectors reads one row each instead of scanning positions;
    ``anchor_*`` is where the collector has been standing since ``anchor_since`` (idle time).
    """

    __tablename__ = "collector_locations"

    collector_id: Mapped[int] = mapped_column(
        ForeignKey("collectors.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    fix_time: Mapped[datetime] = mapped_column(UTCDateTime)
    server_time: Mapped[datetime] = mapped_column(UTCDateTime)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    heading: Mapped[float | None] = mapped_column(Float)
    battery: Mapped[float | None] = mapped_column(Float)
    provider: Mapped[str | None] = mapped_column(String(16))
    mock: Mapped[bool] = mapped_column(Boolean, default=False)
    zone_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    anchor_lat: Mapped[float] = mapped_column(Float)
    anchor_lon: Mapped[float] = mapped_column(Float)
    anchor_since: Mapped[datetime] = mapped_column(UTCDateTime)
