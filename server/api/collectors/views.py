"""Collectors: admins manage them; dispatchers and managers read them."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.collectors.schemas import (
    CollectorListArgsSchema,
    CollectorSchema,
    CollectorUpdateSchema,
)
from server.api.common import SelectPage
from server.auth import require_roles
from server.services import collectors

blp = Blueprint(
    "collectors", __name__, url_prefix="/api/v1/collectors", description="Field collectors"
)


@blp.route("")
class CollectorsView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.arguments(CollectorListArgsSchema, location="query")
    @blp.response(200, CollectorSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List collectors."""
        return collectors.list_collectors_query(args.get("active"))

    @require_roles("admin")
    @blp.arguments(CollectorSchema)
    @blp.response(201, CollectorSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a collector for an existing user with role collector."""
        return collectors.create_collector(data)


@blp.route("/<int:collector_id>")
class CollectorView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.response(200, CollectorSchema)
    def get(self, collector_id: int) -> Any:
        """Read a collector."""
        return collectors.get_collector(collector_id)

    @require_roles("admin")
    @blp.arguments(CollectorUpdateSchema(partial=True))
    @blp.response(200, CollectorSchema)
    def patch(self, changes: dict[str, Any], collector_id: int) -> Any:
        """Change a collector's shift, locations, travel mode, limits or zones."""
        return collectors.update_collector(collector_id, changes)
