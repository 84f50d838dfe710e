from __future__ import annotations

from marshmallow import Schema, fields, validate


class DepositSchema(Schema):
    id = fields.Integer(dump_only=True)
    collector_id = fields.Integer(dump_only=True)
    amount = fields.Decimal(required=True, as_string=True, places=None)
    currency = fields.String(validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    bank_reference = fields.String(required=True, validate=validate.Length(min=1, max=80))
    deposited_at = fields.AwareDateTime()
    created_at = fields.AwareDateTime(dump_only=True)
