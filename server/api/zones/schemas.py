from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate


class ZoneInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    color = fields.String(load_default="#3388ff", validate=validate.Regexp(r"^#[0-9a-fA-F]{6}$"))
    geometry = fields.Dict(required=True, metadata={"description": "GeoJSON Polygon (lon, lat)"})


class ZoneUpdateSchema(ZoneInSchema):
    class Meta:
        partial = True


class ZoneFeatureSchema(Schema):
    """A zone as a GeoJSON Feature."""

    type = fields.Constant("Feature")
    id = fields.Integer()
    geometry = fields.Dict()
    properties = fields.Method("_properties")

    def _properties(self, zone: Any) -> dict[str, Any]:
        return {"id": zone.id, "name": zone.name, "color": zone.color}


class ZoneCollectionSchema(Schema):
    type = fields.Constant("FeatureCollection")
    features = fields.List(fields.Nested(ZoneFeatureSchema))
