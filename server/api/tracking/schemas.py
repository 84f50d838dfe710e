from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, fields, validate

from server.services.tracking import MAX_BATCH


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
