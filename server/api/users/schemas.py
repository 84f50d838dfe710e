from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.models import Role

ROLES = [r.value for r in Role]


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    username = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9_.-]{3,64}$", error="3-64 of a-z, 0-9, _ . -"),
    )
    full_name = fields.String(load_default="", validate=validate.Length(max=120))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    active = fields.Boolean(load_default=True)
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=8))
    created_at = fields.AwareDateTime(dump_only=True)
    last_login_at = fields.AwareDateTime(dump_only=True, allow_none=True)


class UserUpdateSchema(Schema):
    full_name = fields.String(validate=validate.Length(max=120))
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    password = fields.String(load_only=True, validate=validate.Length(min=8))
