"""The agency's settings row and the time-zone helpers every service uses."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

from server.errors import ProblemError
from server.extensions import db
from server.models import AgencySettings
from server.services import audit

CONTACT_POLICIES = ("PE", "MX", "US", "custom")


def get_settings() -> AgencySettings:
    """The single settings row, created from the environment's defaults on first use."""
    settings = db.session.get(AgencySettings, 1)
    if settings is None:
        settings = AgencySettings(id=1, timezone=current_app.config["AGENCY_TIMEZONE"])
        db.session.add(settings)
        db.session.flush()
    return settings


def agency_tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def local_date_of(moment: datetime, tz: ZoneInfo | None = None) -> date:
    """The agency-local calendar day of an instant (what reports group by)."""
    return moment.astimezone(tz or agency_tz()).date()


def local_midnight_utc(day: date, tz: ZoneInfo | None = None) -> datetime:
    """The UTC instant at which a local day starts."""
    return datetime.combine(day, time(0), tzinfo=tz or agency_tz()).astimezone(UTC)


def update_settings(changes: dict[str, Any]) -> AgencySettings:
    """Apply an admin's changes after validating time zone and policy."""
    if "timezone" in changes:
        try:
            ZoneInfo(changes["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ProblemError(
                422, "Invalid settings", errors={"timezone": ["Unknown time zone."]}
            ) from exc
    if changes.get("contact_policy") == "custom" and not (
        changes.get("contact_hours") or get_settings().contact_hours
    ):
        raise ProblemError(
            422,
            "Invalid settings",
            errors={"contact_hours": ["A custom policy needs contact_hours."]},
        )
    settings = get_settings()
    for key, value in changes.items():
        setattr(settings, key, value)
    audit.record("update", "agency_settings", 1, fields=sorted(changes))
    db.session.commit()
    return settings
