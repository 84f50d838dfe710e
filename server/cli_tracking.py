"""Tracking commands: purge old positions, re-evaluate alerts, replay the demo day.

``replay-demo`` posts positions over HTTP to a running server, as real handhelds do, so the
live map (and every process sharing the stream through Redis) sees collectors move.
"""

from __future__ import annotations

import math
import random
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
import requests
from flask import Flask
from sqlalchemy import select

from server.auth import new_device_credential
from server.extensions import db
from server.models import Account, Assignment, Collector, Device
from server.models.types import utcnow
from server.services import tracking as tracking_service
from server.services.settings import get_settings
from tracking import haversine_m

SPEED_MPS = {"walk": 1.3, "motorbike": 6.0, "car": 7.0}
"""Door-to-door speeds in a city, stops at crossings included."""
SERVICE_S = 12 * 60
REPLAY_DEVICE_NAME = "replay-demo"


@click.command("purge-positions")
@click.option("--days", type=int, help="Keep this many days (default: the agency setting).")
def purge_positions(days: int | None) -> None:
    """Delete positions older than the retention period (default 90 days)."""
    deleted = tracking_service.purge_positions(retention_days=days)
    click.echo(f"Deleted {deleted} positions.")


@click.command("tracking-alerts")
def tracking_alerts() -> None:
    """Re-evaluate field alerts now (for cron; reads of /tracking/alerts also do it)."""
    raised = tracking_service.refresh_alerts()
    click.echo(f"{len(raised)} new alerts.")


@dataclass(frozen=True, slots=True)
class Leg:
    """One straight piece of a simulated day: travel to a point, then wait there."""

    lat: float
    lon: float
    depart_s: float
    arrive_s: float
    leave_s: float


def walking_plan(
    start: tuple[float, float], stops: list[tuple[float, float]], speed: float
) -> list[Leg]:
    """The simulated timeline (seconds from the start) through the stops, in route order."""
    legs = []
    clock = 0.0
    here = start
    for lat, lon in stops:
        travel = haversine_m(here[0], here[1], lat, lon) * 1.3 / speed  # streets are not straight
        legs.append(Leg(lat, lon, clock, clock + travel, clock + travel + SERVICE_S))
        clock += travel + SERVICE_S
        here = (lat, lon)
    return legs


def position_at(
    start: tuple[float, float], legs: list[Leg], elapsed_s: float
) -> tuple[float, float, float, float | None]:
    """(lat, lon, speed m/s, heading) along the plan at ``elapsed_s``."""
    previous = start
    for leg in legs:
        if elapsed_s < leg.arrive_s:
            share = max(0.0, (elapsed_s - leg.depart_s) / max(leg.arrive_s - leg.depart_s, 1.0))
            lat = previous[0] + (leg.lat - previous[0]) * share
            lon = previous[1] + (leg.lon - previous[1]) * share
            heading = math.degrees(math.atan2(leg.lon - previous[1], leg.lat - previous[0])) % 360
            distance = haversine_m(previous[0], previous[1], leg.lat, leg.lon)
            return lat, lon, distance / max(leg.arrive_s - leg.depart_s, 1.0), heading
        if elapsed_s < leg.leave_s:
            return leg.lat, leg.lon, 0.0, None
        previous = (leg.lat, leg.lon)
    return previous[0], previous[1], 0.0, None


def _replay_device(collector: Collector) -> str:
    """A fresh simulator device per run (credentials are stored hashed, never recoverable)."""
    for old in db.session.execute(
        select(Device).where(
            Device.collector_id == collector.id,
            Device.name == REPLAY_DEVICE_NAME,
            Device.revoked_at.is_(None),
        )
    ).scalars():
        old.revoked_at = utcnow()
    secret, secret_hash = new_device_credential()
    db.session.add(
        Device(
            id=str(uuid.uuid4()),
            collector_id=collector.id,
            name=REPLAY_DEVICE_NAME,
            platform="simulator",
            credential_hash=secret_hash,
            tracking_id=secrets.token_hex(16),
        )
    )
    return secret


@click.command("replay-demo")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="Running server.")
@click.option(
    "--speedup",
    default=1.0,
    show_default=True,
    help="Simulated seconds per second. Fix times stay real, so a speed-up above ~5 makes "
    "motorbikes look faster than the jump filter allows and their fixes are filtered.",
)
@click.option("--interval", default=2.0, show_default=True, help="Seconds between fixes.")
@click.option("--duration", default=0.0, help="Stop after this many seconds (0: day's end).")
@click.option("--limit", default=0, help="Replay only the first N collectors (0: all).")
@click.option(
    "--open-shifts",
    is_flag=True,
    help="Widen the replayed collectors' shifts to the whole day (demo only): fixes outside "
    "a shift are never stored, so a replay at night would show nothing.",
)
def replay_demo(
    url: str, speedup: float, interval: float, duration: float, limit: int, open_shifts: bool
) -> None:
    """Simulated collectors walk today's published routes, posting positions to the server."""
    tz = ZoneInfo(get_settings().timezone)
    now = utcnow()
    today = now.astimezone(tz).date()
    rows = db.session.execute(
        select(Collector, Account.lat, Account.lon)
        .join(Assignment, Assignment.collector_id == Collector.id)
        .join(Account, Account.id == Assignment.account_id)
        .where(
            Assignment.date == today,
            Assignment.status != "removed",
            Account.lat.is_not(None),
        )
        .order_by(Collector.id, Assignment.sequence, Assignment.eta, Assignment.id)
    ).all()
    routes: dict[int, tuple[Collector, list[tuple[float, float]]]] = {}
    for collector, lat, lon in rows:
        routes.setdefault(collector.id, (collector, []))[1].append((lat or 0.0, lon or 0.0))
    if not routes:
        raise click.ClickException(f"No published routes for {today}; publish a plan first.")
    chosen = list(routes.values())[: limit or None]
    local_minute = now.astimezone(tz).hour * 60 + now.astimezone(tz).minute
    closed = [c.code for c, _ in chosen if not c.shift_start_min <= local_minute < c.shift_end_min]
    if closed and not open_shifts:
        raise click.ClickException(
            f"It is {now.astimezone(tz):%H:%M} in {tz.key}, outside the shift of "
            f"{len(closed)} collectors: their fixes would not be stored (privacy). "
            "Pass --open-shifts to widen the demo collectors' shifts for the replay."
        )
    shifts = {c.id: (c.shift_start_min, c.shift_end_min) for c, _ in chosen}
    for collector, _ in chosen:
        if open_shifts:
            collector.shift_start_min, collector.shift_end_min = 0, 24 * 60
    walkers = []
    for collector, stops in chosen:
        secret = _replay_device(collector)
        start = (collector.start_lat, collector.start_lon)
        speed = SPEED_MPS.get(collector.travel_mode, SPEED_MPS["motorbike"])
        walkers.append((collector, secret, start, walking_plan(start, stops, speed)))
    db.session.commit()
    click.echo(f"Replaying {len(walkers)} collectors at x{speedup:g} against {url}; Ctrl-C stops.")
    try:
        _replay(url, walkers, speedup=speedup, interval=interval, duration=duration)
    finally:
        if open_shifts:
            # Widened for the replay only: plans and alerts go back to the real shifts.
            for collector, _ in chosen:
                collector.shift_start_min, collector.shift_end_min = shifts[collector.id]
            db.session.commit()
            click.echo("The replayed collectors' shifts are restored.")


def _replay(
    url: str, walkers: list[Any], *, speedup: float, interval: float, duration: float
) -> None:
    session = requests.Session()
    noise = random.Random(11)
    began = time.monotonic()
    day_end = max((legs[-1].leave_s if legs else 0.0) for *_, legs in walkers)
    sent = 0
    try:
        while True:
            elapsed = time.monotonic() - began
            simulated = elapsed * speedup
            if (duration and elapsed > duration) or simulated > day_end:
                break
            fix_time = datetime.now(UTC)
            for collector, secret, start, legs in walkers:
                lat, lon, speed, heading = position_at(start, legs, simulated)
                fix = {
                    "fix_time": fix_time.isoformat(),
                    "lat": lat + noise.gauss(0, 0.00003),
                    "lon": lon + noise.gauss(0, 0.00003),
                    "accuracy_m": round(noise.uniform(4, 12), 1),
                    "speed_mps": round(speed, 2),
                    "heading_deg": None if heading is None else round(heading, 1),
                    "battery_pct": max(5.0, 100.0 - simulated / 600.0),
                    "provider": "simulator",
                }
                response = session.post(
                    f"{url}/api/v1/tracking/positions",
                    json={"positions": [fix]},
                    headers={"Authorization": f"Bearer {secret}"},
                    timeout=10,
                )
                if response.status_code != 200:
                    raise click.ClickException(
                        f"{collector.code}: HTTP {response.status_code} {response.text[:200]}"
                    )
                sent += 1
            time.sleep(max(0.0, interval - (time.monotonic() - began - elapsed)))
    except KeyboardInterrupt:
        pass
    except requests.ConnectionError as error:
        raise click.ClickException(f"Cannot reach {url}: is the server running?") from error
    click.echo(f"Sent {sent} fixes in {timedelta(seconds=round(time.monotonic() - began))}.")


def register_commands(app: Flask) -> None:
    for command in (purge_positions, tracking_alerts, replay_demo):
        app.cli.add_command(command)
