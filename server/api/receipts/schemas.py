from __future__ import annotations

from marshmallow import Schema, fields


class ReversalSchema(Schema):
    receipt_number = fields.String()
    amount = fields.Decimal(as_string=True)
    paid_at = fields.AwareDateTime()
    payment_uuid = fields.String()


class ReceiptSchema(Schema):
    receipt_number = fields.String()
    status = fields.String(metadata={"description": "valid | reversed"})
    amount = fields.Decimal(as_string=True)
    currency = fields.String()
    method = fields.String()
    reference = fields.String(allow_none=True)
    paid_at = fields.AwareDateTime()
    local_date = fields.Date()
    payment_uuid = fields.String(allow_none=True)
    visit_uuid = fields.String(allow_none=True)
    account = fields.Dict()
    collector = fields.Dict()
    reversal = fields.Nested(ReversalSchema, allow_none=True)
