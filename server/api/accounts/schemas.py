from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.fields import latitude, longitude
from server.services.accounts import BUCKETS

IMPORT_BODY_DOC = {
    "description": (
        "The file, as multipart/form-data field `file`, or as the raw body with "
        "Content-Type text/csv, application/json or the .xlsx type. Headers in Spanish or "
        "English (see README, 'Import files')."
    ),
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}
        },
    },
}


class AccountSchema(Schema):
    id = fields.Integer()
    portfolio_id = fields.Integer()
    external_id = fields.String()
    debtor_name = fields.String()
    national_id = fields.String(allow_none=True)
    phones = fields.List(fields.String())
    address = fields.String()
    district = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    geocode_status = fields.String()
    currency = fields.String()
    balance = fields.Decimal(as_string=True)
    overdue_balance = fields.Decimal(as_string=True)
    days_past_due = fields.Integer()
    risk_score = fields.Float(allow_none=True)
    segment = fields.String(allow_none=True)
    preferred_windows = fields.List(fields.Dict())
    negotiation_options = fields.Dict(allow_none=True)
    zone_id = fields.Integer(allow_none=True)
    updated_at = fields.AwareDateTime()


class AccountUpdateSchema(Schema):
    phones = fields.List(fields.String(validate=validate.Length(min=3, max=32)))
    address = fields.String(validate=validate.Length(max=255))
    district = fields.String(allow_none=True, validate=validate.Length(max=80))
    lat = latitude(allow_none=True)
    lon = longitude(allow_none=True)
    segment = fields.String(allow_none=True, validate=validate.Length(max=40))
    preferred_windows = fields.List(fields.Dict())
    negotiation_options = fields.Dict(allow_none=True)
    active = fields.Boolean()


class AccountListArgsSchema(Schema):
    portfolio = fields.String()
    zone_id = fields.Integer()
    segment = fields.String()
    district = fields.String()
    geocode_status = fields.String(validate=validate.OneOf(["ok", "pending", "failed", "manual"]))
    bucket = fields.String(validate=validate.OneOf(list(BUCKETS)))
    min_days_past_due = fields.Integer(validate=validate.Range(0))
    external_id = fields.String()


class ImportArgsSchema(Schema):
    portfolio = fields.String(load_default="default", validate=validate.Regexp(r"^[\w.-]{1,40}$"))
    as_of = fields.Date(metadata={"description": "Snapshot date; default: today (agency time)"})
    mode = fields.String(load_default="partial", validate=validate.OneOf(["partial", "strict"]))


class PaymentImportArgsSchema(Schema):
    portfolio = fields.String(load_default="default", validate=validate.Regexp(r"^[\w.-]{1,40}$"))
    mode = fields.String(load_default="partial", validate=validate.OneOf(["partial", "strict"]))


class RowErrorSchema(Schema):
    line = fields.Integer()
    field = fields.String()
    reason = fields.String()


class ImportReportSchema(Schema):
    import_id = fields.Integer(allow_none=True)
    kind = fields.String()
    format = fields.String()
    mode = fields.String()
    as_of = fields.String()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    rejected = fields.Integer()
    duplicates_of_field_payments = fields.Integer()
    committed = fields.Boolean()
    unknown_columns = fields.List(fields.String())
    errors = fields.List(fields.Nested(RowErrorSchema))
