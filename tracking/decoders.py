"""Turn what devices send into :class:`Position` records.

Three wire formats arrive: our handheld's JSON batches, the OsmAnd protocol as Traccar speaks
it (query string, form body, or the JSON body Traccar Client posts) and OwnTracks' HTTP mode.
Decoders only translate units and names; judging a fix is the pipeline's job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tracking.position import AttributeValue, Position

KNOT_MPS = 1852.0 / 3600.0
KMH_MPS = 1000.0 / 3600.0
_SECONDS_LIMIT = 2**31 - 1
"""Traccar's rule: a numeric timestamp below Java's Integer.MAX_VALUE is seconds, above is ms."""


class DecodeError(ValueError):
    """A payload that cannot be read; ``errors`` maps a field path to what is wrong with it."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, str] = dict(errors or {})


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """A fix together with the identifier the device announced (tracking id, user/device)."""

    identifier: str
    position: Position


def parse_timestamp(value: object) -> datetime:
    """Epoch seconds, epoch milliseconds or ISO-8601 (naive means UTC), as Traccar reads them."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        raise DecodeError("timestamp is not a time", {"timestamp": "not a time"})
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        raise DecodeError("timestamp is not a time", {"timestamp": "not a time"})
    text = value.strip()
    if ":" not in text:  # float() never reads a colon: an ISO time skips the attempt
        try:
            return _from_epoch(float(text))
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise DecodeError(f"unreadable timestamp {text!r}", {"timestamp": "not a time"}) from error
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _from_epoch(number: float) -> datetime:
    if not math.isfinite(number):
        raise DecodeError("timestamp is not finite", {"timestamp": "not finite"})
    seconds = number if abs(number) < _SECONDS_LIMIT else number / 1000.0
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError) as error:
        raise DecodeError("timestamp out of range", {"timestamp": "out of range"}) from error


def _number(value: object, field: str) -> float:
    if isinstance(value, bool):
        raise DecodeError(f"{field} is not a number", {field: "not a number"})
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise DecodeError(f"{field} is not a number", {field: "not a number"})


def _coordinate(value: object, field: str) -> float:
    """A latitude or longitude: a number that is finite. NaN and infinity name no place, and
    not every database can store them, so such a fix is refused with the field named."""
    number = _number(value, field)
    if not math.isfinite(number):
        raise DecodeError(f"{field} is not a finite number", {field: "not a finite number"})
    return number


def _finite(value: float | None) -> float | None:
    """A measurement that may be signed (altitude): NaN or infinity means unknown."""
    return value if value is None or math.isfinite(value) else None


def _storable(position: Position, identifier: str | None = None) -> Position:
    """Text no database may refuse: PostgreSQL cannot store a NUL character, so a fix
    carrying one is refused here, with the field named, instead of failing at storage."""
    problems = {
        field: "holds a NUL character"
        for field, text in (("id", identifier), ("provider", position.provider))
        if text and "\x00" in text
    }
    for key, value in position.attributes.items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            problems[f"attributes.{key}"] = "holds a NUL character"
        elif isinstance(value, float) and not math.isfinite(value):
            problems[f"attributes.{key}"] = "not a finite number"
    if problems:
        raise DecodeError("fix holds values that cannot be stored", problems)
    return position


def _known(value: float | None) -> float | None:
    """Devices say "unknown" with a negative number (Android, Traccar Client); keep it absent."""
    return None if value is None or value < 0 or not math.isfinite(value) else value


def _optional_number(source: Mapping[str, object], key: str, field: str) -> float | None:
    value = source.get(key)
    return None if value is None else _finite(_number(value, field))


def _scalar_attribute(value: str) -> AttributeValue:
    """Unknown OsmAnd parameters become numbers or booleans when they look like one."""
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else value
    if value in ("true", "false"):
        return value == "true"
    return value


def _truthy(value: str) -> bool:
    return value.lower() in ("true", "1")


def decode_osmand_query(
    pairs: Iterable[tuple[str, str]], *, server_time: datetime
) -> DeviceMessage:
    """Decode the query-string (GET) or form (POST) flavour of the OsmAnd protocol.

    Speed arrives in knots here; a missing timestamp means "now", as Traccar assumes.
    """
    identifier: str | None = None
    lat: float | None = None
    lon: float | None = None
    fix_time = server_time
    fields: dict[str, float | bool | None] = {}
    attributes: dict[str, AttributeValue] = {}
    for key, value in pairs:
        if key in ("id", "deviceid"):
            identifier = value
        elif key == "timestamp":
            fix_time = parse_timestamp(value)
        elif key == "lat":
            lat = _coordinate(value, "lat")
        elif key == "lon":
            lon = _coordinate(value, "lon")
        elif key == "location":
            parts = value.split(",")
            if len(parts) != 2:
                raise DecodeError("location must be lat,lon", {"location": "must be lat,lon"})
            lat, lon = _coordinate(parts[0], "location"), _coordinate(parts[1], "location")
        elif key == "speed":
            fields["speed_mps"] = _number(value, "speed") * KNOT_MPS
        elif key in ("bearing", "heading"):
            fields["heading_deg"] = _number(value, key)
        elif key == "altitude":
            fields["altitude_m"] = _number(value, "altitude")
        elif key == "accuracy":
            fields["accuracy_m"] = _number(value, "accuracy")
        elif key == "batt":
            fields["battery_pct"] = _number(value, "batt")
        elif key == "valid":
            fields["valid"] = _truthy(value)
        elif key == "mock":
            fields["mock"] = _truthy(value)
        elif key == "charge":
            attributes["charge"] = _truthy(value)
        elif key == "driverUniqueId":
            attributes[key] = value
        else:
            attributes[key] = _scalar_attribute(value)
    if not identifier:
        raise DecodeError("missing device identifier", {"id": "required"})
    if lat is None or lon is None:
        raise DecodeError("missing coordinates", {"lat": "required", "lon": "required"})
    position = Position(
        fix_time=fix_time,
        device_time=fix_time,
        server_time=server_time,
        lat=lat,
        lon=lon,
        speed_mps=_known(_float_or_none(fields.get("speed_mps"))),
        heading_deg=_known(_float_or_none(fields.get("heading_deg"))),
        altitude_m=_finite(_float_or_none(fields.get("altitude_m"))),
        accuracy_m=_known(_float_or_none(fields.get("accuracy_m"))),
        battery_pct=_known(_float_or_none(fields.get("battery_pct"))),
        valid=bool(fields.get("valid", True)),
        mock=bool(fields.get("mock", False)),
        provider="osmand",
        attributes=attributes,
    )
    return DeviceMessage(identifier=identifier, position=_storable(position, identifier))


def _float_or_none(value: float | bool | None) -> float | None:
    return None if value is None or isinstance(value, bool) else value


def _mapping(value: object, field: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise DecodeError(f"{field} must be an object", {field: "must be an object"})
    return value


def decode_osmand_json(body: object, *, server_time: datetime) -> DeviceMessage:
    """Decode the JSON body Traccar Client posts (``device_id`` plus a ``location`` object).

    Speed is m/s here; negative speed, heading, accuracy or battery level mean "unknown".
    The battery level is a fraction (0..1) and becomes a percentage.
    """
    root = _mapping(body, "body")
    identifier = root.get("device_id")
    if not isinstance(identifier, str) or not identifier:
        raise DecodeError("missing device identifier", {"device_id": "required"})
    location = _mapping(root.get("location"), "location")
    fix_time = parse_timestamp(location["timestamp"]) if "timestamp" in location else server_time
    if "coords" not in location:
        raise DecodeError("missing coordinates", {"location.coords": "required"})
    coords = _mapping(location["coords"], "location.coords")
    if "latitude" not in coords or "longitude" not in coords:
        raise DecodeError("missing coordinates", {"location.coords": "latitude and longitude"})
    attributes: dict[str, AttributeValue] = {}
    for key in ("event", "is_moving", "odometer"):
        value = location.get(key)
        if isinstance(value, str | int | float | bool):
            attributes[key] = value
    activity = location.get("activity")
    if isinstance(activity, Mapping) and isinstance(activity.get("type"), str):
        attributes["activity"] = activity["type"]
    battery_pct: float | None = None
    battery = location.get("battery")
    if isinstance(battery, Mapping):
        level = _known(_optional_number(battery, "level", "location.battery.level"))
        battery_pct = None if level is None else level * 100.0
        if battery.get("is_charging") is True:
            attributes["charge"] = True
    extras = location.get("extras")
    alarm = location.get("alarm", extras.get("alarm") if isinstance(extras, Mapping) else None)
    if isinstance(alarm, str):
        attributes["alarm"] = alarm
    position = Position(
        fix_time=fix_time,
        device_time=fix_time,
        server_time=server_time,
        lat=_coordinate(coords["latitude"], "location.coords.latitude"),
        lon=_coordinate(coords["longitude"], "location.coords.longitude"),
        speed_mps=_known(_optional_number(coords, "speed", "location.coords.speed")),
        heading_deg=_known(_optional_number(coords, "heading", "location.coords.heading")),
        accuracy_m=_known(_optional_number(coords, "accuracy", "location.coords.accuracy")),
        altitude_m=_optional_number(coords, "altitude", "location.coords.altitude"),
        battery_pct=battery_pct,
        mock=location.get("mock") is True,
        provider="traccar-client",
        attributes=attributes,
    )
    return DeviceMessage(identifier=identifier, position=_storable(position, identifier))


_OWNTRACKS_FIELDS = frozenset(
    {"_type", "lat", "lon", "tst", "acc", "vel", "cog", "alt", "batt", "created_at"}
)


def decode_owntracks(payload: object, *, server_time: datetime) -> Position | None:
    """Decode an OwnTracks HTTP-mode message; anything but ``_type: location`` yields None.

    ``vel`` is km/h and ``tst`` epoch seconds; other scalar members (``tid``, ``t``, ``conn``,
    ``topic``...) are kept as attributes.
    """
    message = _mapping(payload, "body")
    if message.get("_type") != "location":
        return None
    for required in ("lat", "lon", "tst"):
        if required not in message:
            raise DecodeError(f"missing {required}", {required: "required"})
    fix_time = parse_timestamp(_number(message["tst"], "tst"))
    velocity = _known(_optional_number(message, "vel", "vel"))
    attributes: dict[str, AttributeValue] = {
        key: value
        for key, value in message.items()
        if key not in _OWNTRACKS_FIELDS and isinstance(value, str | int | float | bool)
    }
    position = Position(
        fix_time=fix_time,
        device_time=fix_time,
        server_time=server_time,
        lat=_coordinate(message["lat"], "lat"),
        lon=_coordinate(message["lon"], "lon"),
        accuracy_m=_known(_optional_number(message, "acc", "acc")),
        speed_mps=None if velocity is None else velocity * KMH_MPS,
        heading_deg=_known(_optional_number(message, "cog", "cog")),
        altitude_m=_optional_number(message, "alt", "alt"),
        battery_pct=_known(_optional_number(message, "batt", "batt")),
        provider="owntracks",
        attributes=attributes,
    )
    return _storable(position)


BATCH_FIELDS = frozenset(
    {
        "fix_time",
        "device_time",
        "lat",
        "lon",
        "accuracy_m",
        "speed_mps",
        "heading_deg",
        "altitude_m",
        "battery_pct",
        "provider",
        "mock",
        "attributes",
    }
)


def decode_batch(fixes: Sequence[object], *, server_time: datetime) -> list[Position]:
    """Decode our handheld's batch: every problem is reported with its index, nothing half-read."""
    positions: list[Position] = []
    errors: dict[str, str] = {}
    for index, fix in enumerate(fixes):
        try:
            positions.append(decode_fix(_mapping(fix, "fix"), server_time=server_time))
        except DecodeError as error:
            errors.update({f"{index}.{field}": reason for field, reason in error.errors.items()})
    if errors:
        raise DecodeError("invalid fixes in batch", errors)
    return positions


def decode_fix(fix: Mapping[str, object], *, server_time: datetime | None = None) -> Position:
    """One fix of our own batch format (field names carry their units)."""
    unknown = sorted(set(fix) - BATCH_FIELDS)
    if unknown:
        raise DecodeError("unknown fields", dict.fromkeys(unknown, "unknown field"))
    for required in ("fix_time", "lat", "lon"):
        if fix.get(required) is None:
            raise DecodeError(f"missing {required}", {required: "required"})
    fix_time = parse_timestamp(fix["fix_time"])
    device_time = fix.get("device_time")
    provider = fix.get("provider")
    attributes = fix.get("attributes") or {}
    if not isinstance(attributes, Mapping) or not all(
        isinstance(value, str | int | float | bool) for value in attributes.values()
    ):
        raise DecodeError("attributes must map names to scalars", {"attributes": "scalars only"})
    position = Position(
        fix_time=fix_time,
        device_time=fix_time if device_time is None else parse_timestamp(device_time),
        server_time=server_time,
        lat=_coordinate(fix["lat"], "lat"),
        lon=_coordinate(fix["lon"], "lon"),
        accuracy_m=_known(_optional_number(fix, "accuracy_m", "accuracy_m")),
        speed_mps=_known(_optional_number(fix, "speed_mps", "speed_mps")),
        heading_deg=_known(_optional_number(fix, "heading_deg", "heading_deg")),
        altitude_m=_optional_number(fix, "altitude_m", "altitude_m"),
        battery_pct=_known(_optional_number(fix, "battery_pct", "battery_pct")),
        provider=provider if isinstance(provider, str) else None,
        mock=fix.get("mock") is True,
        attributes={str(key): value for key, value in attributes.items()},
    )
    return _storable(position)
