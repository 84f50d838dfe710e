"""Zones: the dispatcher's drawn polygons, and automatic balanced territories.

Drawn zones are GeoJSON polygons (longitude, latitude order, as GeoJSON says) looked up with
shapely's STRtree. Automatic territories split the day's visits into compact groups of
nearly equal size, one per collector (or per group of collectors when decomposing a city).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape

from routing.model import FloatArray

IntArray = npt.NDArray[np.int64]


class ZoneIndex:
    """Point-in-zone lookup for the dispatcher's zones (GeoJSON geometries by zone id)."""

    def __init__(self, zones: Mapping[str, Mapping[str, Any]]) -> None:
        self.zone_ids = list(zones)
        geometries = []
        for zone_id, geometry in zones.items():
            polygon = shape(geometry)
            if polygon.geom_type not in {"Polygon", "MultiPolygon"} or not polygon.is_valid:
                raise ValueError(f"zone {zone_id}: not a valid polygon")
            geometries.append(polygon)
        self.tree = shapely.STRtree(geometries)

    def assign(self, coordinates: FloatArray) -> list[str | None]:
        """The zone of each (latitude, longitude) row; the first drawn zone wins on overlaps."""
        points = shapely.points(coordinates[:, 1], coordinates[:, 0])
        point_idx, zone_idx = self.tree.query(points, predicate="intersects")
        result: list[str | None] = [None] * len(coordinates)
        best = np.full(len(coordinates), len(self.zone_ids), dtype=np.int64)
        np.minimum.at(best, point_idx, zone_idx)
        for i, z in enumerate(best.tolist()):
            if z < len(self.zone_ids):
                result[i] = self.zone_ids[z]
        return result


def planar_km(coordinates: FloatArray) -> FloatArray:
    """Equirectangular projection to kilometres: exact enough to group doors in one city."""
    lat0 = math.radians(float(np.mean(coordinates[:, 0]))) if len(coordinates) else 0.0
    result: FloatArray = np.column_stack(
        [coordinates[:, 0] * 110.574, coordinates[:, 1] * 111.320 * math.cos(lat0)]
    )
    return result


def balanced_territories(
    points: FloatArray, k: int, slack: float = 0.05, seed: int = 0, iterations: int = 10
) -> IntArray:
    """Label each point with one of ``k`` compact territories of nearly equal size.

    Capacitated k-means: centres start by k-means++, then each round assigns points in
    order of regret (how much they lose by not getting their nearest centre) to the nearest
    centre that still has room, and moves the centres to their members' mean.
    """
    n = len(points)
    if k <= 0:
        raise ValueError("k must be positive")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, n)
    rng = np.random.default_rng(seed)
    centres = np.empty((k, 2), dtype=np.float64)
    centres[0] = points[rng.integers(n)]
    nearest = ((points - centres[0]) ** 2).sum(axis=1)
    for c in range(1, k):
        total = nearest.sum()
        pick = rng.choice(n, p=nearest / total) if total > 0 else rng.integers(n)
        centres[c] = points[pick]
        nearest = np.minimum(nearest, ((points - centres[c]) ** 2).sum(axis=1))
    capacity = math.ceil(n / k * (1 + slack))
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        distance = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        preference = np.argsort(distance, axis=1)
        ranked = np.take_along_axis(distance, preference, axis=1)
        regret = ranked[:, 1] - ranked[:, 0] if k > 1 else np.zeros(n)
        room = np.full(k, capacity, dtype=np.int64)
        new_labels = np.empty(n, dtype=np.int64)
        for i in np.argsort(-regret).tolist():
            for c in preference[i].tolist():
                if room[c] > 0:
                    new_labels[i] = c
                    room[c] -= 1
                    break
        for c in range(k):
            members = points[new_labels == c]
            if len(members):
                centres[c] = members.mean(axis=0)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return labels
