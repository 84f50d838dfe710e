"""Distance and stops on a hand-made track whose answers are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import gpxpy
import pytest

from tracking import (
    FilterReason,
    Position,
    detect_stops,
    track_distance_m,
    track_geojson,
    track_gpx,
)

START = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # 09:00 in Lima
LAT, LON = -12.0464, -77.0428
STEP_DEG = 0.001
STEP_M = 111.19508  # 6,371,008.8 m x pi / 180 x 0.001, one step north along a meridian


def at(minute: int, steps: float, *, lon_jitter: float = 0.0) -> Position:
    return Position(
        fix_time=START + timedelta(minutes=minute),
        lat=LAT + steps * STEP_DEG,
        lon=LON + lon_jitter,
        accuracy_m=5.0,
        altitude_m=150.0,
        speed_mps=0.0,
    )


def hand_made_day() -> list[Position]:
    """10 min at door A, 5 min walk north (5 steps), 6 min at door B, 3 min walk (3 steps)."""
    track = [at(m, 0) for m in range(0, 11)]
    track += [at(10 + k, k) for k in range(1, 6)]
    track += [at(15 + k, 5) for k in range(1, 7)]
    track += [at(21 + k, 5 + k) for k in range(1, 4)]
    outlier = Position(
        fix_time=START + timedelta(minutes=12, seconds=30),
        lat=LAT + 0.2,
        lon=LON,
        accuracy_m=900.0,
        filter_reason=FilterReason.ACCURACY,
    )
    return [*reversed(track), outlier]  # arrival order must not matter


def test_distance_of_the_filtered_track() -> None:
    assert track_distance_m(hand_made_day()) == pytest.approx(8 * STEP_M, abs=0.01)


def test_stops_arrival_departure_dwell_and_centroid() -> None:
    stops = detect_stops(hand_made_day(), radius_m=50.0, min_dwell_s=300.0)
    assert [(s.arrival, s.departure, s.dwell_s, s.fix_count) for s in stops] == [
        (START, START + timedelta(minutes=10), 600.0, 11),
        (START + timedelta(minutes=15), START + timedelta(minutes=21), 360.0, 7),
    ]
    assert (stops[0].lat, stops[0].lon) == pytest.approx((LAT, LON))
    assert (stops[1].lat, stops[1].lon) == pytest.approx((LAT + 5 * STEP_DEG, LON))


def test_a_pause_shorter_than_the_dwell_is_not_a_stop() -> None:
    stops = detect_stops(hand_made_day(), radius_m=50.0, min_dwell_s=361.0)
    assert [s.dwell_s for s in stops] == [600.0]


def test_gps_jitter_at_a_door_stays_one_stop() -> None:
    jitter = [0.0002, -0.0002, 0.0001, -0.0003, 0.0002, 0.0, -0.0001, 0.0003, -0.0002]
    track = [at(m, 0, lon_jitter=j) for m, j in enumerate(jitter)]  # up to 33 m either side
    stops = detect_stops(track, radius_m=50.0, min_dwell_s=300.0)
    assert len(stops) == 1
    assert stops[0].dwell_s == 480.0


def test_geojson_has_a_lon_lat_linestring_and_stop_points() -> None:
    day = hand_made_day()
    collection = track_geojson(day, detect_stops(day), collector_id=4)
    line, *points = collection["features"]
    assert line["geometry"]["type"] == "LineString"
    assert line["geometry"]["coordinates"][0] == [LON, LAT]
    assert len(line["geometry"]["coordinates"]) == 25  # the outlier is left out
    assert line["properties"]["distance_m"] == pytest.approx(889.6, abs=0.05)
    assert line["properties"]["collector_id"] == 4
    assert [p["properties"]["dwell_s"] for p in points] == [600, 360]
    assert points[1]["properties"]["arrival"] == "2026-11-27T14:15:00+00:00"


def test_gpx_round_trips_through_gpxpy() -> None:
    day = hand_made_day()
    parsed = gpxpy.parse(track_gpx(day, detect_stops(day), name="collector01 2026-11-27"))
    points = parsed.tracks[0].segments[0].points
    assert len(points) == 25
    assert points[0].time == START
    assert parsed.tracks[0].name == "collector01 2026-11-27"
    assert [w.name for w in parsed.waypoints] == ["stop 10 min", "stop 6 min"]
    assert parsed.length_2d() == pytest.approx(8 * STEP_M, rel=0.005)


def test_empty_day() -> None:
    assert track_distance_m([]) == 0.0
    assert detect_stops([]) == []
    assert track_geojson([], [])["features"][0]["geometry"]["coordinates"] == []
