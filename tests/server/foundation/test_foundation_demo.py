"""The demo seed: deterministic, on land in Lima, with a plausible field history."""

from __future__ import annotations

import hashlib
import math
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from server import create_app
from server.extensions import db
from server.models import (
    Account,
    AccountSnapshot,
    Assignment,
    Payment,
    Position,
    PromiseToPay,
    User,
    Visit,
)
from server.services.demo import build_demo
from server.services.demo_geo import DISTRICTS, EARTH_RADIUS_M, on_land
from server.services.settings import get_settings

DAY = date(2026, 11, 20)


def _fingerprint() -> str:
    rows = db.session.execute(
        select(
            Account.external_id,
            Account.lat,
            Account.lon,
            Account.overdue_balance,
            Account.days_past_due,
        ).order_by(Account.external_id)
    ).all()
    visits = db.session.execute(
        select(Visit.client_uuid, Visit.disposition, Visit.checked_in_at).order_by(
            Visit.client_uuid
        )
    ).all()
    return hashlib.sha256(repr((rows, visits)).encode()).hexdigest()


def _build(tmp: Path, url: str) -> str:
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp),
            "SECRET_KEY": "k" * 40,
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
        }
    )
    with app.app_context():
        build_demo(seed=11, today=DAY, password="demo", accounts=150)
        fingerprint = _fingerprint()
        db.session.remove()
        db.engine.dispose()
    return fingerprint


def test_demo_is_deterministic(migrated_template: str, tmp_path: Path) -> None:
    if not migrated_template.startswith("sqlite"):
        pytest.skip("determinism is shown on SQLite files; PostgreSQL runs the content test")
    fingerprints = []
    for name in ("a", "b"):
        target = tmp_path / f"{name}.db"
        shutil.copyfile(migrated_template.removeprefix("sqlite:///"), target)
        fingerprints.append(_build(tmp_path, f"sqlite:///{target}"))
    assert fingerprints[0] == fingerprints[1]


def test_demo_content_is_realistic(app: Flask) -> None:
    summary = build_demo(seed=3, today=DAY, password="demo", accounts=300)
    assert summary.collectors == 25
    usernames = set(db.session.execute(select(User.username)).scalars())
    assert {"admin", "dispatcher", "manager", "collector01", "collector25"} <= usernames
    located = db.session.execute(
        select(Account.lat, Account.lon).where(Account.lat.is_not(None))
    ).all()
    assert len(located) >= 0.9 * 300
    for lat, lon in located:
        assert on_land(lat, lon), (lat, lon)
        nearest = min(_distance_m(lat, lon, d.lat, d.lon) - d.radius_m for d in DISTRICTS)
        assert nearest <= 1.0
    dispositions = dict(
        db.session.execute(
            select(Visit.disposition, func.count()).group_by(Visit.disposition)
        ).all()
    )
    assert dispositions["no_answer"] > dispositions["promise_to_pay"] > 0
    assert len(dispositions) == 12
    assert db.session.execute(select(func.count(PromiseToPay.id))).scalar_one() > 0
    sources = dict(
        db.session.execute(select(Payment.source, func.count()).group_by(Payment.source)).all()
    )
    assert sources["field"] > 0 and sources["imported"] > 0
    repeated = db.session.execute(
        select(func.count()).where(Payment.counted.is_(False))
    ).scalar_one()
    assert repeated > 0
    snapshot_days = db.session.execute(select(AccountSnapshot.as_of).distinct()).scalars().all()
    assert len(snapshot_days) == 2
    km = db.session.execute(select(func.sum(Position.distance_m))).scalar_one() / 1000
    assert 5 * summary.visits > km > 0.2 * summary.visits  # 0.2-5 km between doors, by density


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def test_seed_command_refuses_default_password_in_production(app: Flask, monkeypatch: Any) -> None:
    app.config["ENV_NAME"] = "production"
    result = app.test_cli_runner().invoke(args=["seed-demo", "--accounts", "10"])
    assert result.exit_code != 0
    assert "DEMO_PASSWORD" in result.output


def test_a_demo_seeded_on_a_saturday_still_has_routes_today_and_says_why(app: Flask) -> None:
    saturday = "2026-11-28"
    result = app.test_cli_runner().invoke(
        args=["seed-demo", "--accounts", "60", "--today", saturday]
    )
    assert result.exit_code == 0, result.output
    assert "Today allows no visits (PE: no visits on Saturday)" in result.output
    assert get_settings().contact_policy == "custom"
    today = db.session.execute(
        select(func.count(Assignment.id)).where(Assignment.date == date.fromisoformat(saturday))
    ).scalar_one()
    assert today > 0
