"""Where a Lima demo can put people: real districts' areas, all on land."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class District:
    name: str
    lat: float
    lon: float
    radius_m: float
    zone: str


# Centres and radii chosen inside each district's urban area, away from the coast.
DISTRICTS: tuple[District, ...] = (
    District("Puente Piedra", -11.866, -77.074, 1500, "Lima Norte"),
    District("Comas", -11.932, -77.047, 2000, "Lima Norte"),
    District("Los Olivos", -11.968, -77.070, 1500, "Lima Norte"),
    District("Independencia", -11.992, -77.054, 900, "Lima Norte"),
    District("San Martín de Porres", -12.008, -77.078, 1300, "Lima Norte"),
    District("San Juan de Lurigancho", -11.985, -77.003, 2500, "Lima Este"),
    District("El Agustino", -12.043, -76.995, 900, "Lima Este"),
    District("Ate", -12.036, -76.925, 2200, "Lima Este"),
    District("Santa Anita", -12.045, -76.968, 900, "Lima Este"),
    District("Cercado de Lima", -12.050, -77.035, 1100, "Lima Centro"),
    District("La Victoria", -12.070, -77.017, 900, "Lima Centro"),
    District("Breña", -12.060, -77.052, 600, "Lima Centro"),
    District("San Borja", -12.100, -76.995, 1000, "Lima Moderna"),
    District("Surquillo", -12.113, -77.012, 600, "Lima Moderna"),
    District("Santiago de Surco", -12.140, -76.990, 1800, "Lima Moderna"),
    District("La Molina", -12.082, -76.940, 1800, "Lima Moderna"),
    District("San Juan de Miraflores", -12.160, -76.968, 1400, "Lima Sur"),
    District("Villa María del Triunfo", -12.165, -76.930, 1400, "Lima Sur"),
    District("Villa El Salvador", -12.212, -76.937, 1800, "Lima Sur"),
    District("Chorrillos", -12.172, -77.005, 900, "Lima Sur"),
)

# Demo zones (lon, lat rings, not overlapping) that hold their districts' areas.
ZONE_RINGS: dict[str, list[tuple[float, float]]] = {
    "Lima Norte": [(-77.105, -11.840), (-77.028, -11.840), (-77.028, -12.025), (-77.105, -12.025)],
    "Lima Este": [
        (-77.028, -11.955),
        (-76.895, -11.955),
        (-76.895, -12.070),
        (-77.005, -12.070),
        (-77.005, -12.035),
        (-77.028, -12.035),
    ],
    "Lima Centro": [(-77.065, -12.035), (-77.005, -12.035), (-77.005, -12.082), (-77.065, -12.082)],
    "Lima Moderna": [
        (-77.025, -12.082),
        (-76.915, -12.082),
        (-76.915, -12.160),
        (-77.025, -12.160),
    ],
    "Lima Sur": [(-77.020, -12.160), (-76.910, -12.160), (-76.910, -12.235), (-77.020, -12.235)],
}
ZONE_COLORS = {
    "Lima Norte": "#1f77b4",
    "Lima Este": "#ff7f0e",
    "Lima Centro": "#2ca02c",
    "Lima Moderna": "#9467bd",
    "Lima Sur": "#d62728",
}

# The Pacific coast of Lima as (latitude, longitude of the shoreline), north to south.
COASTLINE: tuple[tuple[float, float], ...] = (
    (-11.80, -77.180),
    (-11.90, -77.150),
    (-11.98, -77.140),
    (-12.05, -77.160),
    (-12.08, -77.090),
    (-12.10, -77.060),
    (-12.13, -77.035),
    (-12.17, -77.030),
    (-12.20, -77.010),
    (-12.25, -76.960),
    (-12.30, -76.900),
)
EARTH_RADIUS_M = 6_371_008.8


def shoreline_lon(lat: float) -> float:
    """Longitude of the shore at a latitude, interpolated; land lies east of it."""
    points = COASTLINE
    if lat >= points[0][0]:
        return points[0][1]
    for (lat_a, lon_a), (lat_b, lon_b) in itertools.pairwise(points):
        if lat_b <= lat <= lat_a:
            share = (lat_a - lat) / (lat_a - lat_b)
            return lon_a + share * (lon_b - lon_a)
    return points[-1][1]


def on_land(lat: float, lon: float, margin_m: float = 300.0) -> bool:
    """East of the shoreline by at least `margin_m` (Lima's sea is to the west)."""
    margin_deg = margin_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))) * 180 / math.pi
    return lon > shoreline_lon(lat) + margin_deg


def point_in_district(rng: random.Random, district: District) -> tuple[float, float]:
    """A uniformly drawn point in the district's disk, re-drawn until it is on land."""
    while True:
        distance = district.radius_m * math.sqrt(rng.random())
        bearing = rng.uniform(0, 2 * math.pi)
        dlat = distance * math.cos(bearing) / EARTH_RADIUS_M * 180 / math.pi
        dlon = (
            distance
            * math.sin(bearing)
            / (EARTH_RADIUS_M * math.cos(math.radians(district.lat)))
            * 180
            / math.pi
        )
        lat, lon = round(district.lat + dlat, 6), round(district.lon + dlon, 6)
        if on_land(lat, lon):
            return lat, lon


def zone_polygon(name: str) -> dict[str, object]:
    ring = [list(p) for p in ZONE_RINGS[name]]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}
