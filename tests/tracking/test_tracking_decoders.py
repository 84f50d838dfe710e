"""Every wire form a device may use, decoded into the same Position."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest

from tracking import (
    DecodeError,
    decode_batch,
    decode_osmand_json,
    decode_osmand_query,
    decode_owntracks,
    parse_timestamp,
)

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
FIX = datetime(2026, 11, 27, 14, 59, 30, tzinfo=UTC)
EPOCH_S = int(FIX.timestamp())


def query(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True)


def test_osmand_get_query_string_with_all_fields() -> None:
    message = decode_osmand_query(
        query(
            f"id=abc123&timestamp={EPOCH_S}&lat=-12.0464&lon=-77.0428&speed=10"
            "&bearing=90.5&altitude=154&accuracy=8&batt=76&hdop=0.9&wifi=off&charge=true"
        ),
        server_time=NOW,
    )
    position = message.position
    assert message.identifier == "abc123"
    assert position.fix_time == FIX
    assert (position.lat, position.lon) == (-12.0464, -77.0428)
    assert position.speed_mps == pytest.approx(10 * 1852 / 3600)  # knots on this wire
    assert position.heading_deg == 90.5
    assert position.altitude_m == 154
    assert position.accuracy_m == 8
    assert position.battery_pct == 76
    assert position.attributes == {"hdop": 0.9, "wifi": "off", "charge": True}


def test_osmand_form_post_body_decodes_like_the_query() -> None:
    body = "deviceid=abc123&lat=-12.1&lon=-77.0&heading=180&timestamp=" + str(EPOCH_S)
    message = decode_osmand_query(query(body), server_time=NOW)
    assert message.identifier == "abc123"
    assert message.position.heading_deg == 180
    assert message.position.fix_time == FIX


def test_osmand_location_parameter_gives_lat_and_lon() -> None:
    message = decode_osmand_query(query("id=x&location=-12.05,-77.03"), server_time=NOW)
    assert (message.position.lat, message.position.lon) == (-12.05, -77.03)


def test_osmand_without_timestamp_uses_server_time() -> None:
    message = decode_osmand_query(query("id=x&lat=1&lon=2"), server_time=NOW)
    assert message.position.fix_time == NOW


@pytest.mark.parametrize(
    "timestamp",
    [str(EPOCH_S), str(EPOCH_S * 1000), "2026-11-27T14:59:30Z", "2026-11-27T09:59:30-05:00"],
    ids=["seconds", "milliseconds", "iso-utc", "iso-offset"],
)
def test_osmand_timestamp_forms_agree(timestamp: str) -> None:
    message = decode_osmand_query(
        query(f"id=x&lat=1&lon=2&timestamp={timestamp}".replace("+", "%2B")), server_time=NOW
    )
    assert message.position.fix_time == FIX


def test_osmand_space_separated_timestamp_is_utc() -> None:
    message = decode_osmand_query(
        [("id", "x"), ("lat", "1"), ("lon", "2"), ("timestamp", "2026-11-27 14:59:30")],
        server_time=NOW,
    )
    assert message.position.fix_time == FIX


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("lat=1&lon=2", "id"),
        ("id=x&lat=1", "lat"),
        ("id=x&location=1", "location"),
        ("id=x&lat=north&lon=2", "lat"),
        ("id=x&lat=1&lon=2&timestamp=yesterday", "timestamp"),
    ],
)
def test_osmand_unreadable_requests_name_the_field(text: str, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_osmand_query(query(text), server_time=NOW)
    assert field in caught.value.errors


def test_osmand_valid_false_and_mock_flags() -> None:
    message = decode_osmand_query(query("id=x&lat=1&lon=2&valid=false&mock=1"), server_time=NOW)
    assert message.position.valid is False
    assert message.position.mock is True


TRACCAR_CLIENT_BODY = {
    "location": {
        "timestamp": "2026-11-27T14:59:30.000Z",
        "coords": {
            "latitude": -12.0464,
            "longitude": -77.0428,
            "accuracy": 4.5,
            "speed": 1.4,
            "heading": 270,
            "altitude": 150.2,
        },
        "is_moving": True,
        "odometer": 1234,
        "event": "motionchange",
        "battery": {"level": 0.62, "is_charging": True},
        "activity": {"type": "walking"},
    },
    "device_id": "abc123",
}


def test_osmand_json_body_from_traccar_client() -> None:
    message = decode_osmand_json(TRACCAR_CLIENT_BODY, server_time=NOW)
    position = message.position
    assert message.identifier == "abc123"
    assert position.fix_time == FIX
    assert position.speed_mps == 1.4  # m/s on this wire
    assert position.heading_deg == 270
    assert position.accuracy_m == 4.5
    assert position.altitude_m == 150.2
    assert position.battery_pct == pytest.approx(62)
    assert position.attributes == {
        "event": "motionchange",
        "is_moving": True,
        "odometer": 1234,
        "activity": "walking",
        "charge": True,
    }


def test_osmand_json_negative_means_unknown() -> None:
    body = {
        "device_id": "abc123",
        "location": {
            "timestamp": "2026-11-27T14:59:30Z",
            "coords": {"latitude": 1, "longitude": 2, "speed": -1, "heading": -1, "accuracy": 5},
            "battery": {"level": -1, "is_charging": False},
            "mock": True,
        },
    }
    position = decode_osmand_json(body, server_time=NOW).position
    assert position.speed_mps is None
    assert position.heading_deg is None
    assert position.battery_pct is None
    assert "charge" not in position.attributes
    assert position.mock is True


def test_osmand_json_millisecond_timestamp() -> None:
    body = {
        "device_id": "d",
        "location": {"timestamp": EPOCH_S * 1000, "coords": {"latitude": 1, "longitude": 2}},
    }
    assert decode_osmand_json(body, server_time=NOW).position.fix_time == FIX


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"location": {"coords": {"latitude": 1, "longitude": 2}}}, "device_id"),
        ({"device_id": "d", "location": {"timestamp": "2026-11-27T14:59:30Z"}}, "location.coords"),
        ({"device_id": "d", "location": "here"}, "location"),
        ([1, 2], "body"),
    ],
)
def test_osmand_json_refuses_incomplete_bodies(body: object, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_osmand_json(body, server_time=NOW)
    assert field in caught.value.errors


def test_owntracks_location_payload() -> None:
    payload = {
        "_type": "location",
        "lat": -12.0464,
        "lon": -77.0428,
        "tst": EPOCH_S,
        "acc": 12,
        "vel": 18,
        "cog": 45,
        "alt": 160,
        "batt": 81,
        "tid": "c1",
        "t": "u",
        "conn": "m",
    }
    position = decode_owntracks(payload, server_time=NOW)
    assert position is not None
    assert position.fix_time == FIX
    assert position.speed_mps == pytest.approx(5.0)  # 18 km/h
    assert (position.accuracy_m, position.heading_deg, position.altitude_m) == (12, 45, 160)
    assert position.battery_pct == 81
    assert position.attributes == {"tid": "c1", "t": "u", "conn": "m"}


def test_owntracks_other_message_types_carry_no_position() -> None:
    assert decode_owntracks({"_type": "transition", "event": "enter"}, server_time=NOW) is None


def test_owntracks_without_tst_is_refused() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_owntracks({"_type": "location", "lat": 1, "lon": 2}, server_time=NOW)
    assert "tst" in caught.value.errors


def test_batch_decodes_every_fix_and_reports_errors_with_index() -> None:
    fixes: list[dict[str, object]] = [
        {"fix_time": "2026-11-27T14:59:30Z", "lat": -12.0, "lon": -77.0, "mock": True},
        {"fix_time": EPOCH_S * 1000, "lat": -12.1, "lon": -77.1, "speed_mps": -1},
    ]
    positions = decode_batch(fixes, server_time=NOW)
    assert [p.fix_time for p in positions] == [FIX, FIX]
    assert positions[0].mock is True
    assert positions[1].speed_mps is None
    with pytest.raises(DecodeError) as caught:
        decode_batch(
            [fixes[0], {"lat": 1, "lon": 2}, {**fixes[0], "colour": "red"}], server_time=NOW
        )
    assert caught.value.errors == {"1.fix_time": "required", "2.colour": "unknown field"}


def test_parse_timestamp_rejects_non_times() -> None:
    for value in (True, None, "", math.inf):
        with pytest.raises(DecodeError):
            parse_timestamp(value)


COORDS = {"latitude": -12.0, "longitude": -77.0}


@pytest.mark.parametrize(
    ("decode", "field"),
    [
        (lambda: decode_osmand_query(query("id=a&lat=nan&lon=1"), server_time=NOW), "lat"),
        (
            lambda: decode_osmand_json(
                {"device_id": "a", "location": {"coords": {**COORDS, "longitude": math.inf}}},
                server_time=NOW,
            ),
            "location.coords.longitude",
        ),
        (
            lambda: decode_owntracks(
                {"_type": "location", "lat": "NaN", "lon": 1, "tst": EPOCH_S}, server_time=NOW
            ),
            "lat",
        ),
        (
            lambda: decode_batch([{"fix_time": EPOCH_S, "lat": 1, "lon": "-inf"}], server_time=NOW),
            "0.lon",
        ),
        (lambda: decode_osmand_query(query("id=a%00&lat=1&lon=1"), server_time=NOW), "id"),
        (
            lambda: decode_owntracks(
                {"_type": "location", "lat": 1, "lon": 1, "tst": EPOCH_S, "tid": "x\x00"},
                server_time=NOW,
            ),
            "attributes.tid",
        ),
        (
            lambda: decode_batch(
                [{"fix_time": EPOCH_S, "lat": 1, "lon": 1, "attributes": {"k": math.nan}}],
                server_time=NOW,
            ),
            "0.attributes.k",
        ),
    ],
)
def test_values_no_database_can_store_are_refused_by_name(
    decode: Callable[[], object], field: str
) -> None:
    with pytest.raises(DecodeError) as error:
        decode()
    assert field in error.value.errors


def test_measurements_that_are_not_finite_are_unknown() -> None:
    message = decode_osmand_query(
        query("id=a&lat=1&lon=1&altitude=inf&odometer=nan"), server_time=NOW
    )
    assert message.position.altitude_m is None
    assert message.position.attributes == {"odometer": "nan"}
    [fix] = decode_batch(
        [{"fix_time": EPOCH_S, "lat": 1, "lon": 1, "altitude_m": "NaN", "accuracy_m": "inf"}],
        server_time=NOW,
    )
    assert (fix.altitude_m, fix.accuracy_m) == (None, None)
