"""Zone membership through an STRtree, so a fix is tested only against nearby polygons."""

from __future__ import annotations

from collections.abc import Mapping

import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry


class ZoneIndex:
    """Dispatcher zones (GeoJSON polygons, lon/lat order) indexed for point lookups."""

    def __init__(self, zones: Mapping[int, Mapping[str, object] | BaseGeometry]) -> None:
        self._ids: list[int] = []
        geometries: list[BaseGeometry] = []
        for zone_id, geometry in zones.items():
            polygon = geometry if isinstance(geometry, BaseGeometry) else shape(geometry)
            if not polygon.is_valid:
                raise ValueError(f"zone {zone_id} is not a valid polygon")
            self._ids.append(zone_id)
            geometries.append(polygon)
        self._tree = shapely.STRtree(geometries)

    def __len__(self) -> int:
        return len(self._ids)

    def containing(self, lat: float, lon: float) -> tuple[int, ...]:
        """Ids of the zones that contain the point; a point on the border counts as inside."""
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        return tuple(sorted(self._ids[int(index)] for index in hits))
