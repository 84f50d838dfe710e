"""Geocoding pending accounts through geopy against a local Nominatim-compatible server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from flask import Flask

from server import jobs
from server.extensions import db
from server.models import Account
from server.services.geocoding import geocode_pending

KNOWN = {"Jr. Junín 123, Cercado de Lima": ("-12.0464", "-77.0428")}


class NominatimHandler(BaseHTTPRequestHandler):
    """Answers /search like Nominatim: a JSON list of places, empty when unknown."""

    queries: list[str] = []

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)["q"][0]
        self.queries.append(query)
        places = []
        if query in KNOWN:
            lat, lon = KNOWN[query]
            places = [
                {
                    "lat": lat,
                    "lon": lon,
                    "display_name": query,
                    "place_id": 1,
                    "boundingbox": [lat, lat, lon, lon],
                }
            ]
        body = json.dumps(places).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture()
def nominatim() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NominatimHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pending_accounts_are_geocoded(app: Flask, factory: Any, nominatim: str) -> None:
    app.config.update(GEOCODER="nominatim", GEOCODER_URL=nominatim)
    found = factory.account(
        "G-1", lat=None, lon=None, address="Jr. Junín 123", district="Cercado de Lima"
    )
    lost = factory.account(
        "G-2", lat=None, lon=None, address="Calle Inexistente 9", district="Ninguno"
    )
    result = geocode_pending(limit=10, min_delay_s=0.0)
    assert result == {"geocoded": 1, "failed": 1}
    db.session.refresh(found)
    db.session.refresh(lost)
    assert (found.lat, found.lon, found.geocode_status) == (-12.0464, -77.0428, "ok")
    assert lost.geocode_status == "failed"
    assert NominatimHandler.queries[-2:] == [
        "Jr. Junín 123, Cercado de Lima",
        "Calle Inexistente 9, Ninguno",
    ]


def test_import_starts_background_geocoding(
    app: Flask, client: Any, staff: Any, auth_header: Any, nominatim: str
) -> None:

    app.config.update(GEOCODER="nominatim", GEOCODER_URL=nominatim)
    csv_text = "cuenta;nombre;direccion;distrito\nG-9;Ana;Jr. Junín 123;Cercado de Lima\n"
    response = client.post(
        "/api/v1/accounts/import",
        data=csv_text.encode(),
        headers=auth_header("dispatcher"),
        content_type="text/csv",
    )
    assert response.json["created"] == 1
    jobs.wait_for_queue("geocoding")
    db.session.expire_all()
    account = db.session.execute(
        db.select(Account).where(Account.external_id == "G-9")
    ).scalar_one()
    assert (account.geocode_status, account.lat) == ("ok", -12.0464)


def test_with_redis_the_job_runs_on_an_rq_worker(
    app: Flask,
    client: Any,
    staff: Any,
    auth_header: Any,
    nominatim: str,
    redis_url: str,
    database_url: str,
) -> None:
    app.config.update(GEOCODER="nominatim", GEOCODER_URL=nominatim, REDIS_URL=redis_url)
    csv_text = "cuenta;nombre;direccion;distrito\nG-7;Ana;Jr. Junín 123;Cercado de Lima\n"
    response = client.post(
        "/api/v1/accounts/import",
        data=csv_text.encode(),
        headers=auth_header("dispatcher"),
        content_type="text/csv",
    )
    assert response.json["created"] == 1
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": app.config["INSTANCE_PATH"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "GEOCODER": "nominatim",
        "GEOCODER_URL": nominatim,
        "REDIS_URL": redis_url,
    }
    worker = subprocess.run(
        [
            str(Path(sys.executable).parent / "rq"),
            "worker",
            "geocoding",
            "--burst",
            "--url",
            redis_url,
        ],
        env=env,
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    db.session.expire_all()
    account = db.session.execute(
        db.select(Account).where(Account.external_id == "G-7")
    ).scalar_one()
    assert (account.geocode_status, account.lat) == ("ok", -12.0464)
