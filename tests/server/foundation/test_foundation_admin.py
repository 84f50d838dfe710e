"""Users, collectors, zones, settings and the audit log through the API."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

LIMA_BLOCK = {
    "type": "Polygon",
    "coordinates": [
        [[-77.05, -12.07], [-77.02, -12.07], [-77.02, -12.04], [-77.05, -12.04], [-77.05, -12.07]]
    ],
}


def test_admin_creates_a_collector_with_shift_and_zones(
    client: FlaskClient, staff: dict[str, Any], auth_header: Any
) -> None:
    admin, dispatcher = auth_header("admin"), auth_header("dispatcher")
    user = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "username": "cobrador7",
            "password": "una-clave-larga",
            "role": "collector",
            "full_name": "Rosa",
        },
    )
    assert user.status_code == 201
    assert "password" not in user.json
    zone = client.post(
        "/api/v1/zones", headers=dispatcher, json={"name": "Centro", "geometry": LIMA_BLOCK}
    )
    assert zone.status_code == 201
    created = client.post(
        "/api/v1/collectors",
        headers=admin,
        json={
            "user_id": user.json["id"],
            "code": "C07",
            "full_name": "Rosa Flores",
            "start_lat": -12.05,
            "start_lon": -77.03,
            "end_lat": -12.05,
            "end_lon": -77.03,
            "shift_start": "07:30",
            "shift_end": "16:00",
            "travel_mode": "walk",
            "max_visits_per_day": 20,
            "zone_ids": [zone.json["id"]],
        },
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert (body["shift_start"], body["shift_end"], body["zones"]) == (
        "07:30",
        "16:00",
        [zone.json["id"]],
    )
    patched = client.patch(
        f"/api/v1/collectors/{body['id']}", headers=admin, json={"shift_end": "17:15"}
    )
    assert patched.json["shift_end"] == "17:15"
    bad_time = client.patch(
        f"/api/v1/collectors/{body['id']}", headers=admin, json={"shift_end": "25:00"}
    )
    assert bad_time.status_code == 422
    assert "shift_end" in bad_time.json["errors"]


def test_user_validation_and_conflicts(
    client: FlaskClient, staff: dict[str, Any], auth_header: Any
) -> None:
    admin = auth_header("admin")
    bad = client.post(
        "/api/v1/users", headers=admin, json={"username": "X", "password": "short", "role": "boss"}
    )
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"username", "password", "role"}
    unknown = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "username": "nuevo",
            "password": "una-clave-larga",
            "role": "manager",
            "is_root": True,
        },
    )
    assert unknown.status_code == 422
    assert unknown.json["errors"] == {"is_root": ["Unknown field."]}
    taken = client.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "manager", "password": "una-clave-larga", "role": "manager"},
    )
    assert taken.status_code == 409


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "Self-intersection",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [[-12.05, -77.05], [-12.02, -77.05], [-12.02, -95.0], [-12.05, -77.05]]
                ],
            },
            "longitude first",
        ),
        ({"type": "Point", "coordinates": [-77.0, -12.0]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": "nope"}, "Not a readable"),
    ],
)
def test_invalid_zone_geometries_are_refused(
    client: FlaskClient,
    staff: dict[str, Any],
    auth_header: Any,
    geometry: dict[str, Any],
    message: str,
) -> None:
    response = client.post(
        "/api/v1/zones",
        headers=auth_header("dispatcher"),
        json={"name": "Mala", "geometry": geometry},
    )
    assert response.status_code == 422
    assert message in response.json["errors"]["geometry"][0]


def test_zone_membership_of_accounts_follows_polygons(
    client: FlaskClient, staff: dict[str, Any], factory: Any, auth_header: Any
) -> None:
    inside = factory.account("IN", lat=-12.05, lon=-77.03)
    outside = factory.account("OUT", lat=-12.20, lon=-76.95)
    headers = auth_header("dispatcher")
    zone = client.post(
        "/api/v1/zones",
        headers=headers,
        json={
            "name": "Centro",
            "geometry": {"type": "Feature", "properties": {}, "geometry": LIMA_BLOCK},
        },
    ).json
    listed = client.get(f"/api/v1/accounts?zone_id={zone['id']}", headers=headers).json
    assert [a["external_id"] for a in listed] == ["IN"]
    assert inside.id != outside.id
    collection = client.get("/api/v1/zones", headers=headers).json
    assert collection["type"] == "FeatureCollection"
    assert collection["features"][0]["geometry"]["type"] == "Polygon"


def test_settings_and_audit_log(
    client: FlaskClient, staff: dict[str, Any], auth_header: Any
) -> None:
    admin = auth_header("admin")
    assert (
        client.get("/api/v1/settings", headers=auth_header("manager")).json["timezone"]
        == "America/Lima"
    )
    bad = client.patch("/api/v1/settings", headers=admin, json={"timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    changed = client.patch(
        "/api/v1/settings", headers=admin, json={"contact_policy": "MX", "cash_allowed": False}
    )
    assert changed.json["cash_allowed"] is False
    assert (
        client.patch(
            "/api/v1/settings", headers=auth_header("dispatcher"), json={"cash_allowed": True}
        ).status_code
        == 403
    )
    client.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "nuevo", "password": "una-clave-larga", "role": "manager"},
    )
    entries = client.get("/api/v1/audit", headers=admin).json
    actions = [(e["action"], e["entity"], e["actor_username"]) for e in entries]
    assert ("create", "user", "admin") in actions
    assert ("update", "agency_settings", "admin") in actions
    assert all("password" not in str(e["details"]) or "fields" in e["details"] for e in entries)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nope", 404),
        ("DELETE", "/api/v1/users", 405),
        ("POST", "/api/v1/users", 400),
    ],
)
def test_client_errors_are_problem_details(
    client: FlaskClient,
    staff: dict[str, Any],
    auth_header: Any,
    method: str,
    path: str,
    status: int,
) -> None:
    response = client.open(
        path,
        method=method,
        headers=auth_header("admin"),
        data="{not json",
        content_type="application/json",
    )
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert {"type", "title", "status", "detail", "instance"} <= set(response.json)
    assert response.json["status"] == status


def test_dispatcher_places_a_pending_account_on_the_map(
    client: FlaskClient, staff: dict[str, Any], factory: Any, auth_header: Any
) -> None:
    account = factory.account("NOPIN", lat=None, lon=None)
    headers = auth_header("dispatcher")
    client.post("/api/v1/zones", headers=headers, json={"name": "Centro", "geometry": LIMA_BLOCK})
    placed = client.patch(
        f"/api/v1/accounts/{account.id}", headers=headers, json={"lat": -12.05, "lon": -77.03}
    )
    assert placed.status_code == 200
    assert (placed.json["geocode_status"], placed.json["zone_id"]) == ("manual", 1)
    half = client.patch(f"/api/v1/accounts/{account.id}", headers=headers, json={"lat": -12.0})
    assert half.status_code == 422
    assert (
        client.patch(
            f"/api/v1/accounts/{account.id}", headers=auth_header("manager"), json={"active": False}
        ).status_code
        == 403
    )
