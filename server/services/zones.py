"""Dispatcher-drawn zones: validated GeoJSON polygons and point-in-zone lookups."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy.exc import IntegrityError

from server.errors import ProblemError
from server.extensions import db
from server.models import Account, Zone
from server.services import audit


def parse_zone_geometry(geojson: dict[str, Any]) -> dict[str, Any]:
    """Accept a GeoJSON Polygon/MultiPolygon (or a Feature of one) in lon/lat order.

    Returns the bare geometry; raises a 422 naming what is wrong.
    """
    geometry = geojson.get("geometry") if geojson.get("type") == "Feature" else geojson
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise _invalid("A zone must be a GeoJSON Polygon or MultiPolygon.")
    try:
        geom: BaseGeometry = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise _invalid(f"Not a readable GeoJSON polygon: {exc}") from exc
    if geom.is_empty:
        raise _invalid("The polygon is empty.")
    min_x, min_y, max_x, max_y = geom.bounds
    if not (-180 <= min_x <= max_x <= 180 and -90 <= min_y <= max_y <= 90):
        raise _invalid("Coordinates are out of range; GeoJSON puts longitude first, then latitude.")
    if not geom.is_valid:
        raise _invalid(f"The polygon is not valid: {explain_validity(geom)}.")
    return dict(shapely.geometry.mapping(geom))


def _invalid(message: str) -> ProblemError:
    return ProblemError(422, "Invalid zone geometry", errors={"geometry": [message]})


def create_zone(data: dict[str, Any]) -> Zone:
    zone = Zone(
        name=data["name"],
        color=data.get("color", "#3388ff"),
        geometry=parse_zone_geometry(data["geometry"]),
    )
    db.session.add(zone)
    _flush_unique(zone.name)
    assign_accounts_to_zones()
    audit.record("create", "zone", zone.id, name=zone.name)
    db.session.commit()
    return zone


def update_zone(zone_id: int, changes: dict[str, Any]) -> Zone:
    zone = get_zone(zone_id)
    if "geometry" in changes:
        zone.geometry = parse_zone_geometry(changes.pop("geometry"))
    for key, value in changes.items():
        setattr(zone, key, value)
    _flush_unique(zone.name)
    assign_accounts_to_zones()
    audit.record("update", "zone", zone.id)
    db.session.commit()
    return zone


def delete_zone(zone_id: int) -> None:
    zone = get_zone(zone_id)
    db.session.execute(db.update(Account).where(Account.zone_id == zone_id).values(zone_id=None))
    db.session.delete(zone)
    audit.record("delete", "zone", zone_id)
    db.session.commit()


def _flush_unique(name: str) -> None:
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise ProblemError(409, "Conflict", errors={"name": [f"Zone {name!r} exists."]}) from exc


def get_zone(zone_id: int) -> Zone:
    zone = db.session.get(Zone, zone_id)
    if zone is None:
        raise ProblemError(404, "Not Found", f"Zone {zone_id} does not exist.")
    return zone


def list_zones() -> list[Zone]:
    return list(db.session.execute(db.select(Zone).order_by(Zone.id)).scalars())


class ZoneIndex:
    """Point-in-zone lookups through shapely's STRtree, built once per batch."""

    def __init__(self, zones: list[Zone]) -> None:
        self._ids = [z.id for z in zones]
        self._geoms = [shape(z.geometry) for z in zones]
        self._tree = shapely.STRtree(self._geoms) if self._geoms else None

    def zone_of(self, lat: float | None, lon: float | None) -> int | None:
        if self._tree is None or lat is None or lon is None:
            return None
        point = shapely.Point(lon, lat)
        for index in self._tree.query(point, predicate="intersects"):
            return self._ids[int(index)]
        return None


def assign_accounts_to_zones(account_ids: list[int] | None = None) -> None:
    """Set each located account's zone from the current polygons (within the caller's txn)."""
    index = ZoneIndex(list_zones())
    stmt = db.select(Account.id, Account.lat, Account.lon).where(Account.lat.is_not(None))
    if account_ids is not None:
        stmt = stmt.where(Account.id.in_(account_ids))
    updates = [
        {"id": row.id, "zone_id": index.zone_of(row.lat, row.lon)}
        for row in db.session.execute(stmt)
    ]
    if updates:
        db.session.execute(db.update(Account), updates)
