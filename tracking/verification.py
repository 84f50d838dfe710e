"""Geo-verified visits: was the collector (or the photo) really at the debtor's door?

The flags feed the KPI model's ``geo_verified_rate``: attempts whose check-in is within
``verify_radius_m`` of the account's location over attempts with a position.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image, UnidentifiedImageError

from tracking.geo import haversine_m, valid_coordinates

DEFAULT_VERIFY_RADIUS_M = 150.0
_GPS_IFD = 0x8825
_LAT_REF, _LAT, _LON_REF, _LON = 1, 2, 3, 4

Point = tuple[float, float]
"""(lat, lon) in WGS84 degrees."""


class GeoStatus(StrEnum):
    VERIFIED = "verified"
    FAR_FROM_ADDRESS = "far_from_address"
    NO_FIX = "no_fix"
    NO_ADDRESS = "no_address"
    """The account has no coordinates yet (geocoding pending): nothing to compare with."""


@dataclass(frozen=True, slots=True)
class GeoVerification:
    status: GeoStatus
    distance_m: float | None
    radius_m: float


def verify_location(
    observed: Point | None, account: Point | None, *, radius_m: float = DEFAULT_VERIFY_RADIUS_M
) -> GeoVerification:
    """Compare a check-in (or photo) position with the account's; the radius itself counts."""
    if observed is None or not valid_coordinates(*observed):
        return GeoVerification(GeoStatus.NO_FIX, None, radius_m)
    if account is None or not valid_coordinates(*account):
        return GeoVerification(GeoStatus.NO_ADDRESS, None, radius_m)
    distance = haversine_m(observed[0], observed[1], account[0], account[1])
    status = GeoStatus.VERIFIED if distance <= radius_m else GeoStatus.FAR_FROM_ADDRESS
    return GeoVerification(status, distance, radius_m)


def _degrees(value: object, reference: object, negative: str) -> float | None:
    if not isinstance(value, tuple) or len(value) != 3:
        return None
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    magnitude = degrees + minutes / 60.0 + seconds / 3600.0
    ref = reference.decode() if isinstance(reference, bytes) else reference
    return -magnitude if isinstance(ref, str) and ref.strip().upper() == negative else magnitude


def photo_gps(image: bytes) -> Point | None:
    """The EXIF GPS position of a JPEG (or any image Pillow reads), or None when absent.

    Only the metadata is read; a corrupt or unknown file simply has no position.
    """
    try:
        with Image.open(io.BytesIO(image)) as picture:
            gps = picture.getexif().get_ifd(_GPS_IFD)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    lat = _degrees(gps.get(_LAT), gps.get(_LAT_REF), "S")
    lon = _degrees(gps.get(_LON), gps.get(_LON_REF), "W")
    if lat is None or lon is None or not valid_coordinates(lat, lon):
        return None
    return lat, lon


def verify_photo(
    image: bytes, account: Point | None, *, radius_m: float = DEFAULT_VERIFY_RADIUS_M
) -> GeoVerification:
    """Compare a photo's EXIF GPS with the account's location (``no_fix`` when it has none)."""
    return verify_location(photo_gps(image), account, radius_m=radius_m)
