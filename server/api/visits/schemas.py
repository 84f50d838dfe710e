from __future__ import annotations

from marshmallow import Schema, fields


class VisitListArgsSchema(Schema):
    from_ = fields.Date(data_key="from", load_default=None, metadata={"description": "first day"})
    to = fields.Date(load_default=None, metadata={"description": "day after the last"})
    collector_id = fields.Integer(load_default=None)


class InstallmentSchema(Schema):
    seq = fields.Integer()
    due_date = fields.Date()
    amount = fields.Decimal(as_string=True)


class PromiseSchema(Schema):
    client_uuid = fields.String(allow_none=True)
    amount = fields.Decimal(as_string=True)
    currency = fields.String()
    first_due_date = fields.Date()
    last_due_date = fields.Date()
    installments = fields.List(fields.Nested(InstallmentSchema))


class PaymentSchema(Schema):
    client_uuid = fields.String(allow_none=True)
    amount = fields.Decimal(as_string=True)
    currency = fields.String()
    method = fields.String()
    receipt_number = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    paid_at = fields.AwareDateTime()


class NoteSchema(Schema):
    client_uuid = fields.String(allow_none=True)
    text = fields.String()
    created_at = fields.AwareDateTime()


class PhotoSchema(Schema):
    client_uuid = fields.String(allow_none=True)
    sha256 = fields.String()
    size_bytes = fields.Integer()
    mime = fields.String()
    kind = fields.String()
    taken_at = fields.AwareDateTime(allow_none=True)
    arrived = fields.Boolean(metadata={"description": "whether the bytes have been uploaded"})
    geo_status = fields.String(
        allow_none=True,
        metadata={
            "description": "EXIF GPS vs the account's location: verified, far_from_address, "
            "no_fix or no_address; null until the bytes arrive"
        },
    )
    geo_distance_m = fields.Float(allow_none=True)


class VisitSchema(Schema):
    id = fields.Integer()
    client_uuid = fields.String()
    account_id = fields.Integer()
    collector_id = fields.Integer()
    device_id = fields.String(allow_none=True)
    disposition = fields.String(allow_none=True)
    checked_in_at = fields.AwareDateTime(metadata={"description": "corrected time"})
    checked_out_at = fields.AwareDateTime(allow_none=True)
    device_time = fields.AwareDateTime(allow_none=True)
    received_at = fields.AwareDateTime()
    local_date = fields.Date()
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    distance_m = fields.Float(allow_none=True)
    geo_status = fields.String()
    flags = fields.List(fields.String())
    promise = fields.Nested(PromiseSchema, allow_none=True)
    payments = fields.List(fields.Nested(PaymentSchema))
    notes = fields.List(fields.Nested(NoteSchema))
    photos = fields.List(fields.Nested(PhotoSchema))
