"""Field collectors and the geographic zones they work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.types import UTCDateTime, utcnow

collector_zones = Table(
    "collector_zones",
    db.metadata,
    Column("collector_id", ForeignKey("collectors.id", ondelete="CASCADE"), primary_key=True),
    Column("zone_id", ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True),
)


class Zone(db.Model):  # type: ignore[name-defined,misc]
    """A dispatcher-drawn territory; `geometry` is a GeoJSON Polygon/MultiPolygon (lon, lat)."""

    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    color: Mapped[str] = mapped_column(String(9), default="#3388ff")
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Collector(db.Model):  # type: ignore[name-defined,misc]
    """A person who visits debtors; shift and break are minutes from local midnight."""

    __tablename__ = "collectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(32))
    start_lat: Mapped[float] = mapped_column(Float)
    start_lon: Mapped[float] = mapped_column(Float)
    end_lat: Mapped[float] = mapped_column(Float)
    end_lon: Mapped[float] = mapped_column(Float)
    shift_start_min: Mapped[int] = mapped_column(default=8 * 60)
    shift_end_min: Mapped[int] = mapped_column(default=17 * 60)
    break_start_min: Mapped[int | None] = mapped_column(default=13 * 60)
    break_end_min: Mapped[int | None] = mapped_column(default=14 * 60 + 30)
    break_duration_min: Mapped[int] = mapped_column(default=45)
    travel_mode: Mapped[str] = mapped_column(String(16), default="motorbike")
    max_visits_per_day: Mapped[int] = mapped_column(default=30)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user = relationship("User", lazy="joined")
    zones: Mapped[list[Zone]] = relationship(secondary=collector_zones, lazy="selectin")
