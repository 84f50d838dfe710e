"""A reproducible synthetic city day, the benchmark's stand-in for a real portfolio.

Shaped after the issue's anchor: 1,000 optional visits with values, 300 of them with 2-4 h
preferred windows, 25 collectors on 8 h shifts at 25 km/h in a Lima-sized city, about 250 h of
work for 200 h of shifts, so the planner must choose what to leave undone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CITY_CENTRE = (-12.06, -77.03)
HOUR = 3600


def city_day(
    visits: int = 1000,
    collectors: int = 25,
    windowed: int = 300,
    seed: int = 7,
    radius_km: float = 9.0,
    lunch: bool = False,
) -> dict[str, Any]:
    """A day file (see ``routing.dayfile``) with clustered debtors and scattered homes."""
    rng = np.random.default_rng(seed)
    km_lat = 1 / 110.574
    km_lon = 1 / (111.320 * np.cos(np.radians(CITY_CENTRE[0])))
    hubs = rng.normal(0, radius_km / 2, size=(12, 2))
    hub = rng.integers(0, len(hubs), size=visits)
    offsets = hubs[hub] + rng.normal(0, radius_km / 5, size=(visits, 2))
    lat = CITY_CENTRE[0] + offsets[:, 0] * km_lat
    lon = CITY_CENTRE[1] + offsets[:, 1] * km_lon
    value = np.round(rng.lognormal(mean=4.0, sigma=0.9, size=visits), 2)
    has_window = np.zeros(visits, dtype=bool)
    has_window[rng.choice(visits, size=min(windowed, visits), replace=False)] = True
    day_visits = []
    for i in range(visits):
        windows: list[list[int]] = []
        if has_window[i]:
            start = int(rng.integers(8, 14)) * HOUR
            windows = [[start, start + int(rng.integers(2, 5)) * HOUR]]
        day_visits.append(
            {
                "id": f"v{i:05d}",
                "lat": float(lat[i]),
                "lon": float(lon[i]),
                "service_s": 720,
                "value": float(value[i]),
                "required": False,
                "windows": windows,
            }
        )
    homes = rng.normal(0, radius_km / 2, size=(collectors, 2))
    day_collectors = []
    for c in range(collectors):
        home = [
            float(CITY_CENTRE[0] + homes[c, 0] * km_lat),
            float(CITY_CENTRE[1] + homes[c, 1] * km_lon),
        ]
        day_collectors.append(
            {
                "id": f"c{c:03d}",
                "start": home,
                "end": home,
                "shift": [8 * HOUR, 16 * HOUR],
                "speed_kmh": 25.0,
                "max_visits": None,
                "break": {"window": [12 * HOUR, 14 * HOUR], "duration_s": 1800} if lunch else None,
            }
        )
    return {"travel": {"circuity": 1.0}, "visits": day_visits, "collectors": day_collectors}
