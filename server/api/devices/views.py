"""Handheld registration and revocation."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.common import SelectPage
from server.api.devices.schemas import (
    DeviceCredentialsSchema,
    DeviceListArgsSchema,
    DeviceRegistrationSchema,
    DeviceSchema,
)
from server.auth import require_roles
from server.services import devices

blp = Blueprint("devices", __name__, url_prefix="/api/v1/devices", description="Handhelds")


@blp.route("")
class DevicesView(MethodView):
    @require_roles("collector", "dispatcher")
    @blp.arguments(DeviceListArgsSchema, location="query")
    @blp.response(200, DeviceSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List devices (a collector sees their own)."""
        return devices.list_devices_query(args.get("collector_id"))

    @require_roles("collector", "dispatcher")
    @blp.arguments(DeviceRegistrationSchema)
    @blp.response(201, DeviceCredentialsSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Register a handheld; answers its credential, tracking id and receipt block once."""
        return devices.register_device(data)


@blp.route("/<string:device_id>")
class DeviceView(MethodView):
    @require_roles("collector", "dispatcher")
    @blp.response(204)
    def delete(self, device_id: str) -> None:
        """Revoke a device (lost or stolen phone); its credential stops working at once."""
        devices.revoke_device(device_id)
