"""App factory, configuration and database settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy.exc
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from server import create_app
from server.config import load_config
from server.extensions import db


def test_secret_key_is_generated_once_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_config({"INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    second = load_config({"INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    assert first == second
    assert len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_configures_database_and_timezone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.internal:5432/cobranza")
    monkeypatch.setenv("AGENCY_TIMEZONE", "America/Mexico_City")
    config = load_config({"INSTANCE_PATH": str(tmp_path)})
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.internal:5432/cobranza"
    assert config["AGENCY_TIMEZONE"] == "America/Mexico_City"
    assert config["REDIS_URL"] is None


def test_default_database_is_sqlite_in_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = load_config({"INSTANCE_PATH": str(tmp_path)})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'cobranza.db'}"


def test_a_burst_of_requests_keeps_its_connections_pooled(app: Flask) -> None:
    """Connections opened for a burst stay open for the next one instead of being closed and
    opened again (a forked backend each on PostgreSQL)."""
    burst = [db.engine.connect() for _ in range(12)]
    for connection in burst:
        connection.close()
    assert db.engine.pool.checkedin() == 12  # type: ignore[attr-defined]


def test_pool_size_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "7")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "3")
    options = load_config({"INSTANCE_PATH": str(tmp_path)})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["max_overflow"]) == (7, 3)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app: Flask) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas only")
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert db.session.execute(text("PRAGMA mmap_size")).scalar() == 256 * 1024 * 1024


def test_a_postgresql_connection_killed_while_idle_is_replaced_unseen(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping per request (a round trip each); an idle connection is checked instead."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL connections only")
    from server import connections

    with db.engine.connect() as pooled:
        victim = pooled.execute(text("SELECT pg_backend_pid()")).scalar()
    # What a server restart does to a connection resting in the pool:
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (victim,))
    monkeypatch.setattr(connections, "PING_AFTER_IDLE_S", 0.0)
    with db.engine.connect() as again:
        assert again.execute(text("SELECT pg_backend_pid()")).scalar() != victim


def test_health_and_readiness(client: object) -> None:
    assert client.get("/healthz").json == {"status": "ok"}  # type: ignore[attr-defined]
    ready = client.get("/readyz")  # type: ignore[attr-defined]
    assert ready.status_code == 200
    assert ready.json["status"] == "ready"


def test_readyz_reports_unreachable_database(tmp_path: Path) -> None:
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "k" * 40,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'missing' / 'nope.db'}",
            "TESTING": True,  # no alert scheduler: it would tick on the missing database
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"


def test_openapi_document_lists_every_api_route(app: Flask, client: object) -> None:
    spec = client.get("/api/v1/openapi.json").json  # type: ignore[attr-defined]
    documented = set(spec["paths"])
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint.split(".")[0] != "api-docs":
            path = rule.rule.replace("<", "{").replace(">", "}")
            path = path.replace("{int:", "{").replace("{string:", "{").replace("{path:", "{")
            assert path in documented, f"{rule.rule} missing from the OpenAPI document"
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_docs_page_loads_its_assets_locally(client: object) -> None:
    page = client.get("/api/docs")  # type: ignore[attr-defined]
    assert page.status_code == 200
    assert b"/api/docs/assets/swagger-ui-bundle.js" in page.data
    with client.get("/api/docs/assets/swagger-ui-bundle.js") as asset:  # type: ignore[attr-defined]
        assert asset.status_code == 200


# Bounded by their own `limit`/`top` argument rather than by pages.
UNPAGED_LISTS = {
    "/api/v1/plans/candidates",
    "/api/v1/kpi/cash",
    "/api/v1/collectors/{collector_id}/cash",
}


def test_list_endpoints_paginate(client: object) -> None:
    spec = client.get("/api/v1/openapi.json").json  # type: ignore[attr-defined]
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None or path in UNPAGED_LISTS:
            continue
        content = get["responses"].get("200", {}).get("content", {}).get("application/json", {})
        if content.get("schema", {}).get("type") == "array":
            names = {p["name"] for p in get.get("parameters", [])}
            assert {"page", "page_size"} <= names, f"{path} returns a list without pages"


def test_a_lost_database_is_a_503_to_retry_and_its_values_stay_out_of_the_log(
    client: FlaskClient,
    auth_header: Any,
    staff: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
) -> None:
    from server.services import accounts

    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise sqlalchemy.exc.OperationalError(
            "SELECT * FROM accounts WHERE national_id = %(id)s",
            {"id": "08123456"},
            psycopg.OperationalError("server closed the connection unexpectedly"),
        )

    monkeypatch.setattr(accounts, "get_account", unavailable)
    response = client.get("/api/v1/accounts/1", headers=auth_header("dispatcher"))
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.headers["Retry-After"].isdigit()
    assert "08123456" not in caplog.text and "national_id" not in caplog.text
    assert "OperationalError" in caplog.text

    def pool_exhausted(*_args: Any, **_kwargs: Any) -> Any:
        raise sqlalchemy.exc.TimeoutError("QueuePool limit of size 20 overflow 20 reached")

    monkeypatch.setattr(accounts, "get_account", pool_exhausted)
    response = client.get("/api/v1/accounts/1", headers=auth_header("dispatcher"))
    assert response.status_code == 503
