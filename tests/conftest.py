"""Shared fixtures: an app per test on a migrated database (SQLite file or PostgreSQL).

Set TEST_DATABASE_URL (scripts/with_postgres.sh does) to run the whole suite on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from server import create_app
from server.auth import hash_password, issue_token
from server.extensions import db
from server.models import Account, Assignment, Collector, Portfolio, User, Zone

TEST_SECRET = "test-secret-key-not-for-production-" + "x" * 16
PG_URL = os.environ.get("TEST_DATABASE_URL")
# A cheap password hash keeps user-heavy fixtures fast; sign-in tests use real hashes.
FIXTURE_PASSWORD = "correct-horse-9"
_FIXTURE_HASH = hash_password(FIXTURE_PASSWORD)


def base_config(tmp: Path, database_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "INSTANCE_PATH": str(tmp),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MEDIA_DIR": str(tmp / "media"),
    }


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run the migrations once: into a template SQLite file, or into the PostgreSQL database."""
    tmp = tmp_path_factory.mktemp("template")
    url = PG_URL or f"sqlite:///{tmp / 'template.db'}"
    app = create_app(base_config(tmp, url))
    with app.app_context():
        if PG_URL:
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        db.engine.dispose()
    return url


def _truncate_all() -> None:
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture()
def database_url(migrated_template: str, tmp_path: Path) -> str:
    if PG_URL:
        return PG_URL
    target = tmp_path / "test.db"
    shutil.copyfile(migrated_template.removeprefix("sqlite:///"), target)
    return f"sqlite:///{target}"


@pytest.fixture()
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(base_config(tmp_path, database_url))
    with application.app_context():
        if PG_URL:
            _truncate_all()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Factory:
    """Builds domain objects straight in the database for tests."""

    app: Flask

    def user(self, username: str, role: str) -> User:
        user = User(
            username=username, role=role, full_name=username.title(), password_hash=_FIXTURE_HASH
        )
        db.session.add(user)
        db.session.commit()
        return user

    def collector(
        self,
        username: str,
        lat: float = -12.05,
        lon: float = -77.03,
        zones: list[Zone] | None = None,
        **fields: Any,
    ) -> Collector:
        user = self.user(username, "collector")
        collector = Collector(
            user_id=user.id,
            code=username.upper()[:24],
            full_name=username,
            start_lat=lat,
            start_lon=lon,
            end_lat=lat,
            end_lon=lon,
            **fields,
        )
        collector.zones = zones or []
        db.session.add(collector)
        db.session.commit()
        return collector

    def portfolio(self, code: str = "default") -> Portfolio:
        portfolio = db.session.execute(
            db.select(Portfolio).where(Portfolio.code == code)
        ).scalar_one_or_none()
        if portfolio is None:
            portfolio = Portfolio(code=code, name=code)
            db.session.add(portfolio)
            db.session.commit()
        return portfolio

    def account(
        self,
        external_id: str | None = None,
        lat: float | None = -12.06,
        lon: float | None = -77.04,
        **fields: Any,
    ) -> Account:
        values: dict[str, Any] = {
            "portfolio_id": self.portfolio().id,
            "external_id": external_id or uuid.uuid4().hex[:12],
            "debtor_name": "Deudor de Prueba",
            "lat": lat,
            "lon": lon,
            "geocode_status": "ok" if lat is not None else "pending",
            "currency": "PEN",
            "balance": Decimal("1500.00"),
            "overdue_balance": Decimal("600.00"),
            "days_past_due": 45,
        }
        values.update(fields)
        account = Account(**values)
        db.session.add(account)
        db.session.commit()
        return account

    def assign(
        self, account: Account, collector: Collector, day: date, **fields: Any
    ) -> Assignment:
        assignment = Assignment(
            account_id=account.id, collector_id=collector.id, date=day, **fields
        )
        db.session.add(assignment)
        db.session.commit()
        return assignment


@pytest.fixture()
def factory(app: Flask) -> Factory:
    return Factory(app)


@pytest.fixture()
def auth_header(app: Flask) -> Any:
    """`auth_header(user_or_username)` -> {"Authorization": "Bearer ..."}."""

    def make(who: User | str) -> dict[str, str]:
        user = (
            who
            if isinstance(who, User)
            else db.session.execute(db.select(User).where(User.username == who)).scalar_one()
        )
        token, _ttl = issue_token(user)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture()
def staff(factory: Factory) -> dict[str, User]:
    """One user of each staff role."""
    return {role: factory.user(role, role) for role in ("admin", "dispatcher", "manager")}


@pytest.fixture()
def redis_url() -> Iterator[str]:
    """A real, throwaway redis-server on a free loopback port (skips when not installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "redis-server is not installed (make test installs it: apt-get install redis-server)"
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture()
def live_server(app: Flask, database_url: str, tmp_path: Path) -> Iterator[Any]:
    """`live_server(**env)` starts the real server (`flask run`) on the test's database and
    answers its base URL once /healthz answers; every server stops when the test ends."""
    import requests

    processes: list[subprocess.Popen[bytes]] = []

    def start(**env_overrides: str) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "INSTANCE_PATH": str(tmp_path / f"server-{len(processes)}"),
            **env_overrides,
        }
        if "REDIS_URL" not in env_overrides:
            env.pop("REDIS_URL", None)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "server",
                "run",
                "--port",
                str(port),
                "--no-reload",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    return base
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"the server on port {port} did not come up")
            time.sleep(0.2)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)
