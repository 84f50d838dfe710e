"""The agency's settings: read by every role, changed by admins."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.settings.schemas import AgencySettingsSchema
from server.auth import require_roles
from server.services import settings

blp = Blueprint("settings", __name__, url_prefix="/api/v1/settings", description="Agency settings")


@blp.route("")
class SettingsView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.response(200, AgencySettingsSchema)
    def get(self) -> Any:
        """Read the agency's settings."""
        return settings.get_settings()

    @require_roles("admin")
    @blp.arguments(AgencySettingsSchema)
    @blp.response(200, AgencySettingsSchema)
    def patch(self, changes: dict[str, Any]) -> Any:
        """Change the agency's settings."""
        return settings.update_settings(changes)
