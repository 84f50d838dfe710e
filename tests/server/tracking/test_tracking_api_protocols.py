"""/osmand (Traccar Client) and /owntracks: stock apps posting into the same pipeline."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from server.extensions import db
from server.models import Position

LAT, LON = -12.0464, -77.0428


def epoch(minutes_ago: float) -> int:
    return int((datetime.now(UTC) - timedelta(minutes=minutes_ago)).timestamp())


def rows() -> list[Position]:
    return list(db.session.execute(db.select(Position).order_by(Position.fix_time)).scalars())


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_osmand_get_query_string(client: FlaskClient, handheld: Any) -> None:
    ts = epoch(2)
    response = client.get(
        f"/osmand?id={handheld.tracking_id}&timestamp={ts}&lat={LAT}&lon={LON}"
        "&speed=2&bearing=45&altitude=150&accuracy=7&batt=64&charge=true&wifi=ok"
    )
    assert response.status_code == 200
    assert response.data == b""
    [row] = rows()
    assert row.fix_time == datetime.fromtimestamp(ts, UTC)
    assert abs((row.speed_mps or 0) - 2 * 1852 / 3600) < 1e-9
    assert (row.heading, row.altitude_m, row.accuracy_m, row.battery) == (45, 150, 7, 64)
    assert row.attributes == {"charge": True, "wifi": "ok"}
    assert row.provider == "osmand"


def test_osmand_form_post_and_location_and_milliseconds(client: FlaskClient, handheld: Any) -> None:
    form = {
        "deviceid": handheld.tracking_id,
        "location": f"{LAT},{LON}",
        "timestamp": epoch(3) * 1000,
    }
    assert client.post("/osmand", data=form).status_code == 200
    [row] = rows()
    assert (row.lat, row.lon) == (LAT, LON)
    assert row.fix_time == datetime.fromtimestamp(form["timestamp"] / 1000, UTC)


def test_osmand_post_with_query_string_and_iso_time(client: FlaskClient, handheld: Any) -> None:
    moment = (datetime.now(UTC) - timedelta(minutes=4)).replace(microsecond=0)
    stamp = f"{moment:%Y-%m-%dT%H:%M:%SZ}"
    url = f"/osmand?id={handheld.tracking_id}&lat={LAT}&lon={LON}&timestamp={stamp}"
    assert client.post(url).status_code == 200
    assert rows()[0].fix_time == moment


def test_osmand_without_timestamp_uses_arrival_time(client: FlaskClient, handheld: Any) -> None:
    before = datetime.now(UTC)
    assert client.get(f"/osmand?id={handheld.tracking_id}&lat={LAT}&lon={LON}").status_code == 200
    assert rows()[0].fix_time >= before


def test_osmand_json_body_from_traccar_client(client: FlaskClient, handheld: Any) -> None:
    moment = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    body = {
        "device_id": handheld.tracking_id,
        "location": {
            "timestamp": moment.isoformat().replace("+00:00", "Z"),
            "coords": {
                "latitude": LAT,
                "longitude": LON,
                "accuracy": 5,
                "speed": -1,
                "heading": -1,
                "altitude": 120,
            },
            "is_moving": False,
            "battery": {"level": -1, "is_charging": False},
            "activity": {"type": "still"},
        },
    }
    assert client.post("/osmand", json=body).status_code == 200
    [row] = rows()
    assert row.fix_time == moment
    assert (row.speed_mps, row.heading, row.battery) == (None, None, None)
    assert row.attributes == {"is_moving": False, "activity": "still"}


def test_osmand_values_no_database_can_store_are_refused(
    client: FlaskClient, handheld: Any
) -> None:
    """NaN coordinates and NUL characters get a 400 naming the field on every engine; an
    unknown parameter that reads as NaN is kept as the text it was."""
    base = f"/osmand?id={handheld.tracking_id}&timestamp={epoch(2)}"
    for query, field in (
        (f"&lat=nan&lon={LON}", "lat"),
        (f"&location={LAT},inf", "location"),
        (f"&lat={LAT}&lon={LON}&note=a%00b", "attributes.note"),
    ):
        refused = client.get(base + query)
        assert refused.status_code == 400, query
        assert field in refused.get_json()["errors"]
    refused = client.get(f"/osmand?id=x%00y&lat={LAT}&lon={LON}")
    assert refused.status_code == 400
    assert "id" in refused.get_json()["errors"]
    assert rows() == []
    assert client.get(base + f"&lat={LAT}&lon={LON}&odometer=nan").status_code == 200
    [row] = rows()
    assert row.attributes == {"odometer": "nan"}


def test_unknown_tracking_id_stores_nothing(client: FlaskClient, handheld: Any) -> None:
    query = client.get(f"/osmand?id=deadbeef&lat={LAT}&lon={LON}")
    assert query.status_code == 400
    assert query.mimetype == "application/problem+json"
    body = {"device_id": "deadbeef", "location": {"coords": {"latitude": LAT, "longitude": LON}}}
    assert client.post("/osmand", json=body).status_code == 404
    assert client.get(f"/osmand?lat={LAT}&lon={LON}").status_code == 400
    assert rows() == []


def test_revoked_device_is_unknown(client: FlaskClient, handheld: Any, auth_header: Any) -> None:
    client.delete(f"/api/v1/devices/{handheld.device_id}", headers=auth_header("collector01"))
    assert client.get(f"/osmand?id={handheld.tracking_id}&lat={LAT}&lon={LON}").status_code == 400


def test_unknown_id_flood_is_rate_limited_without_counting_good_requests(
    client: FlaskClient, app: Any, handheld: Any
) -> None:
    app.config["TRACKING_UNKNOWN_ID_LIMIT"] = "5 per minute"
    for _ in range(3):
        assert (
            client.get(f"/osmand?id={handheld.tracking_id}&lat={LAT}&lon={LON}").status_code == 200
        )
    statuses = [client.get(f"/osmand?id=guess{n}&lat=1&lon=2").status_code for n in range(7)]
    assert statuses == [400] * 5 + [429] * 2


def test_a_flooding_address_cannot_tell_a_hit_from_a_miss(
    client: FlaskClient, app: Any, handheld: Any
) -> None:
    """Past the limit even a right guess gets 429, so the flood learns nothing."""
    app.config["TRACKING_UNKNOWN_ID_LIMIT"] = "3 per minute"
    for n in range(3):
        assert client.get(f"/osmand?id=guess{n}&lat=1&lon=2").status_code == 400
    hit = client.get(f"/osmand?id={handheld.tracking_id}&lat={LAT}&lon={LON}")
    assert hit.status_code == 429
    assert hit.headers["Retry-After"] == "60"
    assert rows() == []


def test_owntracks_location_with_basic_credentials(client: FlaskClient, handheld: Any) -> None:
    payload = {
        "_type": "location",
        "lat": LAT,
        "lon": LON,
        "tst": epoch(2),
        "acc": 9,
        "vel": 36,
        "cog": 270,
        "alt": 140,
        "batt": 55,
        "tid": "c1",
    }
    response = client.post(
        "/owntracks",
        json=payload,
        headers={
            **basic(handheld.device_id, handheld.credential),
            "X-Limit-U": "ana",
            "X-Limit-D": "moto-g",
        },
    )
    assert response.status_code == 200
    assert response.get_json() == []
    [row] = rows()
    assert abs((row.speed_mps or 0) - 10.0) < 1e-9  # 36 km/h
    assert (row.accuracy_m, row.heading, row.altitude_m, row.battery) == (9, 270, 140, 55)
    assert row.attributes == {"tid": "c1", "x_limit_u": "ana", "x_limit_d": "moto-g"}
    assert row.provider == "owntracks"


def test_owntracks_wrong_credentials_are_refused(
    client: FlaskClient, handheld: Any, factory: Any, register_handheld: Any
) -> None:
    other = register_handheld(factory.collector("collector02"))
    payload = {"_type": "location", "lat": LAT, "lon": LON, "tst": epoch(1)}
    for headers in (
        {},
        basic(handheld.device_id, "dev_wrong"),
        basic(other.device_id, handheld.credential),  # someone else's credential
        {"Authorization": f"Bearer {handheld.credential}"},
    ):
        response = client.post("/owntracks", json=payload, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert rows() == []


def test_a_deactivated_collector_s_device_is_refused_by_both_protocols(
    client: FlaskClient, handheld: Any
) -> None:
    handheld.collector.user.active = False
    db.session.commit()
    payload = {"_type": "location", "lat": LAT, "lon": LON, "tst": epoch(1)}
    auth = basic(handheld.device_id, handheld.credential)
    assert client.post("/owntracks", json=payload, headers=auth).status_code == 401
    query = {"id": handheld.tracking_id, "lat": LAT, "lon": LON, "timestamp": epoch(1)}
    assert client.get("/osmand", query_string=query).status_code == 400
    assert rows() == []


def test_owntracks_other_message_types_are_acknowledged(client: FlaskClient, handheld: Any) -> None:
    auth = basic(handheld.device_id, handheld.credential)
    response = client.post("/owntracks", json={"_type": "lwt", "tst": epoch(1)}, headers=auth)
    assert response.get_json() == []
    bad = client.post("/owntracks", json={"_type": "location", "lat": LAT}, headers=auth)
    assert bad.status_code == 400
    assert rows() == []
