"""The agency's own settings: time zone, currency, contact-hours policy, field rules."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.models.types import Money, UTCDateTime, utcnow


class AgencySettings(db.Model):  # type: ignore[name-defined,misc]
    """A single row (id 1) holding the settings an admin edits."""

    __tablename__ = "agency_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="Agencia de cobranza")
    timezone: Mapped[str] = mapped_column(String(64), default="America/Lima")
    currency: Mapped[str] = mapped_column(String(3), default="PEN")
    country_code: Mapped[str] = mapped_column(String(2), default="PE")
    # PE, MX, US or custom; custom reads contact_hours.
    contact_policy: Mapped[str] = mapped_column(String(16), default="PE")
    contact_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cash_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    verify_radius_m: Mapped[int] = mapped_column(default=150)
    cash_in_hand_limit: Mapped[Decimal] = mapped_column(Money, default=Decimal("2000.00"))
    grace_days: Mapped[int] = mapped_column(default=2)
    kept_tolerance: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal("1.00"))
    receipt_prefix: Mapped[str] = mapped_column(String(8), default="LIM")
    receipt_block_size: Mapped[int] = mapped_column(default=500)
    idle_alert_min: Mapped[int] = mapped_column(default=30)
    silent_alert_min: Mapped[int] = mapped_column(default=20)
    behind_plan_alert_min: Mapped[int] = mapped_column(default=45)
    position_retention_days: Mapped[int] = mapped_column(default=90)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
