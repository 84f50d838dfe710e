"""Geocoding pending addresses through geopy, politely rate-limited (Nominatim's policy)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import current_app
from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim
from sqlalchemy import select

from server.errors import ProblemError
from server.extensions import db
from server.models import Account
from server.services import audit
from server.services.zones import assign_accounts_to_zones


def _geocoder() -> Nominatim:
    kind = current_app.config.get("GEOCODER")
    url = current_app.config.get("GEOCODER_URL")
    if kind != "nominatim" or not url:
        raise ProblemError(
            409, "Geocoder not configured", "Set GEOCODER=nominatim and GEOCODER_URL."
        )
    parsed = urlparse(url)
    return Nominatim(
        user_agent=current_app.config["GEOCODER_USER_AGENT"],
        domain=parsed.netloc + parsed.path.rstrip("/"),
        scheme=parsed.scheme or "https",
        timeout=10,
    )


def geocode_pending(limit: int = 1000, min_delay_s: float = 1.0) -> dict[str, Any]:
    """Look up coordinates for accounts still pending; one request per second by default."""
    geocoder = _geocoder()
    lookup = RateLimiter(
        geocoder.geocode, min_delay_seconds=min_delay_s, max_retries=2, swallow_exceptions=False
    )
    pending = list(
        db.session.execute(
            select(Account)
            .where(Account.geocode_status == "pending")
            .order_by(Account.id)
            .limit(limit)
        ).scalars()
    )
    done, failed = [], 0
    for account in pending:
        query = ", ".join(p for p in (account.address, account.district) if p)
        try:
            location = lookup(query, exactly_one=True) if query else None
        except GeopyError:
            location = None
        if location is None:
            account.geocode_status = "failed"
            failed += 1
            continue
        account.lat, account.lon = float(location.latitude), float(location.longitude)
        account.geocode_status = "ok"
        done.append(account.id)
    db.session.flush()
    if done:
        assign_accounts_to_zones(done)
    audit.record("geocode", "accounts", None, geocoded=len(done), failed=failed)
    db.session.commit()
    return {"geocoded": len(done), "failed": failed}
