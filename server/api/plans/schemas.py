from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate


class PlanCreateSchema(Schema):
    """Which day, which collectors, which accounts and how long to think."""

    date = fields.Date(required=True)
    collector_ids = fields.List(fields.Integer(), load_default=None)
    zone_id = fields.Integer(load_default=None)
    segment = fields.String(load_default=None, validate=validate.Length(max=40))
    account_ids = fields.List(fields.Integer(), load_default=None)
    top = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=20000),
        metadata={"description": "Plan the top N of the priority ranking (must-visits always)."},
    )
    time_limit_s = fields.Float(load_default=10.0, validate=validate.Range(min=0.5, max=600))
    respect_zones = fields.Boolean(load_default=True)
    locks = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        load_default=None,
        metadata={"description": "account id -> collector id that must take it"},
    )


class PlanListArgsSchema(Schema):
    date = fields.Date(load_default=None)


class CandidateArgsSchema(Schema):
    date = fields.Date(required=True)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=5000))
    zone_id = fields.Integer(load_default=None)
    segment = fields.String(load_default=None)


class ReasonSchema(Schema):
    factor = fields.String()
    multiplier = fields.Float()
    detail = fields.String()


class CandidateSchema(Schema):
    rank = fields.Integer()
    account_id = fields.Integer()
    external_id = fields.String()
    debtor_name = fields.String()
    district = fields.String(allow_none=True)
    value = fields.Float()
    required = fields.Boolean()
    required_because = fields.String(allow_none=True)
    why = fields.String()
    reasons = fields.List(fields.Nested(ReasonSchema))


class StopChangeSchema(Schema):
    collector_id = fields.Integer(load_default=None)
    position = fields.Integer(load_default=None, validate=validate.Range(min=1))
    locked = fields.Boolean()
    unassign = fields.Boolean(load_default=False)


class ReplanSchema(Schema):
    at = fields.AwareDateTime(load_default=None, metadata={"description": "default: now"})
    time_limit_s = fields.Float(load_default=10.0, validate=validate.Range(min=0.5, max=600))


class PlanSchema(Schema):
    """A plan: the job's state and, once done, routes, ETAs, totals and unassigned visits."""

    id = fields.Integer()
    date = fields.Date()
    status = fields.String(metadata={"description": "queued | running | done | failed | published"})
    progress = fields.Float(metadata={"description": "percent of the time budget used"})
    best_value = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    replan_of_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    summary = fields.Method("_summary")
    routes = fields.Method("_routes")
    unassigned = fields.Method("_unassigned")

    def _summary(self, plan: Any) -> Any:
        return (plan.result or {}).get("summary")

    def _routes(self, plan: Any) -> Any:
        return (plan.result or {}).get("routes", [])

    def _unassigned(self, plan: Any) -> Any:
        return (plan.result or {}).get("unassigned", [])


class PlanBriefSchema(Schema):
    id = fields.Integer()
    date = fields.Date()
    status = fields.String()
    progress = fields.Float()
    best_value = fields.Float(allow_none=True)
    replan_of_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
