"""Flask commands: seed-demo, geocode, create-user, purge-uploads."""

from __future__ import annotations

import importlib
from datetime import date

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from server.extensions import db
from server.models import User

# Modules that add their own commands; each exposes `register_commands(app)`.
COMMAND_MODULES: list[str] = ["server.cli_tracking"]


@click.command("seed-demo")
@click.option("--seed", default=7, show_default=True, help="Random seed (same seed, same data).")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Pretend today is this day.")
@click.option("--accounts", default=2000, show_default=True)
@click.option("--if-empty", is_flag=True, help="Do nothing when users already exist.")
def seed_demo(seed: int, today: object, accounts: int, if_empty: bool) -> None:
    """Build the Lima demo agency with two weeks of history and today's routes."""
    from server.services.demo import build_demo

    password = current_app.config["DEMO_PASSWORD"]
    if current_app.config["ENV_NAME"] == "production" and password == "demo":
        raise click.ClickException(
            "Refusing to seed demo users with the default password in production; "
            "set DEMO_PASSWORD."
        )
    if db.session.execute(select(func.count(User.id))).scalar_one():
        if if_empty:
            click.echo("Database already has data; demo not seeded again.")
            return
        raise click.ClickException("The database is not empty; seed an empty database.")
    day = today.date() if today is not None else None  # type: ignore[attr-defined]
    summary = build_demo(seed=seed, today=day, password=password, accounts=accounts)
    click.echo(
        f"Demo agency seeded: {summary.accounts} accounts, {summary.collectors} collectors, "
        f"{summary.visits} visits, {summary.promises} promises, {summary.payments} payments."
    )
    _publish_today(summary.today)


def _publish_today(day: date) -> None:
    """Plan and publish today's routes so handhelds have a day to walk."""
    from server.services.planning import contact_policy, plan_and_publish
    from server.services.settings import update_settings

    closed = contact_policy().reason_closed(day)
    if closed is not None:
        # The demo needs a day to walk (handhelds, replay); the law is restored with one PATCH.
        update_settings(
            {
                "contact_policy": "custom",
                "contact_hours": {
                    "weekdays": list(range(7)),
                    "start": "07:00",
                    "end": "20:00",
                    "exclude_holidays": False,
                },
            }
        )
        click.echo(
            f"Today allows no visits ({closed}). So that the demo has a day to walk, its agency's "
            "contact hours are now custom, 07:00-20:00 every day; restore the law with "
            'PATCH /api/v1/settings {"contact_policy": "PE"}.'
        )
    click.echo(f"Today's routes: {plan_and_publish(day)}")


@click.command("geocode")
@click.option("--limit", default=1000, show_default=True)
def geocode(limit: int) -> None:
    """Geocode accounts whose address has no coordinates (GEOCODER=nominatim)."""
    from server.services.geocoding import geocode_pending

    result = geocode_pending(limit)
    click.echo(f"Geocoded {result['geocoded']}, failed {result['failed']}.")


@click.command("create-user")
@click.argument("username")
@click.argument("role")
@click.password_option()
def create_user(username: str, role: str, password: str) -> None:
    """Create a user (the first admin of a production install)."""
    from server.services.users import create_user as create

    create({"username": username, "role": role, "password": password})
    click.echo(f"User {username} created with role {role}.")


@click.command("purge-uploads")
def purge_uploads() -> None:
    """Delete photo uploads abandoned longer than MEDIA_UPLOAD_TTL_S (tus expiration).

    The server also queues this at most hourly as uploads are created; run it from cron on
    an install that may go quiet for days.
    """
    from server.services.media import purge_expired_uploads

    counts = purge_expired_uploads()
    click.echo(
        f"Expired {counts['expired']} uploads, finished {counts['finished']}, "
        f"removed {counts['orphans']} orphaned part files."
    )


@click.command("kpi-rebuild")
def kpi_rebuild() -> None:
    """Rewrite the materialised KPI state (promise spans, collector-day rollups) from the events.

    The services keep it current as they write; run this after writing to the database by other
    means (a restore from an older dump, rows edited by hand).
    """
    from server.services.reporting import rebuild_kpi_state

    rebuild_kpi_state()
    db.session.commit()
    click.echo("KPI state rebuilt from the events.")


def register_commands(app: Flask) -> None:
    for command in (seed_demo, geocode, create_user, purge_uploads, kpi_rebuild):
        app.cli.add_command(command)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register_commands(app)
