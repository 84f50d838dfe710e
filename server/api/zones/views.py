"""Zones as GeoJSON: dispatchers draw them, everyone on staff reads them."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.zones.schemas import (
    ZoneCollectionSchema,
    ZoneFeatureSchema,
    ZoneInSchema,
    ZoneUpdateSchema,
)
from server.auth import require_roles
from server.services import zones

blp = Blueprint("zones", __name__, url_prefix="/api/v1/zones", description="Geographic zones")


@blp.route("")
class ZonesView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.response(200, ZoneCollectionSchema)
    def get(self) -> Any:
        """All zones as a GeoJSON FeatureCollection."""
        return {"features": zones.list_zones()}

    @require_roles("dispatcher")
    @blp.arguments(ZoneInSchema)
    @blp.response(201, ZoneFeatureSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a zone from a GeoJSON polygon; accounts inside it join the zone."""
        return zones.create_zone(data)


@blp.route("/<int:zone_id>")
class ZoneView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.response(200, ZoneFeatureSchema)
    def get(self, zone_id: int) -> Any:
        """One zone as a GeoJSON Feature."""
        return zones.get_zone(zone_id)

    @require_roles("dispatcher")
    @blp.arguments(ZoneUpdateSchema(partial=True))
    @blp.response(200, ZoneFeatureSchema)
    def patch(self, changes: dict[str, Any], zone_id: int) -> Any:
        """Rename, recolor or redraw a zone."""
        return zones.update_zone(zone_id, changes)

    @require_roles("dispatcher")
    @blp.response(204)
    def delete(self, zone_id: int) -> None:
        """Delete a zone; its accounts become zoneless."""
        zones.delete_zone(zone_id)
