"""A collector's day as a track: distance walked, where they stopped, GPX and GeoJSON.

Only accepted fixes count; a filtered fix would add phantom kilometres to a scorecard.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import gpxpy.gpx

from tracking.geo import haversine_m
from tracking.position import Position


def clean_track(positions: Iterable[Position]) -> list[Position]:
    """Accepted fixes in fix-time order, whatever order they arrived in."""
    return sorted((p for p in positions if p.accepted), key=lambda p: p.fix_time)


def track_distance_m(positions: Iterable[Position]) -> float:
    """Metres along the filtered track."""
    track = clean_track(positions)
    return sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in itertools.pairwise(track))


@dataclass(frozen=True, slots=True)
class Stop:
    """A place where the collector stayed: a door, a lunch, a long wait."""

    lat: float
    lon: float
    arrival: datetime
    departure: datetime
    fix_count: int

    @property
    def dwell_s(self) -> float:
        return (self.departure - self.arrival).total_seconds()


def detect_stops(
    positions: Iterable[Position], *, radius_m: float = 50.0, min_dwell_s: float = 300.0
) -> list[Stop]:
    """Runs of consecutive fixes within ``radius_m`` of their running centroid lasting at least
    ``min_dwell_s`` (arrival = first fix of the run, departure = last).

    A running centroid rather than the first fix of the run keeps one noisy arrival fix from
    splitting a single visit into two stops.
    """
    track = clean_track(positions)
    stops: list[Stop] = []
    start = 0
    while start < len(track):
        lat_sum, lon_sum, end = track[start].lat, track[start].lon, start + 1
        while end < len(track):
            count = end - start
            candidate = track[end]
            if (
                haversine_m(lat_sum / count, lon_sum / count, candidate.lat, candidate.lon)
                > radius_m
            ):
                break
            lat_sum += candidate.lat
            lon_sum += candidate.lon
            end += 1
        run = track[start:end]
        if (run[-1].fix_time - run[0].fix_time).total_seconds() >= min_dwell_s:
            stops.append(
                Stop(
                    lat=lat_sum / len(run),
                    lon=lon_sum / len(run),
                    arrival=run[0].fix_time,
                    departure=run[-1].fix_time,
                    fix_count=len(run),
                )
            )
            start = end
        else:
            start += 1
    return stops


def track_geojson(
    positions: Iterable[Position], stops: Sequence[Stop], **properties: Any
) -> dict[str, Any]:
    """A FeatureCollection: the track as a LineString (lon/lat order) and each stop as a Point."""
    track = clean_track(positions)
    line: dict[str, Any] = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in track]},
        "properties": {
            "kind": "track",
            "distance_m": round(track_distance_m(track), 1),
            "fix_count": len(track),
            "start": track[0].fix_time.isoformat() if track else None,
            "end": track[-1].fix_time.isoformat() if track else None,
            "times": [p.fix_time.isoformat() for p in track],
            **properties,
        },
    }
    points = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [stop.lon, stop.lat]},
            "properties": {
                "kind": "stop",
                "arrival": stop.arrival.isoformat(),
                "departure": stop.departure.isoformat(),
                "dwell_s": round(stop.dwell_s),
                "fix_count": stop.fix_count,
            },
        }
        for stop in stops
    ]
    return {"type": "FeatureCollection", "features": [line, *points]}


def track_gpx(positions: Iterable[Position], stops: Sequence[Stop], *, name: str) -> str:
    """GPX 1.1: one track segment of accepted fixes, stops as waypoints named by dwell."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "cobranza-campo"
    track = gpxpy.gpx.GPXTrack(name=name)
    segment = gpxpy.gpx.GPXTrackSegment()
    for p in clean_track(positions):
        segment.points.append(
            gpxpy.gpx.GPXTrackPoint(
                p.lat, p.lon, elevation=p.altitude_m, time=p.fix_time, speed=p.speed_mps
            )
        )
    track.segments.append(segment)
    gpx.tracks.append(track)
    for stop in stops:
        gpx.waypoints.append(
            gpxpy.gpx.GPXWaypoint(
                stop.lat,
                stop.lon,
                time=stop.arrival,
                name=f"stop {round(stop.dwell_s / 60)} min",
                description=f"{stop.arrival.isoformat()} - {stop.departure.isoformat()}",
            )
        )
    xml: str = gpx.to_xml(version="1.1")
    return xml
