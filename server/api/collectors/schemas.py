from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.fields import ClockTime, latitude, longitude

TRAVEL_MODES = ("walk", "bicycle", "motorbike", "car")


class CollectorSchema(Schema):
    id = fields.Integer(dump_only=True)
    user_id = fields.Integer(required=True)
    username = fields.Function(lambda c: c.user.username if c.user else None, dump_only=True)
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,24}$"))
    full_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    phone = fields.String(allow_none=True, validate=validate.Length(max=32))
    start_lat = latitude(required=True)
    start_lon = longitude(required=True)
    end_lat = latitude(required=True)
    end_lon = longitude(required=True)
    shift_start_min = ClockTime(data_key="shift_start", load_default=8 * 60)
    shift_end_min = ClockTime(data_key="shift_end", load_default=17 * 60)
    break_start_min = ClockTime(data_key="break_start", allow_none=True, load_default=13 * 60)
    break_end_min = ClockTime(data_key="break_end", allow_none=True, load_default=14 * 60 + 30)
    break_duration_min = fields.Integer(load_default=45, validate=validate.Range(0, 240))
    travel_mode = fields.String(load_default="motorbike", validate=validate.OneOf(TRAVEL_MODES))
    max_visits_per_day = fields.Integer(load_default=30, validate=validate.Range(1, 200))
    active = fields.Boolean(load_default=True)
    zone_ids = fields.List(fields.Integer(), load_default=list)
    zones = fields.Function(lambda c: [z.id for z in c.zones], dump_only=True)


class CollectorUpdateSchema(CollectorSchema):
    class Meta:
        exclude = ("user_id",)
        partial = True


class CollectorListArgsSchema(Schema):
    active = fields.Boolean()
