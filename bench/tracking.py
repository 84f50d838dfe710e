"""Tracking load test: a real server process on loopback, driven from this process.

    .venv/bin/python bench/tracking.py                                   # SQLite
    PG_DURABLE=1 scripts/with_postgres.sh .venv/bin/python bench/tracking.py   # PostgreSQL
    .venv/bin/python bench/tracking.py --only live                       # the live view alone

Measures (each repeated, medians reported):
  * batch ingestion, fixes/s, batches of 50 from many devices in parallel, after every
    device has posted once (the steady state of a working day, not a cold start);
  * single-fix OsmAnd GETs offered at a fixed rate (300/s), achieved rate and p50/p99 latency
    measured from the scheduled send time (no coordinated omission);
  * GET /api/v1/tracking/live with 1,000 collectors (each with a position and 20 stops today);
  * fan-out of one position to 200 SSE subscribers (post -> last subscriber has it).

The server runs under gunicorn (gthread) as ``make serve`` runs it: two workers sharing the
stream through a private Redis; each worker's threads are kept on one core
(gunicorn.conf.py; ``GUNICORN_PIN_WORKERS=0`` turns that off). An SSE connection holds a
thread, hence the large thread count.

The load generators use plain ``http.client`` and their own CPU per request is printed
beside the server's: both run on the same cores, so a costly client would lower the measured
rate (``requests`` cost about as much CPU as the server's work). Batch posters keep their
connection alive, as the handheld does while it uploads a backlog. Each OsmAnd fix opens its
own connection, as a phone does: 1,000 phones at 300 fixes/s send every 3.3 s, longer than
the server keeps an idle connection (gunicorn's keepalive, 2 s), and a reverse proxy in front
opens one per request by default too. A few connections kept alive for the whole run would
instead stay with whichever worker accepted them first: in runs here one worker got most of
the fixes and its core saturated while the other idled.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import runpy
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLLECTORS = 1000
STOPS_PER_COLLECTOR = 20
LIMA = (-12.0464, -77.0428)
SECRET_KEY = "bench-" + "k" * 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(database_url: str, instance: Path) -> dict[str, Any]:
    """Migrate and build 1,000 collectors with devices, today's stops and a dispatcher."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, select, text

    from server import create_app
    from server.auth import hash_device_credential, hash_password, issue_token
    from server.extensions import db
    from server.models import Account, Assignment, Collector, Device, Portfolio, User
    from server.services.settings import get_settings

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": SECRET_KEY,
        }
    )
    rng = random.Random(5)
    with app.app_context():
        if database_url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        password = hash_password("bench")
        db.session.execute(
            insert(User),
            [{"username": "dispatcher", "role": "dispatcher", "password_hash": password}]
            + [
                {"username": f"c{n:04d}", "role": "collector", "password_hash": password}
                for n in range(COLLECTORS)
            ],
        )
        users = dict(db.session.execute(select(User.username, User.id)).all())
        homes = [
            (LIMA[0] + rng.uniform(-0.08, 0.08), LIMA[1] + rng.uniform(-0.05, 0.05))
            for _ in range(COLLECTORS)
        ]
        db.session.execute(
            insert(Collector),
            [
                {
                    "user_id": users[f"c{n:04d}"],
                    "code": f"C{n:04d}",
                    "full_name": f"Cobrador {n}",
                    "start_lat": lat,
                    "start_lon": lon,
                    "end_lat": lat,
                    "end_lon": lon,
                    "shift_start_min": 0,
                    "shift_end_min": 24 * 60,
                }
                for n, (lat, lon) in enumerate(homes)
            ],
        )
        collectors = dict(db.session.execute(select(Collector.code, Collector.id)).all())
        credentials = []
        device_rows = []
        for n in range(COLLECTORS):
            secret = "dev_" + secrets.token_urlsafe(32)
            tracking_id = secrets.token_hex(16)
            device_id = str(uuid.uuid4())
            device_rows.append(
                {
                    "id": device_id,
                    "collector_id": collectors[f"C{n:04d}"],
                    "credential_hash": hash_device_credential(secret),
                    "tracking_id": tracking_id,
                    "name": "bench",
                    "platform": "bench",
                    "last_sync_at": datetime.now(UTC) - timedelta(minutes=rng.randint(1, 60)),
                }
            )
            credentials.append({"secret": secret, "tracking_id": tracking_id, "home": homes[n]})
        db.session.execute(insert(Device), device_rows)
        db.session.execute(insert(Portfolio), [{"code": "bench", "name": "bench"}])
        portfolio_id = db.session.execute(select(Portfolio.id)).scalar_one()
        db.session.execute(
            insert(Account),
            [
                {
                    "portfolio_id": portfolio_id,
                    "external_id": f"A{n}",
                    "debtor_name": "Deudor",
                    "lat": homes[n // STOPS_PER_COLLECTOR][0] + rng.uniform(-0.01, 0.01),
                    "lon": homes[n // STOPS_PER_COLLECTOR][1] + rng.uniform(-0.01, 0.01),
                    "geocode_status": "ok",
                    "currency": "PEN",
                    "balance": Decimal("1000.00"),
                    "overdue_balance": Decimal("400.00"),
                    "days_past_due": 40,
                }
                for n in range(COLLECTORS * STOPS_PER_COLLECTOR)
            ],
        )
        accounts = dict(db.session.execute(select(Account.external_id, Account.id)).all())
        tz_today = datetime.now(ZoneInfo(get_settings().timezone)).date()
        start = datetime.now(UTC) - timedelta(hours=3)
        db.session.execute(
            insert(Assignment),
            [
                {
                    "account_id": accounts[f"A{n}"],
                    "collector_id": collectors[f"C{n // STOPS_PER_COLLECTOR:04d}"],
                    "date": tz_today,
                    "sequence": n % STOPS_PER_COLLECTOR,
                    "eta": start + timedelta(minutes=25 * (n % STOPS_PER_COLLECTOR)),
                    "status": "active",
                }
                for n in range(COLLECTORS * STOPS_PER_COLLECTOR)
            ],
        )
        db.session.commit()
        dispatcher = db.session.get(User, users["dispatcher"])
        token, _ = issue_token(dispatcher)
        db.engine.dispose()
    return {"devices": credentials, "token": token}


def start_redis() -> tuple[subprocess.Popen[bytes] | None, str | None]:
    """A private redis-server, so several workers share the stream (None if not installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process, f"redis://127.0.0.1:{port}/0"


def start_server(
    database_url: str, instance: Path, threads: int, workers: int, redis_url: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "INSTANCE_PATH": str(instance),
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "server:create_app()",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group, so workers never outlive the bench
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=5).ok:
                return process, base
        except requests.RequestException:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("server did not start")


def pinned() -> bool:
    """Whether gunicorn.conf.py keeps each worker on one core in this run (its own rule)."""
    rule = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["pins_workers"]
    return bool(rule(os.environ))


def client_cpu_s() -> float:
    """CPU seconds used so far by this process, the load generator, on the same cores."""
    times = os.times()
    return times.user + times.system


def server_cpu_s(pid: int) -> float:
    """CPU seconds used so far by the server's process group (master and workers).

    Reported beside wall-clock rates because this machine is shared: CPU per request says
    what the code costs whatever else is running.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[2] is the process group; utime and stime are fields 14 and 15 of stat.
        if int(fields[2]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


_local = threading.local()


def session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session  # type: ignore[no-any-return]


def raw_request(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request on this thread's kept-alive ``http.client`` connection.

    The load generators use this instead of ``requests``: at hundreds of requests per second
    requests' per-call machinery cost the client about as much CPU as the server's work, on
    the same two cores, so the client was part of what limited the measured rate.
    """
    connection: http.client.HTTPConnection | None = getattr(_local, "raw", None)
    for attempt in (1, 2):
        if connection is None:
            connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=30)
            _local.raw = connection
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, ConnectionError):
            # The server closed an idle kept-alive connection: reconnect once.
            connection.close()
            connection = _local.raw = None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def phone_request(base: str, path: str) -> tuple[int, bytes]:
    """One GET on a connection of its own, closed after the answer (see the module's doc)."""
    connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def bench_batches(
    base: str,
    devices: list[dict[str, Any]],
    seconds: float,
    clients: int,
    offset_s: float,
    rounds: int | None = None,
) -> tuple[float, int]:
    """Fixes/s accepted (and batches posted) while ``clients`` threads post batches of 50,
    for ``seconds`` or until every device has posted ``rounds`` batches."""
    stop = time.monotonic() + seconds
    counter = {"accepted": 0, "batches": 0}
    lock = threading.Lock()
    # Every run writes its own hour of the past, so no fix is "in the future" and no later
    # measurement (fan-out posts "now") finds a newer fix already stored.
    origin = datetime.now(UTC) - timedelta(hours=12) + timedelta(seconds=offset_s)

    def worker(index: int) -> None:
        rng = random.Random(index)
        mine = devices[index::clients]
        round_ = 0
        while time.monotonic() < stop and (rounds is None or round_ < rounds):
            for device in mine:
                if time.monotonic() >= stop:
                    break
                lat, lon = device["home"]
                first = origin + timedelta(seconds=round_ * 50)
                batch = [
                    {
                        "fix_time": (first + timedelta(seconds=k)).isoformat(),
                        "lat": lat + rng.uniform(-1e-4, 1e-4),
                        "lon": lon + rng.uniform(-1e-4, 1e-4),
                        "accuracy_m": 8.0,
                        "speed_mps": 1.2,
                        "battery_pct": 80.0,
                    }
                    for k in range(50)
                ]
                status, answer = raw_request(
                    base,
                    "POST",
                    "/api/v1/tracking/positions",
                    json.dumps({"positions": batch}).encode(),
                    {
                        "Authorization": f"Bearer {device['secret']}",
                        "Content-Type": "application/json",
                    },
                )
                if status != 200:
                    raise SystemExit(f"batch refused: {status} {answer[:200]!r}")
                with lock:
                    counter["accepted"] += json.loads(answer)["accepted"]
                    counter["batches"] += 1
            round_ += 1

    began = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return counter["accepted"] / (time.monotonic() - began), counter["batches"]


def bench_osmand(
    base: str, devices: list[dict[str, Any]], rate: float, seconds: float
) -> tuple[float, float, float]:
    """Offer ``rate`` single-fix GETs per second; return achieved rate, p50 and p99 in ms."""
    total = int(rate * seconds)
    clients = 24
    latencies: list[float] = []
    lock = threading.Lock()
    began = time.monotonic() + 0.2

    def worker(index: int) -> None:
        for n in range(index, total, clients):
            scheduled = began + n / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            device = devices[n % len(devices)]
            lat, lon = device["home"]
            query = urlencode(
                {
                    "id": device["tracking_id"],
                    "lat": lat,
                    "lon": lon,
                    "timestamp": int(time.time() * 1000) - 1000 + n % 1000,
                    "speed": 1.5,
                    "accuracy": 9,
                    "batt": 77,
                }
            )
            status, answer = phone_request(base, f"/osmand?{query}")
            if status != 200:
                raise SystemExit(f"OsmAnd fix refused: {status} {answer[:200]!r}")
            with lock:
                latencies.append((time.monotonic() - scheduled) * 1000)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    elapsed = time.monotonic() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies), p99


def bench_live(base: str, token: str, runs: int) -> tuple[float, float, int]:
    """Median and first-call milliseconds (the first reads every collector's stops)."""
    timings = []
    features = 0
    for _ in range(runs):
        began = time.perf_counter()
        response = session().get(
            f"{base}/api/v1/tracking/live", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        response.raise_for_status()
        timings.append((time.perf_counter() - began) * 1000)
        features = len(response.json()["features"])
    return statistics.median(timings), timings[0], features


def bench_fanout(
    base: str, token: str, device: dict[str, Any], subscribers: int, runs: int
) -> list[float]:
    """Seconds from posting one fix until the last of ``subscribers`` SSE clients has it."""
    received: list[list[float]] = [[] for _ in range(subscribers)]
    connected = threading.Barrier(subscribers + 1, timeout=60)
    done = threading.Event()

    def listen(index: int) -> None:
        try:
            with requests.get(
                f"{base}/api/v1/tracking/stream",
                stream=True,
                timeout=120,
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                for line in response.iter_lines(decode_unicode=True):
                    if line.startswith("retry:"):
                        connected.wait()
                    elif line == "event: position":
                        received[index].append(time.perf_counter())
                        if len(received[index]) >= runs or done.is_set():
                            return
        except (requests.RequestException, threading.BrokenBarrierError):
            return  # the server going away at the end of the bench

    threads = [threading.Thread(target=listen, args=(i,), daemon=True) for i in range(subscribers)]
    for thread in threads:
        thread.start()
    connected.wait()
    time.sleep(0.5)
    spans = []
    lat, lon = device["home"]
    for run in range(runs):
        fix = {"fix_time": datetime.now(UTC).isoformat(), "lat": lat + run * 1e-4, "lon": lon}
        sent = time.perf_counter()
        session().post(
            f"{base}/api/v1/tracking/positions",
            json={"positions": [fix]},
            headers={"Authorization": f"Bearer {device['secret']}"},
            timeout=30,
        ).raise_for_status()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(len(r) <= run for r in received):
            time.sleep(0.005)
        arrivals = [r[run] for r in received if len(r) > run]
        if len(arrivals) < subscribers:
            print(f"fan-out run {run}: only {len(arrivals)} of {subscribers} got the event")
            spans.append(float("inf"))
        else:
            spans.append(max(arrivals) - sent)
        time.sleep(0.3)
    done.set()
    return spans


def seed_instance(args: argparse.Namespace, instance: Path) -> tuple[str, str, dict[str, Any]]:
    """The database URL (a SQLite file in ``instance`` unless given), its engine name, and the
    seeded collectors, devices and token."""
    database_url = args.database_url or f"sqlite:///{instance / 'bench.db'}"
    engine = "SQLite"
    if database_url.startswith("postgres"):
        # Say whether commits wait for the disk: the test server skips it (with_postgres.sh).
        plain = database_url.replace("postgresql+psycopg", "postgresql", 1)
        with psycopg.connect(plain) as connection:
            row = connection.execute("SHOW fsync").fetchone()
        engine = f"PostgreSQL (fsync {row[0] if row else '?'})"
    print(f"Seeding {COLLECTORS} collectors on {engine}...", flush=True)
    return database_url, engine, seed(database_url, instance)


def live_only(args: argparse.Namespace) -> None:
    """The live view alone, on one worker: seed, give every collector a current fix (one
    OsmAnd request each, as the ingestion runs of the full bench leave them), measure."""
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        instance = Path(tmp)
        database_url, engine, data = seed_instance(args, instance)
        server, base = start_server(database_url, instance, 8, 1, None)
        try:
            bench_osmand(base, data["devices"], 300.0, COLLECTORS / 300.0)
            runs = max(10, args.runs)
            cpu = server_cpu_s(server.pid)
            cold_ms, _, features = bench_live(base, data["token"], runs=1)
            cold_cpu_ms = (server_cpu_s(server.pid) - cpu) * 1000
            cpu = server_cpu_s(server.pid)
            warm_ms, _, _ = bench_live(base, data["token"], runs=runs)
            warm_cpu_ms = (server_cpu_s(server.pid) - cpu) * 1000 / runs
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"\nLive view on {engine}, {features} collectors (gunicorn 1 worker gthread, loopback)")
    print(f"cold (first call): {cold_ms:.0f} ms, server CPU {cold_cpu_ms:.0f} ms")
    print(f"warm (median of {runs}): {warm_ms:.0f} ms, server CPU {warm_cpu_ms:.0f} ms (mean)")
    print("goal: < 100 ms")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--seconds", type=float, default=6.0, help="per ingestion/OsmAnd run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=6, help="parallel batch posters")
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers (>1 shares the stream via Redis)"
    )
    parser.add_argument(
        "--only",
        choices=["all", "live"],
        default="all",
        help="live: only the live view, after one current fix per collector (to iterate on it)",
    )
    args = parser.parse_args()
    # Make SIGTERM unwind through `finally`, so the server process never outlives the bench.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if args.only == "live":
        live_only(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        instance = Path(tmp)
        database_url, engine, data = seed_instance(args, instance)
        redis_server, redis_url = start_redis() if args.workers > 1 else (None, None)
        workers = args.workers if redis_url else 1
        server, base = start_server(database_url, instance, 256, workers, redis_url)
        print(f"Server up at {base}; measuring...", flush=True)
        try:
            rows: list[tuple[str, str, str]] = []
            # Steady state, not a cold start: every device posts once before the clock runs
            # (its first batch also creates its live row and stamps it as seen), an hour
            # before the measured fixes, so those still move every live row forward.
            bench_batches(base, data["devices"], 120.0, args.clients, -3600.0, 1)
            batch_rates, batch_cpu_ms, batch_client_ms = [], [], []
            for run in range(args.runs):
                cpu, client_cpu = server_cpu_s(server.pid), client_cpu_s()
                rate, batches = bench_batches(
                    base, data["devices"], args.seconds, args.clients, run * 3600.0
                )
                batch_rates.append(rate)
                batch_cpu_ms.append((server_cpu_s(server.pid) - cpu) * 1000 / max(batches, 1))
                batch_client_ms.append((client_cpu_s() - client_cpu) * 1000 / max(batches, 1))
            rows.append(
                (
                    "batch ingestion (50/batch)",
                    f"{statistics.median(batch_rates):,.0f} fixes/s",
                    ">= 10,000 fixes/s",
                )
            )
            per_batch = statistics.median(batch_cpu_ms)
            rows.append(
                (
                    "  server CPU per batch of 50",
                    f"{per_batch:.1f} ms = {50_000 / per_batch:,.0f} fixes/s per core",
                    "",
                )
            )
            rows.append(
                (
                    "  load generator CPU per batch",
                    f"{statistics.median(batch_client_ms):.1f} ms",
                    "",
                )
            )
            osmand, osmand_cpu_ms, osmand_client_ms = [], [], []
            for _ in range(args.runs):
                cpu, client_cpu = server_cpu_s(server.pid), client_cpu_s()
                result = bench_osmand(base, data["devices"], 300.0, args.seconds)
                osmand.append(result)
                requests_done = int(300.0 * args.seconds)  # every offered request completes
                osmand_cpu_ms.append(
                    (server_cpu_s(server.pid) - cpu) * 1000 / max(requests_done, 1)
                )
                osmand_client_ms.append((client_cpu_s() - client_cpu) * 1000 / requests_done)
            rows.append(
                (
                    "OsmAnd single fix, offered 300/s",
                    f"{statistics.median(o[0] for o in osmand):.0f} req/s, "
                    f"p50 {statistics.median(o[1] for o in osmand):.1f} ms, "
                    f"p99 {statistics.median(o[2] for o in osmand):.1f} ms",
                    "300 req/s, p99 < 50 ms",
                )
            )
            per_fix = statistics.median(osmand_cpu_ms)
            rows.append(
                (
                    "  server CPU per OsmAnd request",
                    f"{per_fix:.1f} ms = {1000 / per_fix:,.0f} req/s per core",
                    "",
                )
            )
            rows.append(
                (
                    "  load generator CPU per request",
                    f"{statistics.median(osmand_client_ms):.2f} ms",
                    "",
                )
            )
            live_runs = max(10, args.runs)
            cpu = server_cpu_s(server.pid)
            live_ms, first_ms, features = bench_live(base, data["token"], runs=live_runs)
            live_cpu_ms = (server_cpu_s(server.pid) - cpu) * 1000 / live_runs
            rows.append(
                (
                    f"live view ({features} collectors)",
                    f"{live_ms:.0f} ms (first call {first_ms:.0f} ms)",
                    "< 100 ms",
                )
            )
            rows.append(("  server CPU per live call (mean)", f"{live_cpu_ms:.0f} ms", ""))
            spans = bench_fanout(base, data["token"], data["devices"][0], 200, max(5, args.runs))
            rows.append(
                (
                    "SSE fan-out to 200 subscribers",
                    f"{statistics.median(spans) * 1000:.0f} ms",
                    "< 1 s",
                )
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # SSE connections keep gthread workers from a graceful stop.
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            if redis_server is not None:
                redis_server.terminate()
                redis_server.wait(timeout=10)
        width = max(len(r[0]) for r in rows)
        value_width = max(len(r[1]) for r in rows)
        print(
            f"\nTracking benchmark on {engine}, medians of {args.runs}+ runs "
            f"(gunicorn {workers} worker(s) gthread{', Redis stream' if redis_url else ''}"
            f"{', pinned' if pinned() else ''}, "
            "loopback, load generator in this process)"
        )
        print(f"{'measure':<{width}}  {'result':<{value_width}}  goal")
        for name, value, goal in rows:
            print(f"{name:<{width}}  {value:<{value_width}}  {goal}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(json.dumps({"engine": engine, "batch_fixes_per_s": batch_rates}), file=sys.stderr)


if __name__ == "__main__":
    main()
