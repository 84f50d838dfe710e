"""Travel matrices: great-circle distance times a circuity factor, or real streets via OSRM.

Haversine is computed from per-point sines and cosines combined by outer products, so the
only trigonometry on the full matrix is one ``arcsin``: a 2,000 x 2,000 matrix takes a few
tens of milliseconds, where geopy pair by pair takes seconds (geopy is for reference checks).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import requests

from routing.model import FloatArray, IntMatrix

EARTH_RADIUS_M = 6_371_008.8


class TravelMode(enum.Enum):
    """How a collector moves; the default speeds are door-to-door averages in a city."""

    WALK = "walk"
    MOTORBIKE = "motorbike"
    CAR = "car"


@dataclass(frozen=True, slots=True)
class TravelProfile:
    """Average speed and circuity (street distance / great-circle distance)."""

    speed_kmh: float
    circuity: float = 1.0

    def __post_init__(self) -> None:
        if self.speed_kmh <= 0 or self.circuity < 1.0:
            raise ValueError("speed must be positive and circuity at least 1")

    @property
    def metres_per_second(self) -> float:
        return self.speed_kmh / 3.6


DEFAULT_PROFILES: dict[TravelMode, TravelProfile] = {
    TravelMode.WALK: TravelProfile(speed_kmh=4.5, circuity=1.3),
    TravelMode.MOTORBIKE: TravelProfile(speed_kmh=22.0, circuity=1.35),
    TravelMode.CAR: TravelProfile(speed_kmh=18.0, circuity=1.4),
}


def haversine_matrix_m(
    lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, radius_m: float = EARTH_RADIUS_M
) -> FloatArray:
    """Great-circle distances in metres between every pair of points (float64, L x L).

    sin^2(theta/2) = (1 - u.v) / 2 for unit vectors u, v: one matrix product (BLAS) and one
    arcsin, computed in place. Cancellation in ``1 - u.v`` costs about a millimetre for doors
    a few metres apart: far below the rounding to whole seconds.
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    cos_lat = np.cos(lat)
    unit = np.column_stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)])
    h: FloatArray = unit @ unit.T
    np.subtract(1.0, h, out=h)
    np.multiply(h, 0.5, out=h)
    np.clip(h, 0.0, 1.0, out=h)
    np.sqrt(h, out=h)
    np.arcsin(h, out=h)
    np.multiply(h, 2.0 * radius_m, out=h)
    np.fill_diagonal(h, 0.0)
    return h


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def durations_from_distances(great_circle_m: FloatArray, profile: TravelProfile) -> IntMatrix:
    """Seconds = distance x circuity / speed, rounded up so no leg is ever under-estimated."""
    seconds = great_circle_m * (profile.circuity / profile.metres_per_second)
    np.subtract(seconds, 1e-9, out=seconds)
    np.ceil(seconds, out=seconds)
    return seconds.astype(np.int64)


def street_distances_m(great_circle_m: FloatArray, circuity: float) -> IntMatrix:
    """Metres along the street, estimated as great-circle distance times circuity."""
    return np.rint(great_circle_m * circuity).astype(np.int64)


@dataclass(frozen=True, slots=True)
class TravelMatrices:
    """Distance (metres) and one duration matrix per profile (seconds)."""

    distances_m: IntMatrix
    durations_s: tuple[IntMatrix, ...]


def haversine_matrices(
    coordinates: FloatArray, profiles: Sequence[TravelProfile]
) -> TravelMatrices:
    """Matrices for ``coordinates`` (rows of latitude, longitude) under each profile.

    The distance matrix uses the first profile's circuity.
    """
    great_circle = haversine_matrix_m(coordinates[:, 0], coordinates[:, 1])
    durations = tuple(durations_from_distances(great_circle, p) for p in profiles)
    return TravelMatrices(street_distances_m(great_circle, profiles[0].circuity), durations)


class OsrmTableProvider:
    """Real street times from an OSRM server's ``/table`` service (``OSRM_URL``).

    OSRM answers seconds and metres as floats; both are rounded up to integers. A pair OSRM
    cannot route (``null``) is an error: silently inventing a time would break the promise
    that no collector is sent past the end of the shift.
    """

    def __init__(self, base_url: str, osrm_profile: str = "driving", timeout_s: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.osrm_profile = osrm_profile
        self.timeout_s = timeout_s

    def matrices(self, coordinates: FloatArray) -> tuple[IntMatrix, IntMatrix]:
        """``(distances_m, durations_s)`` between all rows of (latitude, longitude)."""
        points = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in coordinates.tolist())
        response = requests.get(
            f"{self.base_url}/table/v1/{self.osrm_profile}/{points}",
            params={"annotations": "duration,distance"},
            timeout=self.timeout_s,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("code") != "Ok":
            raise ValueError(f"OSRM table failed: {body.get('code')} {body.get('message', '')}")
        durations = _osrm_matrix(body["durations"], len(coordinates), "durations")
        distances = _osrm_matrix(body["distances"], len(coordinates), "distances")
        return distances, durations


def _osrm_matrix(rows: list[list[float | None]], size: int, what: str) -> IntMatrix:
    if len(rows) != size or any(len(row) != size for row in rows):
        raise ValueError(f"OSRM {what}: expected a {size} x {size} matrix")
    if any(value is None for row in rows for value in row):
        raise ValueError(f"OSRM {what}: some locations cannot be routed")
    return np.ceil(np.asarray(rows, dtype=np.float64) - 1e-9).astype(np.int64)
