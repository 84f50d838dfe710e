"""Live tracking: position batches from handhelds, the live map, its stream, alerts, tracks."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint, Page

from server.api.common import json_response
from server.api.tracking.schemas import (
    AlertArgsSchema,
    AlertSchema,
    GeoJSONSchema,
    IngestResultSchema,
    LiveMapSchema,
    PositionsBatchSchema,
    TrackArgsSchema,
)
from server.auth import (
    accept_query_token,
    authenticate_caller,
    authorize_device_caller,
    current_collector,
    device_credential_hash,
    require_roles,
    unknown_device_credential,
)
from server.errors import ProblemError
from server.services import tracking as tracking_service
from server.services.position_intake import open_intake

blp = Blueprint(
    "tracking", __name__, url_prefix="/api/v1", description="Live tracking and field alerts"
)


@blp.route("/tracking/positions")
class PositionsView(MethodView):
    @blp.doc(
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": PositionsBatchSchema}},
        }
    )
    @blp.response(200, IngestResultSchema)
    @blp.alt_response(422, description="Invalid batch; `errors` names positions.<index>.<field>")
    def post(self) -> Any:
        """Store a batch of fixes from the calling device; a resent batch stores nothing twice."""
        # The hot path of every handheld: the same rules as require_roles("collector"), with
        # the credential, the device, its user and its collector read in one Core statement.
        credential_hash = device_credential_hash()
        if credential_hash is None:
            authenticate_caller("collector", in_session=True)  # a user token's own refusals
            raise ProblemError(
                403, "Forbidden", "Positions are accepted from a device credential only."
            )
        with open_intake() as intake:
            device = tracking_service.device_by_credential(intake, credential_hash)
            if device is None or device.role is None:
                raise unknown_device_credential()
            authorize_device_caller(device.role, device.user_active, "collector")
            result = tracking_service.ingest_batch(intake, device, request.get_json(silent=True))
        # Encoded by orjson: the schema only documents these five counts, and dumping them
        # through it cost a tenth of a batch's CPU on the busiest endpoint.
        return json_response(result.as_dict())


@blp.route("/tracking/live")
class LiveView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.response(200, LiveMapSchema)
    @blp.alt_response(304, description="Not Modified: the features match If-None-Match")
    def get(self) -> Response:
        """Each collector's latest fix by fix time with status, progress and last sync."""
        # Encoded once; the schema documents the body (a test holds the two together). The
        # ETag covers the features: a map that reloads an unchanged view gets a 304.
        return json_response(tracking_service.live_view(), weak_etag_of="features")


@blp.route("/tracking/stream")
class StreamView(MethodView):
    @accept_query_token  # EventSource cannot send an Authorization header
    @require_roles("dispatcher", "manager")
    @blp.doc(
        responses={
            "200": {
                "description": "Server-Sent Events: `position`, `alert` and `alert_resolved`",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self) -> Response:
        """Position and alert changes as Server-Sent Events (shared through Redis if set)."""
        subscription = tracking_service.stream_hub().subscribe()
        heartbeat = float(current_app.config.get("TRACKING_SSE_HEARTBEAT_S", 15.0))
        events = tracking_service.sse_events(subscription, heartbeat_s=heartbeat)
        # The generator needs no request context: it only reads the subscription's queue.
        return Response(
            events,
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


@blp.route("/tracking/alerts")
class AlertsView(MethodView):
    @require_roles("dispatcher", "manager")
    @blp.arguments(AlertArgsSchema, location="query")
    @blp.response(200, AlertSchema(many=True))
    @blp.paginate(Page)
    def get(self, args: dict[str, Any]) -> Any:
        """Field alerts (open ones unless include_resolved), re-evaluated on every read."""
        return tracking_service.list_alerts(
            include_resolved=args["include_resolved"], collector_id=args.get("collector_id")
        )


@blp.route("/collectors/<int:collector_id>/track")
class TrackView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.arguments(TrackArgsSchema, location="query")
    @blp.response(200, GeoJSONSchema)
    @blp.doc(
        responses={
            "200": {
                "description": "GeoJSON (LineString and stop Points), or GPX 1.1 for format=gpx",
                "content": {
                    "application/json": {"schema": GeoJSONSchema},
                    "application/gpx+xml": {"schema": {"type": "string"}},
                },
            }
        }
    )
    def get(self, args: dict[str, Any], collector_id: int) -> Any:
        """A day's filtered track and its stops, as GeoJSON or GPX; collectors see their own."""
        own = current_collector()
        if own is not None and own.id != collector_id:
            raise ProblemError(404, "Not Found", "No such collector.")
        if args["format"] == "gpx":
            gpx = tracking_service.track_gpx(collector_id, args["date"])
            filename = f"track-{collector_id}-{args['date']}.gpx"
            return Response(
                gpx,
                mimetype="application/gpx+xml",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return tracking_service.track_geojson(collector_id, args["date"])
