"""Stock tracking apps: the OsmAnd protocol (Traccar Client) and OwnTracks' HTTP mode.

These live outside /api/v1 because the apps dictate the URL shape and the answers: OsmAnd
expects an empty 200, OwnTracks a JSON array. The OsmAnd protocol carries no secret but the
device's tracking id, so ids are unguessable and failed identifications are rate-limited.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from flask import Response, current_app, jsonify, request
from flask_limiter.util import get_remote_address
from flask_smorest import Blueprint
from limits import RateLimitItem, parse

import tracking
from server.errors import ProblemError
from server.extensions import limiter
from server.models.types import utcnow
from server.services import tracking as tracking_service
from server.services.position_intake import open_intake

log = logging.getLogger(__name__)

blp = Blueprint(
    "device_protocols",
    __name__,
    url_prefix="",
    description="Position intake for Traccar Client (OsmAnd protocol) and OwnTracks",
)

_LIMIT_SCOPE = "tracking-unknown-id"


@functools.lru_cache(maxsize=8)
def _parsed_limit(text: str) -> RateLimitItem:
    return parse(text)


def _unknown_id_limit() -> RateLimitItem:
    return _parsed_limit(str(current_app.config.get("TRACKING_UNKNOWN_ID_LIMIT", "30 per minute")))


def _failures_seen_here() -> dict[str, float]:
    """Address -> monotonic time of its last failed identification in this process."""
    seen: dict[str, float] = current_app.extensions.setdefault("tracking_failed_ids", {})
    return seen


def _too_many(retry_after_s: int) -> ProblemError:
    return ProblemError(
        429,
        "Too Many Requests",
        "Too many failed identifications; wait before trying again.",
        headers={"Retry-After": str(retry_after_s)},
    )


def _refuse_identification(error: ProblemError) -> ProblemError:
    """Count a failed identification (unknown id, bad credentials, unreadable fix) against
    the caller's address; past the limit the answer is 429 instead of ``error``.

    Only failures count, so a flood of guessed ids is throttled and real devices are not.
    """
    if not limiter.enabled:
        return error
    item, address, now = _unknown_id_limit(), get_remote_address(), time.monotonic()
    seen = _failures_seen_here()
    if len(seen) > 10_000:  # forget only marks older than a period: they no longer matter
        for stale in [key for key, at in seen.items() if now - at > item.get_expiry()]:
            del seen[stale]
    seen[address] = now
    try:
        if limiter.limiter.hit(item, _LIMIT_SCOPE, address):
            return error
    except Exception:  # the counter's storage is down: answer as if unlimited
        log.warning("tracking: rate-limit storage unavailable", exc_info=True)
        return error
    return _too_many(item.get_expiry())


def _check_failure_limit() -> None:
    """Refuse an address that is over the failure limit, before any work for it.

    The shared counter is read only when this process saw the address fail within one
    limit period, so a real device costs no round trip to the limiter's storage. A flood
    still cannot learn which guess hit: every failed guess marks its address here, so at
    most one guess per process and period skips the check.
    """
    if not limiter.enabled:
        return
    item, address = _unknown_id_limit(), get_remote_address()
    failed_at = _failures_seen_here().get(address)
    if failed_at is None or time.monotonic() - failed_at > item.get_expiry():
        return
    try:
        allowed = limiter.limiter.test(item, _LIMIT_SCOPE, address)
    except Exception:  # the counter's storage is down: never refuse a device for that
        log.warning("tracking: rate-limit storage unavailable", exc_info=True)
        return
    if not allowed:
        raise _too_many(item.get_expiry())


def _osmand_message() -> tracking.DeviceMessage:
    now = utcnow()
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if body is None:
            raise ProblemError(400, "Bad Request", "The body is not JSON.")
        return tracking.decode_osmand_json(body, server_time=now)
    pairs: list[tuple[str, str]] = list(request.args.items(multi=True))
    if not pairs:
        # Traccar reads the body as a query string when the URL has none (form POST).
        pairs = parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
    return tracking.decode_osmand_query(pairs, server_time=now)


@blp.route("/osmand", methods=["GET", "POST"])
@blp.doc(
    security=[],
    responses={
        "200": {"description": "Stored, filtered or discarded by privacy rules: acknowledged"},
        "400": {"description": "Unreadable fix, or unknown id in the query/form flavour"},
        "404": {"description": "Unknown device_id in the JSON flavour"},
        "429": {"description": "Too many failed identifications from this address"},
    },
)
@limiter.exempt  # counts its failures itself (see _refuse_identification)
def osmand() -> Response:
    """OsmAnd protocol as Traccar speaks it: `id`/`deviceid` is the device's tracking id."""
    _check_failure_limit()
    json_flavour = request.mimetype == "application/json"
    try:
        message = _osmand_message()
    except tracking.DecodeError as error:
        raise _refuse_identification(
            ProblemError(400, "Bad Request", str(error), errors=error.errors)
        ) from error
    with open_intake() as intake:
        device = tracking_service.device_by_tracking_id(intake, message.identifier)
        if device is None:
            status = 404 if json_flavour else 400
            raise _refuse_identification(
                ProblemError(status, "Unknown device", "No device has this tracking id.")
            )
        position = message.position
        tracking_service.ingest_positions(intake, device, [position], now=position.server_time)
    return Response(status=200)


@blp.route("/owntracks", methods=["POST"])
@blp.doc(
    security=[],
    responses={
        "200": {"description": "A JSON array (OwnTracks expects one; ours is empty)"},
        "401": {
            "description": "HTTP Basic missing or wrong: user = device id, password = "
            "the device credential"
        },
    },
)
@limiter.exempt  # counts its failures itself (see _refuse_identification)
def owntracks() -> Response:
    """OwnTracks HTTP mode; Basic user = device id, password = the device credential."""
    _check_failure_limit()
    auth = request.authorization
    with open_intake() as intake:
        device = (
            tracking_service.device_by_basic_auth(intake, auth.username or "", auth.password or "")
            if auth is not None and auth.type == "basic"
            else None
        )
        if device is None:
            raise _refuse_identification(
                ProblemError(
                    401,
                    "Unauthorized",
                    "Use the device id as user name and the device credential as password.",
                    headers={"WWW-Authenticate": 'Basic realm="owntracks"'},
                )
            )
        payload = request.get_json(silent=True)
        try:
            position = tracking.decode_owntracks(payload, server_time=utcnow())
        except tracking.DecodeError as error:
            raise _refuse_identification(
                ProblemError(400, "Bad Request", str(error), errors=error.errors)
            ) from error
        if position is not None:
            extra: dict[str, Any] = {
                name: request.headers[header]
                for name, header in (("x_limit_u", "X-Limit-U"), ("x_limit_d", "X-Limit-D"))
                if header in request.headers
            }
            if extra:
                position = _with_attributes(position, extra)
            tracking_service.ingest_positions(intake, device, [position], now=position.server_time)
    return jsonify([])


def _with_attributes(position: tracking.Position, extra: dict[str, Any]) -> tracking.Position:
    """OwnTracks names its user and device in headers; keep them beside the fix."""
    return dataclasses.replace(position, attributes={**position.attributes, **extra})
