from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kpi import GroupKey, parse_group_by

MAX_PERIOD_DAYS = 400


class PeriodArgsSchema(Schema):
    """A half-open period of agency-local days and the date promises are judged on."""

    from_ = fields.Date(required=True, data_key="from", metadata={"description": "First day."})
    to = fields.Date(required=True, metadata={"description": "Day after the last (half-open)."})
    as_of = fields.Date(
        metadata={"description": "Promise status is judged as of this day; default today."}
    )

    @validates_schema
    def _period(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("from_"), data.get("to")
        if start is None or end is None:
            return
        if end <= start:
            raise ValidationError("Must be after from (periods are [from, to)).", "to")
        if (end - start).days > MAX_PERIOD_DAYS:
            raise ValidationError(f"A period covers at most {MAX_PERIOD_DAYS} days.", "to")


class GroupByField(fields.String):
    """Comma-separated group keys, parsed into kpi.GroupKey values."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parse_group_by(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class ReportArgsSchema(PeriodArgsSchema):
    group_by = GroupByField(
        load_default=(),
        metadata={
            "description": "Comma-separated, combinable: " + ", ".join(k.value for k in GroupKey)
        },
    )
    format = fields.String(
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "csv streams the table (same as Accept: text/csv)."},
    )


class ReportSchema(Schema):
    model_version = fields.Integer()
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    as_of = fields.Date()
    group_by = fields.List(fields.String())
    columns = fields.List(fields.String(), metadata={"description": "Keys, then measures."})
    rows = fields.List(fields.Dict(), metadata={"description": "One object per group."})
    total = fields.Dict(metadata={"description": "Every measure over the whole period."})


class EffectivenessArgsSchema(Schema):
    start = fields.Date(required=True, metadata={"description": "Start snapshot date."})
    end = fields.Date(required=True, metadata={"description": "End snapshot date."})

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError("Must be after start.", "end")


class MovementSchema(Schema):
    accounts = fields.Integer()
    overdue_balance = fields.Decimal(as_string=True)
    share = fields.Float(allow_none=True)


class BucketEffectivenessSchema(Schema):
    bucket = fields.String()
    accounts = fields.Integer()
    overdue_balance = fields.Decimal(as_string=True)
    not_in_end_snapshot = fields.Integer()
    normalized = fields.Nested(MovementSchema)
    improved = fields.Nested(MovementSchema)
    contained = fields.Nested(MovementSchema)
    rolled = fields.Nested(MovementSchema)


class EffectivenessSchema(Schema):
    start = fields.Date()
    end = fields.Date()
    buckets = fields.List(fields.Nested(BucketEffectivenessSchema))


class ScorecardSchema(Schema):
    collector_id = fields.Integer()
    collector = fields.String()
    productivity = fields.Dict()
    effectiveness = fields.Dict()
    quality = fields.Dict()
    rank = fields.Dict(
        metadata={
            "description": "overall (by the mean of the lens ranks), per lens, and of (peers)."
        }
    )


class ScorecardsSchema(Schema):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    as_of = fields.Date()
    ranked_by = fields.Dict(metadata={"description": "The measure each lens is ranked by."})
    scorecards = fields.List(fields.Nested(ScorecardSchema))


class CashPositionSchema(Schema):
    collector_id = fields.Integer()
    collector = fields.String()
    currency = fields.String()
    collected = fields.Decimal(as_string=True)
    deposited = fields.Decimal(as_string=True)
    in_hand = fields.Decimal(as_string=True)
    oldest_undeposited_at = fields.AwareDateTime(allow_none=True)
    oldest_undeposited_age_h = fields.Float(allow_none=True)
    limit = fields.Decimal(as_string=True, allow_none=True)
    over_limit = fields.Boolean()
