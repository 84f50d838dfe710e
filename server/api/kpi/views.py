"""Field productivity reports on the shared KPI model (kpi-model.md)."""

from __future__ import annotations

from typing import Any

from flask import Response, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.kpi.schemas import (
    CashPositionSchema,
    EffectivenessArgsSchema,
    EffectivenessSchema,
    ReportArgsSchema,
    ReportSchema,
    ScorecardsSchema,
)
from server.auth import require_roles
from server.services import cash, reporting

blp = Blueprint(
    "kpi", __name__, url_prefix="/api/v1/kpi", description="Field KPIs: model, reports, scorecards"
)

_CSV_DOC = {
    "responses": {
        "200": {
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "description": "row_type, group keys, then the measures; last row is total.",
                }
            }
        }
    }
}


def _wants_csv(args: dict[str, Any]) -> bool:
    if args.get("format"):
        return bool(args["format"] == "csv")
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv"


@blp.route("/model")
class ModelView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.response(200)
    def get(self) -> Any:
        """The KPI model: version, dispositions, funnel, promise rules, measures, groups."""
        return reporting.kpi_model()


@blp.route("/report")
class ReportView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.arguments(ReportArgsSchema, location="query")
    @blp.response(200, ReportSchema)
    @blp.doc(**_CSV_DOC)
    def get(self, args: dict[str, Any]) -> Any:
        """Every measure per group plus a total row; JSON, or CSV streamed.

        A collector sees only their own rows.
        """
        if _wants_csv(args):
            lines = reporting.report_csv_stream(args)
            return Response(
                stream_with_context(lines),
                mimetype="text/csv",
                headers={"Content-Disposition": 'attachment; filename="kpi-report.csv"'},
            )
        return reporting.report_document(args)


@blp.route("/effectiveness")
class EffectivenessView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.arguments(EffectivenessArgsSchema, location="query")
    @blp.response(200, EffectivenessSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Normalized / improved / contained / rolled per starting bucket, from two snapshots."""
        return reporting.effectiveness_document(args)


@blp.route("/scorecards")
class ScorecardsView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.arguments(ReportArgsSchema(only=("from_", "to", "as_of")), location="query")
    @blp.response(200, ScorecardsSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Productivity, effectiveness, quality and rank per collector; a collector gets theirs."""
        return reporting.scorecards_document(args)


@blp.route("/cash")
class CashView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.response(200, CashPositionSchema(many=True))
    def get(self) -> Any:
        """Cash in hand of every collector, per currency (checks the alert limit)."""
        return cash.cash_report()
