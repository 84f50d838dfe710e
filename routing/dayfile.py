"""The documented day file: ``python -m routing plan-day DAY.json`` reads and writes these.

Input::

    {"travel": {"circuity": 1.0},
     "visits": [{"id", "lat", "lon", "service_s", "value", "required": false,
                 "windows": [[start_s, end_s], ...]}],
     "collectors": [{"id", "start": [lat, lon], "end": [lat, lon], "shift": [start_s, end_s],
                     "speed_kmh", "max_visits", "break": {"window": [a_s, b_s], "duration_s"}}]}

Times are seconds from local midnight; travel time is the haversine distance (Earth radius
6,371,008.8 m) times circuity divided by speed, rounded up to whole seconds. Values may be
fractional: they are held internally in hundredths so the solver can work in integers.

Optional extensions used by the server (absent keys mean the documented behaviour): a
collector's own ``"circuity"`` (its travel mode), a visit's ``"allowed_collectors"`` (zones
and locked stops), and street times from an OSRM server instead of haversine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from routing.evaluate import Evaluation
from routing.matrix import OsrmTableProvider, TravelProfile, haversine_matrices
from routing.model import Break, CollectorShift, ProblemData, Visit

VALUE_SCALE = 100


def _window(raw: Any, what: str) -> tuple[int, int]:
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise ValueError(f"{what}: a window is [start_s, end_s]")
    return int(raw[0]), int(raw[1])


def _point(raw: Any, what: str) -> tuple[float, float]:
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise ValueError(f"{what}: a point is [lat, lon]")
    lat, lon = float(raw[0]), float(raw[1])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{what}: ({lat}, {lon}) is not a latitude/longitude")
    return lat, lon


def load_day(day: Mapping[str, Any], osrm: OsrmTableProvider | None = None) -> ProblemData:
    """Build the problem from a parsed day file; malformed input raises ``ValueError``."""
    try:
        circuity = float(day.get("travel", {}).get("circuity", 1.0))
        raw_visits = list(day["visits"])
        raw_collectors = list(day["collectors"])
        points: list[tuple[float, float]] = []
        visits: list[Visit] = []
        for raw in raw_visits:
            vid = str(raw["id"])
            points.append(_point([raw["lat"], raw["lon"]], f"visit {vid}"))
            windows = tuple(sorted(_window(w, f"visit {vid}") for w in raw.get("windows") or []))
            visits.append(
                Visit(
                    id=vid,
                    location=len(points) - 1,
                    service_s=int(raw.get("service_s", 720)),
                    value=round(float(raw.get("value", 0)) * VALUE_SCALE),
                    windows=windows or ((0, 7 * 24 * 3600),),
                    required=bool(raw.get("required", False)),
                    allowed_collectors=tuple(str(c) for c in raw.get("allowed_collectors") or ()),
                )
            )
        profiles: list[TravelProfile] = []
        collectors: list[CollectorShift] = []
        for raw in raw_collectors:
            cid = str(raw["id"])
            points.append(_point(raw["start"], f"collector {cid}"))
            points.append(_point(raw.get("end") or raw["start"], f"collector {cid}"))
            profile = TravelProfile(float(raw["speed_kmh"]), float(raw.get("circuity", circuity)))
            if profile not in profiles:
                profiles.append(profile)
            shift = _window(raw["shift"], f"collector {cid}")
            raw_break = raw.get("break")
            lunch = None
            if raw_break:
                window = _window(raw_break["window"], f"collector {cid} break")
                lunch = Break(window[0], window[1], int(raw_break["duration_s"]))
            max_visits = raw.get("max_visits")
            collectors.append(
                CollectorShift(
                    id=cid,
                    start_location=len(points) - 2,
                    end_location=len(points) - 1,
                    shift_start_s=shift[0],
                    shift_end_s=shift[1],
                    profile=profiles.index(profile),
                    max_visits=None if max_visits is None else int(max_visits),
                    lunch=lunch,
                )
            )
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed day file: {error!r}") from error
    coordinates = np.array(points, dtype=np.float64).reshape(-1, 2)
    if osrm is not None and len(coordinates):
        # Real streets: one matrix for everybody (the OSRM profile decides the mode).
        distances, durations = osrm.matrices(coordinates)
        single = tuple(replace(c, profile=0) for c in collectors)
        return ProblemData(tuple(visits), single, distances, (durations,), coordinates)
    matrices = haversine_matrices(coordinates, profiles or [TravelProfile(25.0, circuity)])
    return ProblemData(
        tuple(visits), tuple(collectors), matrices.distances_m, matrices.durations_s, coordinates
    )


def plan_document(evaluation: Evaluation, dropped_reasons: Mapping[str, str]) -> dict[str, Any]:
    """The output file: routes with arrival and service start per stop, and dropped visits."""
    return {
        "routes": {
            route.collector_id: [
                {"visit": stop.visit_id, "arrival_s": stop.arrival_s, "start_s": stop.start_s}
                for stop in route.stops
            ]
            for route in evaluation.routes
        },
        "dropped": [
            {"visit": visit_id, "reason": dropped_reasons.get(visit_id, "not selected")}
            for visit_id in evaluation.dropped
        ],
        "value": evaluation.value / VALUE_SCALE,
        "travel_s": evaluation.travel_s,
        "breaks": {
            route.collector_id: route.break_start_s
            for route in evaluation.routes
            if route.break_start_s is not None
        },
        "feasible": evaluation.feasible,
    }
