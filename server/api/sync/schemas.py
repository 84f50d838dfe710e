from __future__ import annotations

from marshmallow import Schema, fields, validate


class PushSchema(Schema):
    device_id = fields.String(required=True)
    device_time = fields.String(
        load_default=None,
        metadata={"description": "The device clock when it sent the push (ISO-8601 with offset)"},
    )
    mutations = fields.List(
        fields.Dict(),
        required=True,
        metadata={
            "description": "Mutations {id, name, args, client_time}; ids are a per-device "
            "counter 1, 2, 3... without gaps"
        },
    )


class MutationResultSchema(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"description": "applied | rejected | conflict"})
    http_status = fields.Integer(
        metadata={"description": "200 applied, 422 rejected, 409 conflict"}
    )
    replayed = fields.Boolean(metadata={"description": "the stored result of an earlier push"})
    reason = fields.String()
    result = fields.Dict(allow_none=True)


class PushResultSchema(Schema):
    device_id = fields.String()
    last_applied_id = fields.Integer()
    expected_id = fields.Integer(
        allow_none=True, metadata={"description": "set when a gap stopped processing"}
    )
    server_time = fields.AwareDateTime()
    clock_offset_s = fields.Float(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    results = fields.List(fields.Nested(MutationResultSchema))


class PullArgsSchema(Schema):
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class PullSchema(Schema):
    cursor = fields.String()
    has_more = fields.Boolean()
    full_resend = fields.Boolean()
    cursor_status = fields.String()
    server_time = fields.AwareDateTime()
    last_mutation_id = fields.Integer()
    route = fields.Dict()
    stops = fields.List(fields.Dict())
    accounts = fields.List(fields.Dict())
    removed = fields.List(fields.Dict())
    dispositions = fields.List(fields.Dict())
    agency = fields.Dict()
    collector = fields.Dict()
    receipt_block = fields.Dict(allow_none=True)
