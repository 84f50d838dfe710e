from __future__ import annotations

from marshmallow import Schema, fields, validate


class DeviceRegistrationSchema(Schema):
    name = fields.String(load_default="", validate=validate.Length(max=80))
    platform = fields.String(load_default="", validate=validate.Length(max=40))
    collector_id = fields.Integer(
        metadata={"description": "Required when a dispatcher or admin registers the device"}
    )


class ReceiptBlockSchema(Schema):
    prefix = fields.String()
    start = fields.Integer()
    end = fields.Integer()


class DeviceCredentialsSchema(Schema):
    device_id = fields.String()
    collector_id = fields.Integer()
    credential = fields.String(
        metadata={"description": "Bearer token for this device; shown only once"}
    )
    tracking_id = fields.String(
        metadata={"description": "Identifier for OsmAnd-protocol apps such as Traccar Client"}
    )
    receipt_block = fields.Nested(ReceiptBlockSchema)
    created_at = fields.AwareDateTime()


class DeviceSchema(Schema):
    id = fields.String()
    collector_id = fields.Integer()
    name = fields.String()
    platform = fields.String()
    last_mutation_id = fields.Integer()
    last_sync_at = fields.AwareDateTime(allow_none=True)
    last_seen_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    revoked_at = fields.AwareDateTime(allow_none=True)


class DeviceListArgsSchema(Schema):
    collector_id = fields.Integer()
