from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, fields, validate

from server.services.tracking import MAX_BATCH
from tracking import AlertKind, CollectorStatus


class FixSchema(Schema):
    """One fix from our handheld; units are in the names. Out-of-range coordinates are
    accepted here on purpose: the pipeline stores them as filtered, with the reason."""

    fix_time = fields.AwareDateTime(required=True, default_timezone=UTC)
    device_time = fields.AwareDateTime(load_default=None, default_timezone=UTC)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    accuracy_m = fields.Float(load_default=None, allow_none=True)
    speed_mps = fields.Float(load_default=None, allow_none=True)
    heading_deg = fields.Float(load_default=None, allow_none=True)
    altitude_m = fields.Float(load_default=None, allow_none=True)
    battery_pct = fields.Float(load_default=None, allow_none=True)
    provider = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=16))
    mock = fields.Boolean(load_default=False)
    attributes = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)


class PositionsBatchSchema(Schema):
    positions = fields.List(
        fields.Nested(FixSchema), required=True, validate=validate.Length(min=1, max=MAX_BATCH)
    )


class IngestResultSchema(Schema):
    received = fields.Integer()
    accepted = fields.Integer(metadata={"description": "Stored and used for live view and tracks"})
    filtered = fields.Integer(metadata={"description": "Stored with a filter reason"})
    duplicates = fields.Integer(metadata={"description": "Already stored; not stored again"})
    off_shift = fields.Integer(metadata={"description": "Outside the shift; never stored"})


class GeoJSONSchema(Schema):
    type = fields.String()
    features = fields.List(fields.Dict())
    generated_at = fields.String()


class PointSchema(Schema):
    type = fields.String(required=True, validate=validate.Equal("Point"))
    coordinates = fields.List(
        fields.Float(), required=True, metadata={"description": "[lon, lat], WGS 84"}
    )


class LivePropertiesSchema(Schema):
    """One collector on the live map; the fix fields are null before the first fix."""

    collector_id = fields.Integer(required=True)
    username = fields.String(required=True)
    code = fields.String(required=True)
    full_name = fields.String(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf([status.value for status in CollectorStatus])
    )
    idle_min = fields.Float(
        required=True, allow_none=True, metadata={"description": "Minutes idle, when idle"}
    )
    visits_done = fields.Integer(required=True)
    visits_planned = fields.Integer(required=True)
    drift_min = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Minutes behind today's ETAs (negative: ahead); null: no plan"},
    )
    alerts = fields.List(
        fields.String(validate=validate.OneOf([kind.value for kind in AlertKind])),
        required=True,
    )
    last_sync_at = fields.AwareDateTime(required=True, allow_none=True)
    fix_time = fields.AwareDateTime(
        required=True, allow_none=True, metadata={"description": "The latest fix by fix time"}
    )
    server_time = fields.AwareDateTime(required=True, allow_none=True)
    accuracy_m = fields.Float(required=True, allow_none=True)
    speed_mps = fields.Float(required=True, allow_none=True)
    heading = fields.Float(required=True, allow_none=True)
    battery = fields.Float(required=True, allow_none=True)
    mock = fields.Boolean(required=True)


class LiveFeatureSchema(Schema):
    type = fields.String(required=True, validate=validate.Equal("Feature"))
    id = fields.Integer(required=True, metadata={"description": "The collector's id"})
    geometry = fields.Nested(PointSchema, required=True, allow_none=True)
    properties = fields.Nested(LivePropertiesSchema, required=True)


class LiveMapSchema(Schema):
    """The live map as a GeoJSON FeatureCollection, one Feature per active collector."""

    type = fields.String(required=True, validate=validate.Equal("FeatureCollection"))
    generated_at = fields.AwareDateTime(required=True)
    features = fields.List(fields.Nested(LiveFeatureSchema), required=True)


class AlertArgsSchema(Schema):
    include_resolved = fields.Boolean(load_default=False)
    collector_id = fields.Integer()


class AlertSchema(Schema):
    id = fields.Integer()
    collector_id = fields.Integer()
    username = fields.String(allow_none=True)
    kind = fields.String(
        metadata={
            "description": "idle_too_long | outside_zone | behind_plan | device_silent | "
            "mock_location"
        }
    )
    detail = fields.String(allow_none=True)
    since = fields.String(allow_none=True)
    raised_at = fields.String()
    resolved_at = fields.String(allow_none=True)


class TrackArgsSchema(Schema):
    date = fields.Date(required=True)
    format = fields.String(load_default="geojson", validate=validate.OneOf(["geojson", "gpx"]))
