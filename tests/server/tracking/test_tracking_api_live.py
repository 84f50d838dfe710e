"""Live view, alerts, track history, retention and the tracking commands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import gpxpy
import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.api.tracking.schemas import LiveMapSchema
from server.extensions import db
from server.models import Device, FieldAlert, Position, Visit, Zone

URL = "/api/v1/tracking/positions"
LAT, LON = -12.0464, -77.0428
M_PER_DEG = 111_195.08
LIMA = ZoneInfo("America/Lima")


def at(
    minutes_ago: float, north_m: float = 0.0, end: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    moment = (end or datetime.now(UTC)) - timedelta(minutes=minutes_ago)
    return {"fix_time": moment.isoformat(), "lat": LAT + north_m / M_PER_DEG, "lon": LON, **extra}


def same_day_end(span_min: float) -> datetime:
    """A moment no later than now whose last ``span_min`` minutes fall on one Lima day: now,
    or just after Lima midnight the end of yesterday, so a track test passes at any hour."""
    now = datetime.now(UTC)
    local = now.astimezone(LIMA)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if local - midnight >= timedelta(minutes=span_min):
        return now
    return (midnight - timedelta(seconds=1)).astimezone(UTC)


def today() -> str:
    return datetime.now(LIMA).date().isoformat()


def test_live_geojson_status_progress_and_last_sync(
    client: FlaskClient, handheld: Any, factory: Any, auth_header: Any, staff: Any
) -> None:
    now = datetime.now(UTC)
    collector = handheld.collector
    door = factory.account(lat=LAT + 30 / M_PER_DEG, lon=LON)
    later = factory.account(lat=LAT + 900 / M_PER_DEG, lon=LON)
    day = datetime.now(LIMA).date()
    factory.assign(door, collector, day, sequence=1, eta=now - timedelta(minutes=5))
    factory.assign(later, collector, day, sequence=2, eta=now + timedelta(hours=1))
    synced = now - timedelta(minutes=3)
    device = db.session.get(Device, handheld.device_id)
    assert device is not None
    device.last_sync_at = synced
    db.session.commit()
    client.post(URL, json={"positions": [at(2, speed_mps=0.0)]}, headers=handheld.bearer)
    quiet = factory.collector("collector02", shift_start_min=0, shift_end_min=24 * 60)

    live = client.get("/api/v1/tracking/live", headers=auth_header("dispatcher")).get_json()
    assert live["type"] == "FeatureCollection"
    by_id = {f["properties"]["collector_id"]: f for f in live["features"]}
    mine = by_id[collector.id]
    assert mine["geometry"] == {"type": "Point", "coordinates": [LON, LAT]}
    props = mine["properties"]
    assert props["username"] == "collector01"
    assert props["status"] == "at_visit"  # 30 m from the first planned door, standing
    assert (props["visits_done"], props["visits_planned"]) == (0, 2)
    assert props["drift_min"] == 5
    assert props["last_sync_at"] == synced.isoformat()
    assert by_id[quiet.id]["geometry"] is None
    assert by_id[quiet.id]["properties"]["status"] == "no_signal"


def test_live_progress_shows_a_visit_done_and_a_plan_change_on_the_next_call(
    client: FlaskClient, handheld: Any, factory: Any, auth_header: Any, staff: Any
) -> None:
    """Progress is kept between calls for the whole team; it must not lag the database."""
    now = datetime.now(UTC)
    collector = handheld.collector
    day = datetime.now(LIMA).date()
    first = factory.assign(factory.account(), collector, day, eta=now - timedelta(minutes=10))
    second = factory.assign(factory.account(), collector, day, eta=now + timedelta(hours=1))

    def progress() -> tuple[int, int, int]:
        live = client.get("/api/v1/tracking/live", headers=auth_header("dispatcher")).get_json()
        (props,) = [
            f["properties"]
            for f in live["features"]
            if f["properties"]["collector_id"] == collector.id
        ]
        return props["visits_done"], props["visits_planned"], props["drift_min"]

    assert progress() == (0, 2, 10)  # the first stop is 10 min overdue
    assert progress() == (0, 2, 10)
    db.session.add(
        Visit(
            client_uuid=str(uuid.uuid4()),
            account_id=first.account_id,
            collector_id=collector.id,
            assignment_id=first.id,
            checked_in_at=now - timedelta(minutes=5),
            local_date=day,
        )
    )
    db.session.commit()
    assert progress() == (1, 2, 5)  # done 5 min after its ETA
    second.status = "removed"  # reassigned away
    db.session.commit()
    assert progress() == (1, 1, 5)
    factory.assign(factory.account(), collector, day, eta=now - timedelta(minutes=20))
    assert progress() == (1, 2, 20)


def test_live_body_is_what_its_openapi_schema_documents(
    client: FlaskClient, handheld: Any, factory: Any, auth_header: Any, staff: Any
) -> None:
    """The view sends the body as built, so the schema only documents it: keep them equal."""
    factory.collector("collector02")  # no fix yet: the fix fields are null
    client.post(URL, json={"positions": [at(1, speed_mps=1.0)]}, headers=handheld.bearer)
    live = client.get("/api/v1/tracking/live", headers=auth_header("dispatcher")).get_json()
    assert len(live["features"]) == 2
    # Every field required and none unknown: a field added or dropped on one side fails.
    LiveMapSchema().load(live)
    spec = client.get("/api/v1/openapi.json").get_json()
    content = spec["paths"]["/api/v1/tracking/live"]["get"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/LiveMap"}


def test_live_answers_not_modified_while_its_features_stay_the_same(
    client: FlaskClient, handheld: Any, auth_header: Any, staff: Any
) -> None:
    headers = auth_header("dispatcher")
    first = client.get("/api/v1/tracking/live", headers=headers)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and first.headers["Cache-Control"] == "no-cache"
    again = client.get("/api/v1/tracking/live", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    client.post(URL, json={"positions": [at(0.5)]}, headers=handheld.bearer)
    moved = client.get("/api/v1/tracking/live", headers={**headers, "If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["ETag"] != etag
    assert moved.get_json()["features"][0]["geometry"] is not None


def test_live_is_for_staff_only(client: FlaskClient, handheld: Any, auth_header: Any) -> None:
    assert (
        client.get("/api/v1/tracking/live", headers=auth_header("collector01")).status_code == 403
    )
    assert client.get("/api/v1/tracking/live").status_code == 401


def test_alerts_mock_location_outside_zone_and_silent(
    client: FlaskClient, all_day: Any, register_handheld: Any, auth_header: Any, staff: Any
) -> None:
    square = [
        [-77.05, -12.05],
        [-77.04, -12.05],
        [-77.04, -12.04],
        [-77.05, -12.04],
        [-77.05, -12.05],
    ]
    zone = Zone(name="Cercado", geometry={"type": "Polygon", "coordinates": [square]})
    db.session.add(zone)
    db.session.commit()
    inside = register_handheld(all_day("collector01", zones=[zone]))
    outside = register_handheld(all_day("collector02", zones=[zone]))
    silent = register_handheld(all_day("collector03"))
    client.post(URL, json={"positions": [at(1, mock=True)]}, headers=inside.bearer)
    client.post(URL, json={"positions": [at(1, north_m=5_000)]}, headers=outside.bearer)
    client.post(URL, json={"positions": [at(25)]}, headers=silent.bearer)

    alerts = client.get("/api/v1/tracking/alerts", headers=auth_header("manager")).get_json()
    kinds = {(a["username"], a["kind"]) for a in alerts}
    assert kinds == {
        ("collector01", "mock_location"),
        ("collector02", "outside_zone"),
        ("collector03", "device_silent"),
    }
    again = client.get("/api/v1/tracking/alerts", headers=auth_header("manager")).get_json()
    assert sorted(a["id"] for a in again) == sorted(a["id"] for a in alerts)  # not raised twice

    client.post(URL, json={"positions": [at(0.5)]}, headers=silent.bearer)
    open_now = client.get("/api/v1/tracking/alerts", headers=auth_header("manager")).get_json()
    assert ("collector03", "device_silent") not in {(a["username"], a["kind"]) for a in open_now}
    history = client.get(
        "/api/v1/tracking/alerts?include_resolved=true", headers=auth_header("manager")
    ).get_json()
    resolved = [a for a in history if a["resolved_at"] is not None]
    assert [(a["username"], a["kind"]) for a in resolved] == [("collector03", "device_silent")]
    assert db.session.execute(db.select(db.func.count(FieldAlert.id))).scalar_one() == 3


def test_track_geojson_and_gpx_with_stops_and_distance(
    client: FlaskClient, handheld: Any, auth_header: Any, staff: Any
) -> None:
    # 10 min at a door, walk 5 x 60 m, 8 min at the next door.
    end = same_day_end(31)
    batch = [at(30 - m, end=end) for m in range(11)]
    batch += [at(19 - k, north_m=60 * k, end=end) for k in range(1, 6)]
    batch += [at(14 - k, north_m=300, end=end) for k in range(1, 9)]
    batch.append(at(12.5, north_m=80_000, accuracy_m=5, end=end))  # a jump, filtered
    client.post(URL, json={"positions": batch}, headers=handheld.bearer)
    day = end.astimezone(LIMA).date().isoformat()
    url = f"/api/v1/collectors/{handheld.collector.id}/track?date={day}"

    geo = client.get(url, headers=auth_header("dispatcher")).get_json()
    line, *stops = geo["features"]
    assert len(line["geometry"]["coordinates"]) == 24
    assert abs(line["properties"]["distance_m"] - 300.0) < 0.5
    assert [s["properties"]["dwell_s"] for s in stops] == [600, 480]

    gpx = client.get(url + "&format=gpx", headers=auth_header("dispatcher"))
    assert gpx.mimetype == "application/gpx+xml"
    parsed = gpxpy.parse(gpx.get_data(as_text=True))
    assert len(parsed.tracks[0].segments[0].points) == 24
    assert len(parsed.waypoints) == 2


def test_collector_reads_only_their_own_track(
    client: FlaskClient, handheld: Any, all_day: Any, auth_header: Any
) -> None:
    other = all_day("collector02")
    own = client.get(
        f"/api/v1/collectors/{handheld.collector.id}/track?date={today()}",
        headers=auth_header("collector01"),
    )
    theirs = client.get(
        f"/api/v1/collectors/{other.id}/track?date={today()}", headers=auth_header("collector01")
    )
    assert own.status_code == 200
    assert theirs.status_code == 404
    missing = client.get(f"/api/v1/collectors/{other.id}/track", headers=auth_header("collector02"))
    assert missing.status_code == 422


def test_purge_positions_command_keeps_the_retention_period(
    app: Flask, client: FlaskClient, handheld: Any
) -> None:
    batch = [at(60 * 24 * 100), at(60 * 24 * 89), at(1)]
    result = client.post(URL, json={"positions": batch}, headers=handheld.bearer).get_json()
    assert result["accepted"] == 3
    output = app.test_cli_runner().invoke(args=["purge-positions"])
    assert "Deleted 1 positions." in output.output
    assert db.session.execute(db.select(db.func.count(Position.id))).scalar_one() == 2
    output = app.test_cli_runner().invoke(args=["purge-positions", "--days", "30"])
    assert "Deleted 1 positions." in output.output


def test_replay_demo_needs_published_routes(app: Flask, handheld: Any) -> None:
    result = app.test_cli_runner().invoke(args=["replay-demo", "--duration", "1"])
    assert result.exit_code != 0
    assert "No published routes" in result.output


def test_aged_stops_are_reread_a_slice_per_call_and_changed_ones_at_once(
    app: Flask, all_day: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stops cache that expired everywhere at once made one call in five minutes slow."""
    from server.services import tracking as tracking_service

    ids = [all_day(f"collector{n:02d}").id for n in range(1, 5)]
    day = datetime.now(LIMA).date()
    versions: dict[int, tuple[int, datetime | None]] = dict.fromkeys(ids, (0, None))
    loaded = {i: s.loaded_at for i, s in tracking_service._planned_stops(day, versions).items()}
    monkeypatch.setattr(tracking_service, "STOPS_TTL_S", 0.0)
    monkeypatch.setattr(tracking_service, "STOPS_REFRESH_PER_CALL", 1)
    versions[ids[3]] = (1, None)  # its assignments changed
    cache = tracking_service._planned_stops(day, versions)
    reread = {i for i in ids if cache[i].loaded_at != loaded[i]}
    assert reread == {ids[0], ids[3]}  # the changed one, and the oldest aged one
    cache = tracking_service._planned_stops(day, versions)
    assert cache[ids[1]].loaded_at != loaded[ids[1]]
    assert cache[ids[2]].loaded_at == loaded[ids[2]]
