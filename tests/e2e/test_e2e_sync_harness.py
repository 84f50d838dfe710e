"""The pieces the sync end-to-end tests run: a real server process, a flaky network, a day.

Nothing here is a stand-in: the server is ``flask run`` in a subprocess on its own SQLite
file, killed with SIGKILL when a test says so; the proxy really drops, delays and cuts TCP
connections; handhelds are ``mobile_client_stub`` talking HTTP.
"""

from __future__ import annotations

import os
import random
import select as io_select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "field-pass-7"
SECRET = "e2e-sync-secret-" + "z" * 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_database(tmp: Path, collectors: int, stops: int) -> str:
    """Migrate a fresh SQLite file and give each collector a route of ``stops`` stops today."""
    from flask_migrate import upgrade

    from server import create_app
    from server.auth import hash_password
    from server.extensions import db
    from server.models import Account, Assignment, Collector, Portfolio, User

    url = f"sqlite:///{tmp / 'e2e.db'}"
    app = create_app(
        {"SECRET_KEY": SECRET, "INSTANCE_PATH": str(tmp), "SQLALCHEMY_DATABASE_URI": url}
    )
    with app.app_context():
        upgrade()
        day = datetime.now(ZoneInfo("America/Lima")).date()
        portfolio = Portfolio(code="e2e", name="e2e")
        db.session.add(portfolio)
        password_hash = hash_password(PASSWORD)
        for c in range(collectors):
            user = User(
                username=f"walker{c}",
                role="collector",
                full_name=f"Walker {c}",
                password_hash=password_hash,
            )
            db.session.add(user)
            db.session.flush()
            lat0, lon0 = -12.05 - 0.02 * c, -77.04
            collector = Collector(
                user_id=user.id,
                code=f"W{c}",
                full_name=user.full_name,
                start_lat=lat0,
                start_lon=lon0,
                end_lat=lat0,
                end_lon=lon0,
                travel_mode="walk",
            )
            db.session.add(collector)
            db.session.flush()
            for k in range(stops):
                account = Account(
                    portfolio_id=portfolio.id,
                    external_id=f"E{c}-{k}",
                    debtor_name=f"Deudor {c}-{k}",
                    lat=lat0 - 0.002 * k,
                    lon=lon0 + 0.001 * k,
                    geocode_status="ok",
                    balance=1000 + 10 * k,
                    overdue_balance=400,
                    days_past_due=30 + k,
                    negotiation_options={"max_installments": 4, "max_discount_pct": 10},
                    created_at=datetime.now(UTC) - timedelta(days=90),
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
    return url


class ServerProcess:
    """``flask run`` on a free port; ``kill()`` is SIGKILL, as a crash would be."""

    def __init__(self, tmp: Path, database_url: str) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = (tmp / "server.log").open("ab")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, failpoint: str | None = None) -> None:
        env = dict(
            os.environ,
            DATABASE_URL=self.database_url,
            SECRET_KEY=SECRET,
            INSTANCE_PATH=str(self.tmp),
            MEDIA_DIR=str(self.tmp / "media"),
            LOGIN_RATE_LIMIT="1000 per minute",
        )
        env.pop("SYNC_FAILPOINT", None)
        if failpoint:
            env["SYNC_FAILPOINT"] = failpoint
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "server",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-reload",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 90  # a loaded CI machine can be very slow to import
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def ensure_running(self) -> None:
        """Start the server again if an earlier test left it dead."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            self.start()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def exited(self, timeout: float = 10) -> int | None:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        self.kill()
        self.log.close()


class FlakyProxy:
    """A TCP proxy that refuses, delays and cuts connections at random (seeded)."""

    def __init__(
        self,
        target_port: int,
        seed: int,
        drop: float = 0.15,
        cut: float = 0.1,
        max_delay_s: float = 0.3,
    ) -> None:
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.drop, self.cut, self.max_delay_s = drop, cut, max_delay_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.stopping = threading.Event()
        self.stats = {"connections": 0, "dropped": 0, "cut": 0}
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _roll(self) -> tuple[bool, bool, float]:
        with self.lock:
            return (
                self.rng.random() < self.drop,
                self.rng.random() < self.cut,
                self.rng.uniform(0, self.max_delay_s),
            )

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                downstream, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.stats["connections"] += 1
            threading.Thread(target=self._pipe, args=(downstream,), daemon=True).start()

    def _pipe(self, downstream: socket.socket) -> None:
        drop, cut, delay = self._roll()
        if drop:
            self.stats["dropped"] += 1
            downstream.close()
            return
        time.sleep(delay)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            downstream.close()
            return
        budget = self.rng.randint(200, 4000) if cut else None
        if cut:
            self.stats["cut"] += 1
        sockets = [downstream, upstream]
        try:
            while not self.stopping.is_set():
                readable, _, _ = io_select.select(sockets, [], [], 0.5)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    other = upstream if sock is downstream else downstream
                    if budget is not None and sock is upstream:
                        # Cut the answer part-way: the request may well have been applied.
                        if len(data) >= budget:
                            other.sendall(data[:budget])
                            return
                        budget -= len(data)
                    other.sendall(data)
        except OSError:
            return
        finally:
            downstream.close()
            upstream.close()

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        self.thread.join(2)


@dataclass
class Dispatcher:
    """Reads the server's records back the way a dispatcher would, over HTTP."""

    url: str
    token: str

    @classmethod
    def login(cls, url: str, tmp: Path, database_url: str) -> Dispatcher:
        from server import create_app
        from server.auth import hash_password
        from server.extensions import db
        from server.models import User

        app = create_app(
            {
                "SECRET_KEY": SECRET,
                "INSTANCE_PATH": str(tmp),
                "SQLALCHEMY_DATABASE_URI": database_url,
            }
        )
        with app.app_context():
            if db.session.execute(db.select(User).where(User.username == "disp")).first() is None:
                db.session.add(
                    User(
                        username="disp",
                        role="dispatcher",
                        full_name="Disp",
                        password_hash=hash_password(PASSWORD),
                    )
                )
                db.session.commit()
            db.engine.dispose()
        token = requests.post(
            f"{url}/api/v1/auth/token",
            json={"username": "disp", "password": PASSWORD},
            timeout=10,
        ).json()["access_token"]
        return cls(url, token)

    def visits(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            response = requests.get(
                f"{self.url}/api/v1/visits",
                params={"page": page, "page_size": 100},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=20,
            )
            response.raise_for_status()
            found += response.json()
            if len(response.json()) < 100:
                return found
            page += 1
