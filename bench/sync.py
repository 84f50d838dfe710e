"""Sync benchmark: a real server process on loopback, driven over HTTP from this process.

    .venv/bin/python bench/sync.py                                   # SQLite
    scripts/with_postgres.sh .venv/bin/python bench/sync.py          # PostgreSQL (DATABASE_URL)

Measures, each repeated and reported as medians:
  * push of 10,000 mutations in batches of 100 (check_in, record_visit, add_note, check_out
    per visit), mutations/s, each run on a fresh device so every mutation is really applied;
  * a 5 MB photo over tus in 256 KB chunks with sha256 chunk checksums, MB/s, sent by a lean
    http.client uploader (what the server sustains), by our handheld's uploader (on
    ``requests``, which costs the client ~2 ms of CPU per call) and, as peers in the same run,
    the tuspy client, the same PATCHes to a no-op app from each client, and the disk floor
    (the same 20 appends and the one fsync the server makes before it calls the photo stored,
    without HTTP): on a shared machine the disk often sets the pace;
  * pull of a 60-stop day: the full first pull and an incremental pull after one change, ms;
  * floors (peers): GET /healthz, and the same 20 chunk PATCHes (with the client's sha256
    checksums) sent to a WSGI app that only reads the body (bench/wsgi_floor.py) under the
    same gunicorn settings: what HTTP costs before the server does anything.

The server runs under gunicorn (one gthread worker), the production shape.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mobile_client_stub.api import ServerApi  # noqa: E402
from mobile_client_stub.photos import make_jpeg  # noqa: E402
from mobile_client_stub.store import LocalStore  # noqa: E402
from mobile_client_stub.tus_upload import TusUploader  # noqa: E402

SECRET_KEY = "bench-sync-" + "k" * 40
PASSWORD = "bench-pass-1"
STOPS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(database_url: str, instance: Path) -> None:
    """Migrate; one collector with a 60-stop route today."""
    from flask_migrate import upgrade

    from server import create_app
    from server.auth import hash_password
    from server.extensions import db
    from server.models import Account, Assignment, Collector, Portfolio, User

    app = create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": database_url,
        }
    )
    with app.app_context():
        upgrade()
        day = datetime.now(ZoneInfo("America/Lima")).date()
        portfolio = Portfolio(code="bench-sync", name="bench")
        user = User(
            username="bench",
            role="collector",
            full_name="Bench",
            password_hash=hash_password(PASSWORD),
        )
        db.session.add_all([portfolio, user])
        db.session.flush()
        collector = Collector(
            user_id=user.id,
            code="BENCH",
            full_name="Bench",
            start_lat=-12.05,
            start_lon=-77.04,
            end_lat=-12.05,
            end_lon=-77.04,
        )
        db.session.add(collector)
        db.session.flush()
        for k in range(STOPS):
            account = Account(
                portfolio_id=portfolio.id,
                external_id=f"B{k}",
                debtor_name=f"Deudor {k}",
                phones=["+51 999 000 000"],
                address=f"Jr. Prueba {k}",
                lat=-12.05 - k * 0.001,
                lon=-77.04,
                geocode_status="ok",
                balance=1000,
                overdue_balance=300,
                days_past_due=40,
                negotiation_options={"max_installments": 6},
                created_at=datetime.now(UTC) - timedelta(days=60),
            )
            db.session.add(account)
            db.session.flush()
            db.session.add(
                Assignment(
                    account_id=account.id, collector_id=collector.id, date=day, sequence=k + 1
                )
            )
        db.session.commit()
        db.engine.dispose()


def start_server(
    database_url: str, instance: Path, port: int, app: str = "server:create_app()"
) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        INSTANCE_PATH=str(instance),
        MEDIA_DIR=str(instance / "media"),
        LOGIN_RATE_LIMIT="10000 per minute",
    )
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            # Access lines as `make run` and `make serve` write them (to a discarded stdout).
            "--access-logfile",
            "-",
            # The floor app lives beside this script (never on the real server's path: this
            # script is called sync.py, like the package).
            *(["--pythonpath", str(ROOT / "bench")] if app.startswith("wsgi_floor") else []),
            app,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def register(base: str) -> ServerApi:
    api = ServerApi(base, timeout=(3, 120))
    token = api.login("bench", PASSWORD)
    device = api.register_device(token, "bench", "bench")
    api.credential = device["credential"]
    api.device_id = device["device_id"]  # type: ignore[attr-defined]
    return api


def bench_push(base: str, total: int, batch: int) -> float:
    """Mutations/s for ``total`` mutations pushed ``batch`` at a time by one fresh device."""
    api = register(base)
    accounts = [a["account_id"] for a in api.pull(None)["accounts"]]
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    mutations: list[dict[str, Any]] = []
    while len(mutations) < total:
        visit = str(uuid.uuid4())
        account = accounts[len(mutations) % len(accounts)]
        for name, args in (
            (
                "check_in",
                {"visit_uuid": visit, "account_id": account, "lat": -12.05, "lon": -77.04},
            ),
            ("record_visit", {"visit_uuid": visit, "disposition": "no_answer"}),
            (
                "add_note",
                {
                    "note_uuid": str(uuid.uuid4()),
                    "account_id": account,
                    "visit_uuid": visit,
                    "text": "Nadie atiende.",
                },
            ),
            ("check_out", {"visit_uuid": visit}),
        ):
            mutations.append(
                {"id": len(mutations) + 1, "name": name, "args": args, "client_time": when}
            )
    mutations = mutations[:total]
    started = time.perf_counter()
    for k in range(0, total, batch):
        reply = api.push(
            {
                "device_id": api.device_id,  # type: ignore[attr-defined]
                "device_time": datetime.now(UTC).isoformat(),
                "mutations": mutations[k : k + batch],
            }
        )
        assert reply["last_applied_id"] == min(k + batch, total), reply
        assert all(r["status"] == "applied" for r in reply["results"])
    return total / (time.perf_counter() - started)


def bench_upload(base: str, tmp: Path, size: int, chunk: int, seed_: int) -> tuple[float, float]:
    """MB/s for one fresh photo with our uploader, then one with tuspy (peer)."""
    from tusclient import client as tus_client

    api = register(base)
    rates = []
    for k, use_tuspy in enumerate((False, True)):
        data = make_jpeg(random.Random(seed_ * 2 + k), f"bench {seed_} {k}", size)
        sha = hashlib.sha256(data).hexdigest()
        path = tmp / f"photo-{seed_}-{k}.jpg"
        path.write_bytes(data)
        # Taking the photo (the handheld's store) is not part of uploading it.
        store = LocalStore(tmp / f"store-{seed_}")
        store.add_photo(sha, data, "image/jpeg")
        started = time.perf_counter()
        if use_tuspy:
            client = tus_client.TusClient(
                f"{base}/api/v1/media/", headers={"Authorization": f"Bearer {api.credential}"}
            )
            with path.open("rb") as stream:
                client.uploader(
                    file_stream=stream,
                    chunk_size=chunk,
                    metadata={"sha256": sha},
                    upload_checksum=True,
                ).upload()
        else:
            TusUploader(api, store, chunk_size=chunk).upload(store.pending_photos()[0])
        rates.append(len(data) / (time.perf_counter() - started) / 1e6)
        store.close()
    return rates[0], rates[1]


def disk_floor(folder: Path, size: int, chunk: int) -> float:
    """MB/s of appending ``size`` bytes in ``chunk`` pieces, then one fsync."""
    block = os.urandom(chunk)
    path = folder / "disk-floor.bench"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        started = time.perf_counter()
        for _ in range(size // chunk):
            os.write(fd, block)
        os.fsync(fd)
        return size / (time.perf_counter() - started) / 1e6
    finally:
        os.close(fd)
        path.unlink()


def bench_pull(base: str, repeats: int) -> tuple[float, float, int]:
    """Median ms of a full first pull and of an incremental pull with nothing new."""
    api = register(base)
    full, incremental = [], []
    stops = 0

    def pull(cursor: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": 2 * STOPS + 10}  # the whole day in one page
        if cursor:
            params["cursor"] = cursor
        return dict(api.request("GET", "/api/v1/sync/pull", params=params).json())

    for _ in range(repeats):
        started = time.perf_counter()
        page = pull(None)
        full.append((time.perf_counter() - started) * 1000)
        assert not page["has_more"]
        stops = len(page["stops"])
        started = time.perf_counter()
        pull(page["cursor"])
        incremental.append((time.perf_counter() - started) * 1000)
    return statistics.median(full), statistics.median(incremental), stops


def bench_chunk_floor(base: str, size: int, chunk: int) -> float:
    """MB/s of the upload's 20 PATCHes (with checksums) against a body-reading no-op app."""
    session = requests.Session()
    data = os.urandom(size)
    started = time.perf_counter()
    for offset in range(0, size, chunk):
        piece = data[offset : offset + chunk]
        digest = base64.b64encode(hashlib.sha256(piece).digest()).decode("ascii")
        session.patch(
            f"{base}/floor",
            data=piece,
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Upload-Checksum": f"sha256 {digest}",
            },
            timeout=10,
        ).raise_for_status()
    return size / (time.perf_counter() - started) / 1e6


def _lean_patches(
    connection: http.client.HTTPConnection, path: str, data: bytes, chunk: int, auth: str
) -> None:
    """The upload's PATCHes, each with its sha256, on one kept-alive connection."""
    for offset in range(0, len(data), chunk):
        piece = data[offset : offset + chunk]
        digest = base64.b64encode(hashlib.sha256(piece).digest()).decode("ascii")
        connection.request(
            "PATCH",
            path,
            body=piece,
            headers={
                "Authorization": auth,
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Upload-Checksum": f"sha256 {digest}",
            },
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 204, response.status


def bench_lean_upload(
    port: int, floor_port: int, credential: str, seed_: int
) -> tuple[float, float]:
    """MB/s of a fresh photo (creation + chunks) and of the same PATCHes to the floor app, sent
    with http.client: a lean client, so the number is what the server sustains (``requests``
    spends ~2 ms of client CPU per call on these cores, more than a chunk's server time)."""
    data = make_jpeg(random.Random(10_000 + seed_), f"lean {seed_}", 5 * 1024 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    auth = f"Bearer {credential}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    connection.request(
        "POST",
        "/api/v1/media/",
        headers={
            "Authorization": auth,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "sha256 " + base64.b64encode(sha.encode()).decode("ascii"),
        },
    )
    created = connection.getresponse()
    created.read()
    assert created.status == 201, created.status
    _lean_patches(connection, created.headers["Location"], data, 256 * 1024, auth)
    ours = len(data) / (time.perf_counter() - started) / 1e6
    connection.close()
    floor = http.client.HTTPConnection("127.0.0.1", floor_port, timeout=30)
    started = time.perf_counter()
    _lean_patches(floor, "/floor", data, 256 * 1024, auth)
    floor_rate = len(data) / (time.perf_counter() - started) / 1e6
    floor.close()
    return ours, floor_rate


def bench_floor(base: str, repeats: int) -> float:
    """Median ms of GET /healthz: the per-request floor of this server on this machine now."""
    session = requests.Session()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.get(f"{base}/healthz", timeout=10).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mutations", type=int, default=10_000)
    parser.add_argument("--uploads", type=int, default=9, help="photos per uploader")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp_name:
        tmp = Path(tmp_name)
        database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.db'}"
        seed(database_url, tmp)
        port = free_port()
        server = start_server(database_url, tmp, port)
        floor_port = free_port()
        floor_server = start_server(database_url, tmp, floor_port, app="wsgi_floor:app")
        base = f"http://127.0.0.1:{port}"
        try:
            push = [bench_push(base, args.mutations, 100) for _ in range(args.repeats)]
            uploads = []
            lean = []
            lean_credential = str(register(base).credential)
            for k in range(args.uploads):
                lean.append(bench_lean_upload(port, floor_port, lean_credential, k))
                # Interleaved, so each floor is measured under the same load as the uploads.
                ours, tuspy = bench_upload(base, tmp, 5 * 1024 * 1024, 256 * 1024, k)
                uploads.append(
                    (
                        ours,
                        tuspy,
                        bench_chunk_floor(
                            f"http://127.0.0.1:{floor_port}", 5 * 1024 * 1024, 256 * 1024
                        ),
                        disk_floor(tmp / "media" / "uploads", 5 * 1024 * 1024, 256 * 1024),
                    )
                )
            full_ms, incremental_ms, stops = bench_pull(base, max(10, args.repeats * 5))
            floor_ms = bench_floor(base, 30)
        finally:
            for process in (server, floor_server):
                process.kill()
                process.wait()
    backend = database_url.split(":", 1)[0]
    rows = [
        (
            f"push {args.mutations:,} mutations, batches of 100",
            f"{statistics.median(push):,.0f}",
            "mutations/s",
            ">= 2,000",
        ),
        (
            "tus 5 MB photo, 256 KB chunks (mobile_client_stub)",
            f"{statistics.median(u[0] for u in uploads):.1f}",
            "MB/s",
            ">= 50",
        ),
        (
            "tus 5 MB photo, 256 KB chunks (lean http.client)",
            f"{statistics.median(u[0] for u in lean):.1f}",
            "MB/s",
            ">= 50",
        ),
        (
            "HTTP floor: the same PATCHes, lean client (peer)",
            f"{statistics.median(u[1] for u in lean):.1f}",
            "MB/s",
            "",
        ),
        (
            "tus 5 MB photo, 256 KB chunks (tuspy, peer)",
            f"{statistics.median(u[1] for u in uploads):.1f}",
            "MB/s",
            "",
        ),
        (
            "HTTP floor: the same PATCHes to a no-op app (peer)",
            f"{statistics.median(u[2] for u in uploads):.1f}",
            "MB/s",
            "",
        ),
        (
            "disk floor: 20 x 256 KB appends, one fsync (peer)",
            f"{statistics.median(u[3] for u in uploads):.1f}",
            "MB/s",
            "",
        ),
        (f"pull of a {stops}-stop day, full", f"{full_ms:.1f}", "ms", "< 100"),
        (f"pull of a {stops}-stop day, incremental", f"{incremental_ms:.1f}", "ms", ""),
        ("GET /healthz (request floor, peer)", f"{floor_ms:.1f}", "ms", ""),
    ]
    load = os.getloadavg()[0]
    print(
        f"\nsync benchmark on {backend}, gunicorn 1 worker x 4 threads, medians of "
        f"{args.repeats} runs (uploads: {args.uploads}, pull: {max(10, args.repeats * 5)}); "
        f"load average {load:.1f} on {os.cpu_count()} CPUs\n"
    )
    print(f"{'measure':<52} {'median':>10}  {'unit':<12} {'target'}")
    for name, value, unit, target in rows:
        print(f"{name:<52} {value:>10}  {unit:<12} {target}")


if __name__ == "__main__":
    main()
