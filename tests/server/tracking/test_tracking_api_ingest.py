"""POST /api/v1/tracking/positions: batches from our handheld through the pipeline."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from flask.testing import FlaskClient

from server.extensions import db
from server.models import CollectorLocation, Position

URL = "/api/v1/tracking/positions"
LAT, LON = -12.0464, -77.0428


def at(minutes_ago: float, north_m: float = 0.0, **extra: Any) -> dict[str, Any]:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "fix_time": moment.isoformat(),
        "lat": LAT + north_m / 111_195.08,
        "lon": LON,
        "accuracy_m": 6.0,
        **extra,
    }


def positions() -> list[Position]:
    return list(db.session.execute(db.select(Position).order_by(Position.fix_time)).scalars())


def test_batch_is_stored_with_three_times_and_counts(client: FlaskClient, handheld: Any) -> None:
    batch = [at(10 - m, north_m=30 * m, battery_pct=88, speed_mps=0.5) for m in range(10)]
    response = client.post(URL, json={"positions": batch}, headers=handheld.bearer)
    assert response.status_code == 200
    assert response.get_json() == {
        "received": 10,
        "accepted": 10,
        "filtered": 0,
        "duplicates": 0,
        "off_shift": 0,
    }
    rows = positions()
    assert len(rows) == 10
    assert all(r.device_id == handheld.device_id for r in rows)
    assert all(r.server_time >= r.fix_time for r in rows)
    assert rows[0].device_time == rows[0].fix_time
    assert rows[1].distance_m is not None and abs(rows[1].distance_m - 30) < 0.01
    assert rows[0].local_date == rows[0].fix_time.astimezone(ZoneInfo("America/Lima")).date()


def test_resent_and_shuffled_batches_store_nothing_twice(
    client: FlaskClient, handheld: Any
) -> None:
    batch = [at(30 - m, north_m=20 * m) for m in range(30)]
    first = client.post(URL, json={"positions": batch}, headers=handheld.bearer).get_json()
    shuffled = batch[:]
    random.Random(3).shuffle(shuffled)
    again = client.post(URL, json={"positions": shuffled}, headers=handheld.bearer).get_json()
    overlap = client.post(
        URL, json={"positions": [*batch[25:], at(0.5, north_m=700)]}, headers=handheld.bearer
    ).get_json()
    assert first["accepted"] == 30
    assert again == {"received": 30, "accepted": 0, "filtered": 0, "duplicates": 30, "off_shift": 0}
    assert (overlap["accepted"], overlap["duplicates"]) == (1, 5)
    assert len(positions()) == 31


def test_filtered_fix_is_stored_with_reason_and_left_out_of_live_and_track(
    client: FlaskClient, handheld: Any, auth_header: Any, staff: Any
) -> None:
    batch = [
        at(5),
        at(4, accuracy_m=250.0),
        at(3, lat=0.0, lon=0.0),
        at(2, lat=95.0),
        at(1, north_m=40_000),  # 40 km in a minute
        at(-60),  # an hour in the future
    ]
    result = client.post(URL, json={"positions": batch}, headers=handheld.bearer).get_json()
    assert (result["accepted"], result["filtered"]) == (1, 5)
    reasons = sorted(r.filter_reason or "-" for r in positions())
    assert reasons == ["-", "accuracy", "future", "invalid", "speed_jump", "zero"]
    live = client.get("/api/v1/tracking/live", headers=auth_header("dispatcher")).get_json()
    [feature] = live["features"]
    assert feature["geometry"]["coordinates"] == [LON, LAT]
    # The Lima day of the one kept fix (just after midnight, yesterday's).
    day = datetime.fromisoformat(batch[0]["fix_time"]).astimezone(ZoneInfo("America/Lima")).date()
    track = client.get(
        f"/api/v1/collectors/{handheld.collector.id}/track?date={day}",
        headers=auth_header("dispatcher"),
    ).get_json()
    assert len(track["features"][0]["geometry"]["coordinates"]) == 1


def test_latest_is_by_fix_time_not_arrival(
    client: FlaskClient, handheld: Any, auth_header: Any, staff: Any
) -> None:
    client.post(URL, json={"positions": [at(1, north_m=500)]}, headers=handheld.bearer)
    late_old = at(40, north_m=0)
    response = client.post(URL, json={"positions": [late_old]}, headers=handheld.bearer)
    assert response.get_json()["accepted"] == 1
    location = db.session.get(CollectorLocation, handheld.collector.id)
    assert location is not None
    assert abs(location.lat - (LAT + 500 / 111_195.08)) < 1e-9
    live = client.get("/api/v1/tracking/live", headers=auth_header("manager")).get_json()
    assert live["features"][0]["properties"]["fix_time"] == location.fix_time.isoformat()


def test_fixes_outside_the_shift_are_never_stored(
    client: FlaskClient, factory: Any, register_handheld: Any
) -> None:
    collector = factory.collector("collector07", shift_start_min=8 * 60, shift_end_min=17 * 60)
    phone = register_handheld(collector)
    lima = ZoneInfo("America/Lima")
    yesterday = datetime.now(lima).date() - timedelta(days=1)

    def local(day: date, hh: int, mm: int) -> str:
        return datetime.combine(day, time(hh, mm), tzinfo=lima).astimezone(UTC).isoformat()

    batch = [
        {"fix_time": local(yesterday, 7, 59), "lat": LAT, "lon": LON},
        {"fix_time": local(yesterday, 8, 0), "lat": LAT, "lon": LON},
        {"fix_time": local(yesterday, 16, 59), "lat": LAT, "lon": LON},
        {"fix_time": local(yesterday, 17, 0), "lat": LAT, "lon": LON},
        {"fix_time": local(yesterday, 23, 30), "lat": LAT, "lon": LON},
    ]
    result = client.post(URL, json={"positions": batch}, headers=phone.bearer).get_json()
    assert (result["accepted"], result["off_shift"]) == (2, 3)
    stored = sorted(p.fix_time.astimezone(lima).strftime("%H:%M") for p in positions())
    assert stored == ["08:00", "16:59"]


def test_a_shift_edit_applies_to_the_next_fix(
    client: FlaskClient, factory: Any, register_handheld: Any, auth_header: Any, staff: Any
) -> None:
    """The shift is read with the device on every request, never from a stale copy."""
    collector = factory.collector("collector07", shift_start_min=8 * 60, shift_end_min=17 * 60)
    phone = register_handheld(collector)
    lima = ZoneInfo("America/Lima")
    yesterday = datetime.now(lima).date() - timedelta(days=1)

    def fix(hh: int, mm: int) -> dict[str, Any]:
        moment = datetime.combine(yesterday, time(hh, mm), tzinfo=lima).astimezone(UTC)
        return {"fix_time": moment.isoformat(), "lat": LAT, "lon": LON}

    first = client.post(URL, json={"positions": [fix(18, 0)]}, headers=phone.bearer).get_json()
    assert first["off_shift"] == 1
    edited = client.patch(
        f"/api/v1/collectors/{collector.id}",
        headers=auth_header("admin"),
        json={"shift_end": "19:00"},
    )
    assert edited.status_code == 200, edited.get_json()
    second = client.post(URL, json={"positions": [fix(18, 1)]}, headers=phone.bearer).get_json()
    assert (second["accepted"], second["off_shift"]) == (1, 0)


def test_only_device_credentials_may_post(
    client: FlaskClient, handheld: Any, auth_header: Any, staff: Any
) -> None:
    body = {"positions": [at(1)]}
    assert client.post(URL, json=body).status_code == 401
    as_user = client.post(URL, json=body, headers=auth_header("collector01"))
    assert as_user.status_code == 403
    assert as_user.mimetype == "application/problem+json"
    assert client.post(URL, json=body, headers=auth_header("dispatcher")).status_code == 403
    client.delete(f"/api/v1/devices/{handheld.device_id}", headers=auth_header("collector01"))
    revoked = client.post(URL, json=body, headers=handheld.bearer)
    assert revoked.status_code == 401
    assert revoked.mimetype == "application/problem+json"
    assert positions() == []


def test_a_deactivated_collector_s_device_may_not_post(client: FlaskClient, handheld: Any) -> None:
    handheld.collector.user.active = False
    db.session.commit()
    refused = client.post(URL, json={"positions": [at(1)]}, headers=handheld.bearer)
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "The device's collector is not active."
    assert positions() == []


def test_malformed_batches_are_problem_details(client: FlaskClient, handheld: Any) -> None:
    bodies: list[dict[str, Any]] = [
        {"positions": []},
        {"positions": [{"lat": 1, "lon": 2}]},
        {"positions": [{**at(1), "colour": "red"}]},
        {"positions": [{**at(1), "attributes": {"nested": {"no": 1}}}]},
        {"fixes": [at(1)]},
    ]
    for body in bodies:
        response = client.post(URL, json=body, headers=handheld.bearer)
        assert response.status_code == 422, body
        assert response.mimetype == "application/problem+json"
    assert positions() == []


def test_negative_unknowns_in_our_batch_are_absent(client: FlaskClient, handheld: Any) -> None:
    batch = [at(1, speed_mps=-1, heading_deg=-1, battery_pct=-1, mock=True)]
    client.post(URL, json={"positions": batch}, headers=handheld.bearer)
    [row] = positions()
    assert (row.speed_mps, row.heading, row.battery, row.mock) == (None, None, None, True)


def test_values_no_database_can_store_are_refused_with_their_field(
    client: FlaskClient, handheld: Any
) -> None:
    """A coordinate that is not a finite number names no place and a NUL character fits in
    no PostgreSQL text: refused with the field named (never a 500), whatever the engine;
    an altitude that is not finite is unknown."""
    refusals = {
        "positions.0.lat": at(3, lat="NaN"),
        "positions.0.lon": at(3, lon="-Infinity"),
        "positions.0.provider": at(3, provider="gps\x00"),
        "positions.0.attributes.note": at(3, attributes={"note": "a\x00b"}),
    }
    for field, fix in refusals.items():
        refused = client.post(URL, json={"positions": [fix]}, headers=handheld.bearer)
        assert refused.status_code == 422, refused.get_json()
        assert field in refused.get_json()["errors"]
    assert positions() == []
    kept = [at(2, altitude_m="inf", attributes={"odometer": "NaN"})]
    response = client.post(URL, json={"positions": kept}, headers=handheld.bearer)
    assert response.get_json()["accepted"] == 1
    [row] = positions()
    assert (row.altitude_m, row.attributes) == (None, {"odometer": "NaN"})


def test_on_postgresql_the_intake_survives_a_lost_connection_and_returns_pooled_ones_clean(
    client: FlaskClient, handheld: Any
) -> None:
    """The intake drives psycopg itself in autocommit: a connection the server lost answers
    503 (retry) and the pool's other dead connections go with it, as SQLAlchemy does on a
    disconnect; the connections it returns to the pool are transactional again."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the PostgreSQL intake only")
    assert client.post(URL, json={"positions": [at(3)]}, headers=handheld.bearer).status_code == 200
    db.session.remove()  # every connection back in the pool, as between requests
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    lost = client.post(URL, json={"positions": [at(2)]}, headers=handheld.bearer)
    assert lost.status_code == 503
    assert lost.headers["Retry-After"]
    again = client.post(URL, json={"positions": [at(2)]}, headers=handheld.bearer)
    assert again.status_code == 200
    assert again.get_json()["accepted"] == 1
    pooled = [db.engine.connect() for _ in range(db.engine.pool.checkedin())]
    try:
        assert not any(c.connection.driver_connection.autocommit for c in pooled)
    finally:
        for connection in pooled:
            connection.close()
