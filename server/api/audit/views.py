"""The audit log, readable by admins."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.audit.schemas import AuditEntrySchema
from server.api.common import SelectPage
from server.auth import require_roles
from server.services import audit

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="Audit log")


@blp.route("")
class AuditView(MethodView):
    decorators = [require_roles("admin")]

    @blp.response(200, AuditEntrySchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List audit entries, newest first."""
        return audit.list_entries_query()
