"""Flask application factory for the field-collection backend."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from server import connections  # noqa: F401  (registers the connection policies)
from server.config import load_config
from server.errors import register_error_handlers
from server.extensions import api as rest_api
from server.extensions import db, limiter, migrate
from server.logs import configure_logging

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


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
