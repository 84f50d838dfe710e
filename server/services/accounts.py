"""Reading accounts; a collector sees only the accounts assigned to them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select

from server.auth import current_collector
from server.errors import ProblemError
from server.extensions import db
from server.models import Account, Assignment, Portfolio
from server.services import audit
from server.services.zones import assign_accounts_to_zones

BUCKETS = {
    "current": (0, 0),
    "1-30": (1, 30),
    "31-60": (31, 60),
    "61-90": (61, 90),
    "91-120": (91, 120),
    "121+": (121, None),
}


def _visible(stmt: Any) -> Any:
    collector = current_collector()
    if collector is None:
        return stmt
    assigned = exists().where(
        Assignment.account_id == Account.id,
        Assignment.collector_id == collector.id,
        Assignment.status != "removed",
    )
    return stmt.where(assigned)


def list_accounts_query(filters: dict[str, Any]) -> Any:
    stmt = select(Account).order_by(Account.id)
    if "portfolio" in filters:
        stmt = stmt.join(Portfolio).where(Portfolio.code == filters["portfolio"])
    for name in ("zone_id", "segment", "district", "geocode_status"):
        if name in filters:
            stmt = stmt.where(getattr(Account, name) == filters[name])
    if "bucket" in filters:
        low, high = BUCKETS[filters["bucket"]]
        stmt = stmt.where(Account.days_past_due >= low)
        if high is not None:
            stmt = stmt.where(Account.days_past_due <= high)
    if "min_days_past_due" in filters:
        stmt = stmt.where(Account.days_past_due >= filters["min_days_past_due"])
    if "external_id" in filters:
        stmt = stmt.where(Account.external_id == filters["external_id"])
    return _visible(stmt)


def get_account(account_id: int) -> Account:
    """One account; someone else's account answers 404 so its existence does not leak."""
    account = db.session.execute(
        _visible(select(Account).where(Account.id == account_id))
    ).scalar_one_or_none()
    if account is None:
        raise ProblemError(404, "Not Found", f"Account {account_id} does not exist.")
    return account


def update_account(account_id: int, changes: dict[str, Any]) -> Account:
    """A dispatcher's correction: a placed pin, a new phone, visit windows, what may be offered."""
    account = get_account(account_id)
    if ("lat" in changes) != ("lon" in changes):
        raise ProblemError(422, "Invalid location", errors={"lat": ["Send lat and lon together."]})
    for key, value in changes.items():
        setattr(account, key, value)
    if "lat" in changes:
        account.geocode_status = "manual" if changes["lat"] is not None else "pending"
        db.session.flush()
        assign_accounts_to_zones([account.id])
    audit.record("update", "account", account.id, fields=sorted(changes))
    db.session.commit()
    return account
