"""Collectors: the people, their shifts, travel modes and zones."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from server.errors import ProblemError
from server.extensions import db
from server.models import Collector, Role, User, Zone
from server.services import audit


def _zones(zone_ids: list[int]) -> list[Zone]:
    zones = list(db.session.execute(db.select(Zone).where(Zone.id.in_(zone_ids))).scalars())
    missing = set(zone_ids) - {z.id for z in zones}
    if missing:
        raise ProblemError(
            422, "Unknown zones", errors={"zone_ids": [f"No zone {i}." for i in sorted(missing)]}
        )
    return zones


def create_collector(data: dict[str, Any]) -> Collector:
    user = db.session.get(User, data["user_id"])
    if user is None or user.role != Role.COLLECTOR:
        raise ProblemError(
            422, "Invalid collector", errors={"user_id": ["Must be a user with role collector."]}
        )
    zone_ids = data.pop("zone_ids", [])
    collector = Collector(**data)
    collector.zones = _zones(zone_ids)
    db.session.add(collector)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise ProblemError(
            409, "Conflict", "That user already is a collector, or the code is taken."
        ) from exc
    audit.record("create", "collector", collector.id, code=collector.code)
    db.session.commit()
    return collector


def update_collector(collector_id: int, changes: dict[str, Any]) -> Collector:
    collector = get_collector(collector_id)
    if "zone_ids" in changes:
        collector.zones = _zones(changes.pop("zone_ids"))
    for key, value in changes.items():
        setattr(collector, key, value)
    audit.record("update", "collector", collector.id)
    db.session.commit()
    return collector


def get_collector(collector_id: int) -> Collector:
    collector = db.session.get(Collector, collector_id)
    if collector is None:
        raise ProblemError(404, "Not Found", f"Collector {collector_id} does not exist.")
    return collector


def list_collectors_query(active: bool | None = None) -> Any:
    stmt = db.select(Collector).order_by(Collector.code)
    if active is not None:
        stmt = stmt.where(Collector.active == active)
    return stmt
