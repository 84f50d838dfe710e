"""Route plans: dispatchers plan, edit and publish; managers read."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, Page

from server.api.plans.schemas import (
    CandidateArgsSchema,
    CandidateSchema,
    PlanBriefSchema,
    PlanCreateSchema,
    PlanListArgsSchema,
    PlanSchema,
    ReplanSchema,
    StopChangeSchema,
)
from server.auth import require_roles
from server.services import planning

blp = Blueprint("plans", __name__, url_prefix="/api/v1/plans", description="Route plans")


@blp.route("")
class PlansView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.arguments(PlanListArgsSchema, location="query")
    @blp.response(200, PlanBriefSchema(many=True))
    @blp.paginate(Page)
    def get(self, args: dict[str, Any]) -> Any:
        """The latest plans, optionally of one day."""
        return planning.list_plans(args.get("date"))

    @require_roles("dispatcher")
    @blp.arguments(PlanCreateSchema)
    @blp.response(202, PlanSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Start a planning job; poll the plan for progress and the result."""
        return planning.submit_plan(data)


@blp.route("/candidates")
class CandidatesView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.arguments(CandidateArgsSchema, location="query")
    @blp.response(200, CandidateSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """The priority ranking for a day: why each visit, why its rank."""
        return planning.candidates(args["date"], args)


@blp.route("/<int:plan_id>")
class PlanView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.response(200, PlanSchema)
    def get(self, plan_id: int) -> Any:
        """A plan: progress while running; routes, ETAs, totals and unassigned when done."""
        return planning.get_plan(plan_id)


@blp.route("/<int:plan_id>/stops/<int:account_id>")
class StopView(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(StopChangeSchema)
    @blp.response(200, PlanSchema)
    def patch(self, changes: dict[str, Any], plan_id: int, account_id: int) -> Any:
        """Move a stop to a collector or position, lock or unassign it; re-evaluates the plan."""
        return planning.update_stop(plan_id, account_id, changes)


@blp.route("/<int:plan_id>/publish")
class PublishView(MethodView):
    @require_roles("dispatcher")
    @blp.response(200, PlanSchema)
    def post(self, plan_id: int) -> Any:
        """Publish the routes as the day's assignments (devices pull them on sync)."""
        return planning.publish_plan(plan_id)


@blp.route("/<int:plan_id>/replan")
class ReplanView(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(ReplanSchema)
    @blp.response(202, PlanSchema)
    def post(self, data: dict[str, Any], plan_id: int) -> Any:
        """Re-plan the rest of the day from the collectors' last positions (a new plan job)."""
        return planning.replan(plan_id, data.get("at"), data["time_limit_s"])


@blp.route("/<int:plan_id>/geojson")
class GeoJsonView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.response(200)
    def get(self, plan_id: int) -> Any:
        """Routes and stops as a GeoJSON FeatureCollection."""
        return planning.plan_geojson(plan_id)
