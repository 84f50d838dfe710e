"""Flask application factory for the field-collection backend."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from server.config import load_config
from server.errors import register_error_handlers
from server.extensions import api as rest_api
from server.extensions import db, limiter, migrate
from server.logs import configure_logging

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers and the writer work at once; foreign keys are off by default in SQLite.

    Reads through a memory map: a write on one pooled connection invalidates every other
    connection's page cache, and under parallel requests re-reading those pages with
    read() calls cost about a fifth of an OsmAnd fix's CPU (four threads); mapped, they are
    only looked at.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA mmap_size={256 * 1024 * 1024}")
        cursor.close()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an app; `config` overrides values read from the environment."""
    settings = load_config(config)
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"])
    app.config.update(settings)
    configure_logging(app)
    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True
    )
    limiter.init_app(app)
    rest_api.init_app(app)
    register_error_handlers(app)

    from server import models  # noqa: F401  (registers the tables)
    from server.api import register_blueprints
    from server.cli import register_commands
    from server.docs import docs_assets
    from server.health import health_blueprint
    from server.schedule import init_scheduler
    from server.web import register_web

    register_blueprints(rest_api)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(docs_assets)
    register_commands(app)
    register_web(app)
    init_scheduler(app)
    return app


logging.getLogger(__name__).addHandler(logging.NullHandler())
