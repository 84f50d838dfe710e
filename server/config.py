"""Configuration from environment variables, with safe defaults for a single-machine install."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

DEFAULT_TIMEZONE = "America/Lima"


def _instance_dir() -> Path:
    path = Path(os.environ.get("INSTANCE_PATH", Path.cwd() / "instance")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key(instance: Path) -> str:
    """Use SECRET_KEY when set; otherwise generate one once and keep it in the instance folder.

    A constant in code would let anyone who read the source forge tokens.
    """
    value = os.environ.get("SECRET_KEY")
    if value:
        return value
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _normalise_database_url(url: str) -> str:
    # Operators paste libpq-style URLs; SQLAlchemy needs the driver named for psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


DB_POOL_SIZE = 20
"""Connections each server process keeps open (``DB_POOL_SIZE``); ``DB_MAX_OVERFLOW`` more may
open in a burst and are closed when they come back."""


def _engine_options(database_url: str) -> dict[str, Any]:
    """Pool sizes from the environment; no ping on every checkout.

    The pool must hold as many connections as a process has requests in flight at once.
    SQLAlchemy's default (5) was far below a gthread worker's: under 300 OsmAnd fixes/s
    each burst past five opened connections that were closed again on return, 727 new
    PostgreSQL connections (a forked backend each) in 12 seconds, and the server spent its
    cores on that churn. The ping is a round trip per request on PostgreSQL, a sixth of an
    OsmAnd fix's time; connections idle for a while are pinged instead (server/connections.py).
    """
    # hide_parameters: a failed statement's message (and so its log line) leaves out the
    # values, which are personal data (debtors, positions).
    options: dict[str, Any] = {"pool_pre_ping": False, "hide_parameters": True}
    if database_url.startswith("sqlite") and ":memory:" in database_url:
        return options  # one shared connection: there is no pool to size
    options["pool_size"] = int(os.environ.get("DB_POOL_SIZE", str(DB_POOL_SIZE)))
    options["max_overflow"] = int(os.environ.get("DB_MAX_OVERFLOW", str(DB_POOL_SIZE)))
    return options


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment, then apply explicit overrides."""
    overrides = dict(overrides or {})
    instance = Path(overrides.get("INSTANCE_PATH") or _instance_dir())
    instance.mkdir(parents=True, exist_ok=True)
    database_url = overrides.get("SQLALCHEMY_DATABASE_URI") or os.environ.get(
        "DATABASE_URL", f"sqlite:///{instance / 'cobranza.db'}"
    )
    env = os.environ.get("FLASK_ENV", os.environ.get("APP_ENV", "development"))
    config: dict[str, Any] = {
        "ENV_NAME": env,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": overrides.get("SECRET_KEY") or _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": _normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(database_url),
        "AGENCY_TIMEZONE": os.environ.get("AGENCY_TIMEZONE", DEFAULT_TIMEZONE),
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "TOKEN_TTL_S": int(os.environ.get("TOKEN_TTL_S", "43200")),
        "MEDIA_DIR": os.environ.get("MEDIA_DIR", str(instance / "media")),
        "MEDIA_MAX_BYTES": int(os.environ.get("MEDIA_MAX_BYTES", str(15 * 1024 * 1024))),
        # Unfinished photo uploads expire this long after their last chunk (tus expiration);
        # a purge runs at most every MEDIA_PURGE_EVERY_S per process as uploads are created.
        "MEDIA_UPLOAD_TTL_S": int(os.environ.get("MEDIA_UPLOAD_TTL_S", str(3 * 24 * 3600))),
        "MEDIA_PURGE_EVERY_S": int(os.environ.get("MEDIA_PURGE_EVERY_S", "3600")),
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_UPLOAD_BYTES", str(64 * 1024 * 1024))),
        "GEOCODER": os.environ.get("GEOCODER") or None,
        "GEOCODER_URL": os.environ.get("GEOCODER_URL") or None,
        "GEOCODER_USER_AGENT": os.environ.get("GEOCODER_USER_AGENT", "cobranza-campo"),
        "OSRM_URL": os.environ.get("OSRM_URL") or None,
        # Map tiles for the pages; an empty TILE_URL draws zones, routes and markers on a
        # plain background (offline installs).
        "TILE_URL": os.environ.get("TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
        "TILE_ATTRIBUTION": os.environ.get("TILE_ATTRIBUTION", "&copy; OpenStreetMap contributors"),
        "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "demo"),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        "RATELIMIT_STORAGE_URI": os.environ.get("REDIS_URL") or "memory://",
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        "API_TITLE": "Cobranza en campo API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/docs/assets/",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
            "security": [{"bearerAuth": []}],
        },
        # Behind a reverse proxy, how many X-Forwarded-* hops to trust (client address for
        # rate limits, https scheme for links).
        "TRUSTED_PROXY_HOPS": int(os.environ.get("TRUSTED_PROXY_HOPS", "0")),
        "JSON_SORT_KEYS": False,
        "TESTING": False,
        # Time-driven field alerts (idle, silent, cash over the limit); 0 turns the in-process
        # scheduler off. Tests start it explicitly.
        "ALERT_CHECK_INTERVAL_S": float(os.environ.get("ALERT_CHECK_INTERVAL_S", "60")),
    }
    if overrides.get("TESTING") and "ALERT_CHECK_INTERVAL_S" not in overrides:
        config["ALERT_CHECK_INTERVAL_S"] = 0.0
    config.update(overrides)
    return config
