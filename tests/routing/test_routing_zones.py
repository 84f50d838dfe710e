import numpy as np
import pytest

from routing.zones import ZoneIndex, balanced_territories, planar_km

SQUARE_WEST = {
    "type": "Polygon",
    "coordinates": [
        [[-77.1, -12.1], [-77.05, -12.1], [-77.05, -12.0], [-77.1, -12.0], [-77.1, -12.1]]
    ],
}
SQUARE_EAST = {
    "type": "Polygon",
    "coordinates": [
        [[-77.05, -12.1], [-77.0, -12.1], [-77.0, -12.0], [-77.05, -12.0], [-77.05, -12.1]]
    ],
}


def test_points_fall_in_the_dispatchers_zones() -> None:
    index = ZoneIndex({"west": SQUARE_WEST, "east": SQUARE_EAST})
    points = np.array([[-12.05, -77.08], [-12.05, -77.02], [-11.5, -77.0]])
    assert index.assign(points) == ["west", "east", None]


def test_invalid_zone_geometry_is_refused() -> None:
    with pytest.raises(ValueError):
        ZoneIndex({"line": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}})


def test_territories_are_balanced_and_compact() -> None:
    rng = np.random.default_rng(0)
    blobs = np.vstack(
        [rng.normal(centre, 0.3, size=(50, 2)) for centre in ([0, 0], [10, 0], [0, 10], [10, 10])]
    )
    labels = balanced_territories(blobs, 4, seed=1)
    sizes = np.bincount(labels, minlength=4)
    assert sizes.max() - sizes.min() <= 3
    for k in range(4):  # each territory is one blob
        members = blobs[labels == k]
        assert np.ptp(members, axis=0).max() < 4


def test_territories_of_uneven_crowds_still_share_the_work() -> None:
    rng = np.random.default_rng(2)
    points = np.vstack([rng.normal([0, 0], 1, size=(90, 2)), rng.normal([20, 20], 1, size=(10, 2))])
    sizes = np.bincount(balanced_territories(points, 4, slack=0.05, seed=0), minlength=4)
    assert sizes.max() <= 27


def test_planar_projection_is_in_kilometres() -> None:
    km = planar_km(np.array([[-12.0, -77.0], [-12.0, -76.99]]))
    assert abs(km[1, 1] - km[0, 1]) == pytest.approx(1.089, abs=0.01)
