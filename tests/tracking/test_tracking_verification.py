"""Geo-verification at the radius boundary, and a photo's EXIF GPS."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from tracking import GeoStatus, photo_gps, verify_location, verify_photo

ACCOUNT = (-12.0464, -77.0428)
METRES_PER_DEG_LAT = 6_371_008.8 * math.pi / 180


def north_of_account(metres: float) -> tuple[float, float]:
    return ACCOUNT[0] + metres / METRES_PER_DEG_LAT, ACCOUNT[1]


@pytest.mark.parametrize(
    ("metres", "status"),
    [
        (0.0, GeoStatus.VERIFIED),
        (149.9, GeoStatus.VERIFIED),
        (150.0 - 1e-6, GeoStatus.VERIFIED),
        (150.01, GeoStatus.FAR_FROM_ADDRESS),
        (2_000.0, GeoStatus.FAR_FROM_ADDRESS),
    ],
)
def test_radius_boundary(metres: float, status: GeoStatus) -> None:
    result = verify_location(north_of_account(metres), ACCOUNT)
    assert result.status is status
    assert result.distance_m == pytest.approx(metres, abs=1e-3)
    assert result.radius_m == 150.0


def test_configurable_radius() -> None:
    assert verify_location(north_of_account(120), ACCOUNT, radius_m=100).status is (
        GeoStatus.FAR_FROM_ADDRESS
    )


def test_missing_fix_or_address() -> None:
    assert verify_location(None, ACCOUNT).status is GeoStatus.NO_FIX
    assert verify_location((float("nan"), 0.0), ACCOUNT).status is GeoStatus.NO_FIX
    assert verify_location(ACCOUNT, None).status is GeoStatus.NO_ADDRESS


def jpeg_with_gps(
    lat_dms: tuple[float, float, float],
    lat_ref: str,
    lon_dms: tuple[float, float, float],
    lon_ref: str,
) -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {
        1: lat_ref,
        2: tuple(IFDRational(v) for v in lat_dms),
        3: lon_ref,
        4: tuple(IFDRational(v) for v in lon_dms),
    }
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_photo_exif_gps_southern_western_hemisphere() -> None:
    # 12 deg 2' 47.04" S, 77 deg 2' 34.08" W  ==  -12.0464, -77.0428
    image = jpeg_with_gps((12, 2, 47.04), "S", (77, 2, 34.08), "W")
    lat, lon = photo_gps(image) or (0.0, 0.0)
    assert (lat, lon) == pytest.approx(ACCOUNT, abs=1e-7)
    assert verify_photo(image, ACCOUNT).status is GeoStatus.VERIFIED


def test_photo_taken_elsewhere_is_far_from_address() -> None:
    image = jpeg_with_gps((12, 5, 0), "S", (77, 2, 34.08), "W")
    result = verify_photo(image, ACCOUNT)
    assert result.status is GeoStatus.FAR_FROM_ADDRESS
    assert result.distance_m == pytest.approx(0.0369333 * METRES_PER_DEG_LAT, abs=0.1)  # 4,106.8 m


def test_photo_without_gps_or_not_an_image_has_no_fix() -> None:
    plain = io.BytesIO()
    Image.new("RGB", (4, 4)).save(plain, "JPEG")
    assert photo_gps(plain.getvalue()) is None
    assert photo_gps(b"\xff\xd8 definitely not a jpeg") is None
    assert verify_photo(b"", ACCOUNT).status is GeoStatus.NO_FIX
