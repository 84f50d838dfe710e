"""Offline-first sync for handhelds: push captures exactly once, pull the day."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.sync.schemas import PullArgsSchema, PullSchema, PushResultSchema, PushSchema
from server.auth import current_device, require_roles
from server.errors import ProblemError
from server.models import Device
from server.services import syncing

blp = Blueprint("sync", __name__, url_prefix="/api/v1/sync", description="Handheld sync")


def _device() -> Device:
    device = current_device()
    if device is None:
        raise ProblemError(403, "Forbidden", "Sync needs a device credential, not a user token.")
    return device


@blp.route("/push")
class PushView(MethodView):
    @require_roles("collector")
    @blp.arguments(PushSchema)
    @blp.response(200, PushResultSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Apply queued mutations in order, each exactly once; retries answer stored results."""
        return syncing.apply_mutations(_device(), body)


@blp.route("/pull")
class PullView(MethodView):
    @require_roles("collector")
    @blp.arguments(PullArgsSchema, location="query")
    @blp.response(200, PullSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """What changed in today's route and accounts since the cursor, one page at a time."""
        return syncing.pull_changes(_device(), args.get("cursor"), args["limit"])
