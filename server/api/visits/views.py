"""Visits as recorded in the field, with their promise, payments, notes and photos."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.common import SelectPage
from server.api.visits.schemas import VisitListArgsSchema, VisitSchema
from server.auth import require_roles
from server.services import syncing

blp = Blueprint("visits", __name__, url_prefix="/api/v1/visits", description="Field visits")


class VisitPage(SelectPage):
    """A page of visits with their details loaded in a few batch queries."""

    @property
    def items(self) -> list[Any]:
        return syncing.attach_visit_details(super().items)


@blp.route("")
class VisitsView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.arguments(VisitListArgsSchema, location="query")
    @blp.response(200, VisitSchema(many=True))
    @blp.paginate(VisitPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List visits between ``from`` and ``to`` (agency days), optionally for one collector."""
        return syncing.visits_query(
            {
                "from": args.get("from_"),
                "to": args.get("to"),
                "collector_id": args.get("collector_id"),
            }
        )
