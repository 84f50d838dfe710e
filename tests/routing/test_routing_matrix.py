import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from geopy.distance import great_circle

from routing.matrix import (
    EARTH_RADIUS_M,
    OsrmTableProvider,
    TravelProfile,
    durations_from_distances,
    haversine_m,
    haversine_matrices,
    haversine_matrix_m,
)

LIMA = np.column_stack(
    [
        np.random.default_rng(3).uniform(-12.2, -11.9, 40),
        np.random.default_rng(4).uniform(-77.1, -76.9, 40),
    ]
)


def test_matrix_matches_geopy_great_circle() -> None:
    matrix = haversine_matrix_m(LIMA[:, 0], LIMA[:, 1])
    for i in range(0, 40, 7):
        for j in range(40):
            reference = great_circle(LIMA[i], LIMA[j], radius=EARTH_RADIUS_M / 1000).m
            assert matrix[i, j] == pytest.approx(reference, abs=0.01)
            assert haversine_m(*LIMA[i], *LIMA[j]) == pytest.approx(reference, abs=0.01)
    assert np.allclose(matrix, matrix.T)
    assert (np.diag(matrix) == 0).all()


def test_doors_a_few_metres_apart_are_still_accurate() -> None:
    points = np.array([[-12.05, -77.04], [-12.05001, -77.04001]])
    matrix = haversine_matrix_m(points[:, 0], points[:, 1])
    reference = great_circle(points[0], points[1], radius=6371.0088).m
    assert matrix[0, 1] == pytest.approx(reference, abs=5e-3)


def test_durations_round_up_with_circuity_and_speed() -> None:
    metres = np.array([[0.0, 1000.0], [250.0, 0.0]])
    seconds = durations_from_distances(metres, TravelProfile(speed_kmh=36.0, circuity=1.5))
    assert seconds.tolist() == [[0, 150], [38, 0]]  # 1000 m x 1.5 at 10 m/s; 37.5 s -> 38 s


def test_a_2000_square_matrix_is_integer_seconds_and_consistent() -> None:
    """Speed is measured in bench/routing.py; here the big matrix must be right."""
    points = np.column_stack(
        [
            np.random.default_rng(0).uniform(-12.2, -11.9, 2000),
            np.random.default_rng(1).uniform(-77.1, -76.9, 2000),
        ]
    )
    durations = haversine_matrices(points, [TravelProfile(25.0)]).durations_s[0]
    assert durations.shape == (2000, 2000)
    assert np.issubdtype(durations.dtype, np.integer)
    assert (np.diag(durations) == 0).all()
    assert (durations == durations.T).all()
    metres = haversine_m(*points[3], *points[1999])
    assert 0 <= durations[3, 1999] - metres / (25.0 / 3.6) < 1


@pytest.fixture()
def osrm_server() -> Iterator[tuple[str, list[str]]]:
    """A tiny OSRM stand-in: answers /table for the given points from their index gaps."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            coords = self.path.split("/table/v1/driving/")[1].split("?")[0].split(";")
            n = len(coords)
            body = {
                "code": "Ok",
                "durations": [[abs(i - j) * 10.4 for j in range(n)] for i in range(n)],
                "distances": [[abs(i - j) * 100.0 for j in range(n)] for i in range(n)],
            }
            if "-99" in self.path:
                body["durations"][0][1] = None
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_osrm_table_provider_reads_a_real_http_answer(osrm_server: tuple[str, list[str]]) -> None:
    url, seen = osrm_server
    points = np.array([[-12.0, -77.0], [-12.1, -77.1], [-12.2, -77.2]])
    distances, durations = OsrmTableProvider(url).matrices(points)
    assert durations.tolist() == [[0, 11, 21], [11, 0, 11], [21, 11, 0]]
    assert distances[0, 2] == 200
    assert "-77.000000,-12.000000;" in seen[0]
    assert (
        "annotations=duration%2Cdistance" in seen[0] or "annotations=duration,distance" in seen[0]
    )


def test_osrm_unroutable_pairs_are_an_error(osrm_server: tuple[str, list[str]]) -> None:
    url, _ = osrm_server
    with pytest.raises(ValueError, match="cannot be routed"):
        OsrmTableProvider(url).matrices(np.array([[-12.0, -99.0], [-12.1, -77.1]]))
