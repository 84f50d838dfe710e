from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.services.settings import CONTACT_POLICIES


class ContactHoursSchema(Schema):
    """Custom legal contact hours: allowed weekdays (0 = Monday) and a daily window."""

    weekdays = fields.List(fields.Integer(validate=validate.Range(0, 6)), required=True)
    start = fields.String(required=True, validate=validate.Regexp(r"^\d\d:\d\d$"))
    end = fields.String(required=True, validate=validate.Regexp(r"^\d\d:\d\d$"))
    exclude_holidays = fields.Boolean(load_default=True)


class AgencySettingsSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"))
    country_code = fields.String(validate=validate.Regexp(r"^[A-Z]{2}$"))
    contact_policy = fields.String(validate=validate.OneOf(CONTACT_POLICIES))
    contact_hours = fields.Nested(ContactHoursSchema, allow_none=True)
    cash_allowed = fields.Boolean()
    verify_radius_m = fields.Integer(validate=validate.Range(10, 5000))
    cash_in_hand_limit = fields.Decimal(as_string=True, places=2, validate=validate.Range(0))
    grace_days = fields.Integer(validate=validate.Range(0, 30))
    kept_tolerance = fields.Decimal(as_string=True, places=2, validate=validate.Range(0, 1))
    receipt_prefix = fields.String(validate=validate.Regexp(r"^[A-Z0-9]{1,8}$"))
    receipt_block_size = fields.Integer(validate=validate.Range(10, 100000))
    idle_alert_min = fields.Integer(validate=validate.Range(1, 1440))
    silent_alert_min = fields.Integer(validate=validate.Range(1, 1440))
    behind_plan_alert_min = fields.Integer(validate=validate.Range(1, 1440))
    position_retention_days = fields.Integer(validate=validate.Range(1, 3650))
    updated_at = fields.AwareDateTime(dump_only=True)
