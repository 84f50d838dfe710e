"""The page shells and their libraries, without a browser: served offline, carrying no data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import create_app

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["/", "/login", "/map", "/dispatch", "/dashboard"])
def test_web_shells_are_served_without_a_token(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    # Every library is local: no CDN link that breaks offline.
    assert "https://cdn" not in response.get_data(as_text=True)
    assert "unpkg" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("library", "filename"),
    [
        ("leaflet", "leaflet.js"),
        ("leaflet", "leaflet.css"),
        ("markercluster", "leaflet.markercluster.js"),
        ("markercluster", "MarkerCluster.Default.css"),
    ],
)
def test_web_leaflet_comes_from_the_pinned_pypi_packages(
    client: FlaskClient, library: str, filename: str
) -> None:
    response = client.get(f"/web/vendor/{library}/{filename}")
    assert response.status_code == 200
    assert len(response.get_data()) > 1000
    response.close()


def test_web_chart_library_comes_from_node_modules(client: FlaskClient) -> None:
    if not (REPO / "node_modules" / "chart.js" / "dist").is_dir():
        pytest.skip("node_modules is not installed: `npm ci` (make run and make test do it)")
    response = client.get("/web/vendor/chartjs/chart.umd.min.js")
    assert response.status_code == 200
    assert b"Chart" in response.get_data()
    response.close()


def test_web_vendor_route_serves_only_known_libraries(client: FlaskClient) -> None:
    assert client.get("/web/vendor/jquery/jquery.js").status_code == 404
    assert client.get("/web/vendor/leaflet/../../../../etc/passwd").status_code == 404


def test_web_tile_url_is_configurable_and_may_be_empty(app: Flask, tmp_path: Path) -> None:
    default = app.test_client().get("/map").get_data(as_text=True)
    assert 'data-tile-url="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in default
    offline = create_app({**app.config, "TILE_URL": "", "INSTANCE_PATH": str(tmp_path)})
    page = offline.test_client().get("/map").get_data(as_text=True)
    assert 'data-tile-url=""' in page


def test_web_stream_alone_accepts_the_token_as_a_query_parameter(
    client: FlaskClient, staff: dict[str, Any], factory: Any, auth_header: Any
) -> None:
    token = auth_header("dispatcher")["Authorization"].removeprefix("Bearer ")
    stream = client.get(f"/api/v1/tracking/stream?access_token={token}")
    assert stream.status_code == 200
    assert stream.mimetype == "text/event-stream"
    stream.close()
    assert client.get("/api/v1/tracking/stream").status_code == 401
    assert client.get("/api/v1/tracking/stream?access_token=forged").status_code == 401
    # Everywhere else a token in the URL is ignored (URLs end up in logs and history).
    assert client.get(f"/api/v1/tracking/live?access_token={token}").status_code == 401
    by_header = client.get("/api/v1/tracking/stream", headers=auth_header(staff["manager"]))
    assert by_header.status_code == 200
    by_header.close()
    factory.collector("collector01")
    own = auth_header("collector01")["Authorization"].removeprefix("Bearer ")
    assert client.get(f"/api/v1/tracking/stream?access_token={own}").status_code == 403
