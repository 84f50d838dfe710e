"""replay-demo: simulated collectors walk today's route against a real server process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from server.cli_tracking import Leg, position_at, walking_plan
from server.extensions import db
from server.models import CollectorLocation, Position

HOME = (-12.0464, -77.0428)


def test_walking_plan_timeline() -> None:
    door = (HOME[0] + 0.001, HOME[1])  # 111.2 m north
    [leg] = walking_plan(HOME, [door], speed=1.3)
    travel = 111.19508 * 1.3 / 1.3  # circuity 1.3 at 1.3 m/s
    assert leg.arrive_s == pytest.approx(travel, abs=0.01)
    assert leg.leave_s == pytest.approx(travel + 12 * 60, abs=0.01)
    halfway = position_at(HOME, [leg], travel / 2)
    assert halfway[0] == pytest.approx(HOME[0] + 0.0005)
    assert halfway[3] == pytest.approx(0.0)  # heading north
    assert position_at(HOME, [leg], travel + 60)[:3] == (door[0], door[1], 0.0)
    assert position_at(HOME, [leg], 10_000)[:2] == door
    assert position_at(HOME, [Leg(*door, 0.0, 1.0, 2.0)], 0.0)[:2] == HOME


@pytest.mark.e2e
def test_replay_posts_positions_to_a_running_server(
    app: Flask, factory: Any, live_server: Any
) -> None:
    collector = factory.collector("collector01", lat=HOME[0], lon=HOME[1], travel_mode="walk")
    shift = (collector.shift_start_min, collector.shift_end_min)
    today = datetime.now(ZoneInfo("America/Lima")).date()
    for n in range(3):
        account = factory.account(lat=HOME[0] + 0.002 * (n + 1), lon=HOME[1])
        factory.assign(
            account,
            collector,
            today,
            sequence=n + 1,
            eta=datetime.now(UTC) + timedelta(minutes=10 * n),
        )
    base = live_server()
    result = app.test_cli_runner().invoke(
        args=[
            "replay-demo",
            "--url",
            base,
            "--duration",
            "3",
            "--interval",
            "0.5",
            "--speedup",
            "30",
            "--open-shifts",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Replaying 1 collectors" in result.output
    db.session.refresh(collector)
    assert (collector.shift_start_min, collector.shift_end_min) == shift  # restored afterwards
    db.session.expire_all()
    count = db.session.execute(db.select(db.func.count(Position.id))).scalar_one()
    assert count >= 3
    location = db.session.get(CollectorLocation, collector.id)
    assert location is not None
    assert location.lat > HOME[0] + 0.0003  # walked about 50 m north towards the first door
    assert (
        db.session.execute(
            db.select(db.func.count(Position.id)).where(Position.filter_reason.is_not(None))
        ).scalar_one()
        == 0
    )
