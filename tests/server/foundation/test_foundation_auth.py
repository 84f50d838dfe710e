"""Sign-in, tokens, device credentials and role checks."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import create_app
from server.auth import hash_password
from server.extensions import db
from server.models import User
from server.models.types import utcnow

PUBLIC_RULES = {
    "/healthz",
    "/readyz",
    "/api/v1/openapi.json",
    "/api/docs",
    "/api/docs/assets/<path:filename>",
    "/api/v1/auth/token",
    "/static/<path:filename>",
}


def _real_user(username: str, role: str, password: str) -> User:
    user = User(username=username, role=role, password_hash=hash_password(password))
    db.session.add(user)
    db.session.commit()
    return user


def test_sign_in_returns_a_bearer_token(client: FlaskClient) -> None:
    _real_user("ana", "dispatcher", "s3cret-pass")
    response = client.post(
        "/api/v1/auth/token", json={"username": "ana", "password": "s3cret-pass"}
    )
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    me = client.get("/api/v1/zones", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200


@pytest.mark.parametrize(
    ("username", "password"), [("ana", "wrong-pass"), ("nobody", "s3cret-pass")]
)
def test_wrong_credentials_are_refused_alike(
    client: FlaskClient, username: str, password: str
) -> None:
    _real_user("ana", "dispatcher", "s3cret-pass")
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 401
    assert response.json["detail"] == "Wrong username or password."


def test_failed_logins_are_rate_limited(client: FlaskClient) -> None:
    statuses = [
        client.post("/api/v1/auth/token", json={"username": "x", "password": "y"}).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[-1] == 429
    last = client.post("/api/v1/auth/token", json={"username": "x", "password": "y"})
    assert last.content_type == "application/problem+json"


def _token(app: Flask, user: User, **overrides: Any) -> str:
    now = utcnow()
    claims = {
        "sub": str(user.id),
        "role": user.role,
        "tv": user.token_version,
        "iat": now,
        "exp": now + timedelta(hours=1),
        **overrides,
    }
    return jwt.encode(claims, overrides.pop("key", app.config["SECRET_KEY"]), algorithm="HS256")


def test_expired_token_is_refused(app: Flask, client: FlaskClient, staff: dict[str, User]) -> None:
    token = _token(app, staff["dispatcher"], exp=utcnow() - timedelta(seconds=5))
    response = client.get("/api/v1/zones", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in response.json["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_forged_token_is_refused(app: Flask, client: FlaskClient, staff: dict[str, User]) -> None:
    user = staff["dispatcher"]
    forged = jwt.encode(
        {"sub": str(user.id), "role": "admin", "tv": 1, "exp": utcnow() + timedelta(hours=1)},
        "a-guessed-key-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )
    response = client.get("/api/v1/users", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    unsigned = jwt.encode(
        {"sub": str(user.id), "tv": 1, "exp": utcnow() + timedelta(hours=1)}, None, algorithm="none"
    )
    assert (
        client.get("/api/v1/zones", headers={"Authorization": f"Bearer {unsigned}"}).status_code
        == 401
    )


def test_password_change_revokes_old_tokens(
    client: FlaskClient, staff: dict[str, User], auth_header: Any
) -> None:
    old = auth_header(staff["dispatcher"])
    changed = client.patch(
        f"/api/v1/users/{staff['dispatcher'].id}",
        json={"password": "a-new-password"},
        headers=auth_header("admin"),
    )
    assert changed.status_code == 200
    assert client.get("/api/v1/zones", headers=old).status_code == 401


def test_wrong_role_is_forbidden(
    client: FlaskClient, staff: dict[str, User], auth_header: Any
) -> None:
    response = client.get("/api/v1/users", headers=auth_header("manager"))
    assert response.status_code == 403
    assert response.json["title"] == "Forbidden"


def test_collector_reads_only_assigned_accounts(
    client: FlaskClient, factory: Any, auth_header: Any
) -> None:
    mine, theirs = factory.collector("col_a"), factory.collector("col_b")
    own_account, other_account = factory.account("A-1"), factory.account("B-1")
    factory.assign(own_account, mine, date(2026, 11, 26))
    factory.assign(other_account, theirs, date(2026, 11, 26))
    headers = auth_header("col_a")
    assert client.get(f"/api/v1/accounts/{own_account.id}", headers=headers).status_code == 200
    foreign = client.get(f"/api/v1/accounts/{other_account.id}", headers=headers)
    assert foreign.status_code == 404
    assert "debtor_name" not in foreign.json
    listed = client.get("/api/v1/accounts", headers=headers).json
    assert [a["external_id"] for a in listed] == ["A-1"]


def test_device_credential_authenticates_as_its_collector(
    client: FlaskClient, factory: Any, auth_header: Any
) -> None:
    factory.collector("col_a")
    registered = client.post(
        "/api/v1/devices", json={"name": "Moto G"}, headers=auth_header("col_a")
    )
    assert registered.status_code == 201
    body = registered.json
    assert len(body["tracking_id"]) >= 32
    assert body["receipt_block"]["start"] == 1
    device_headers = {"Authorization": f"Bearer {body['credential']}"}
    assert client.get("/api/v1/devices", headers=device_headers).status_code == 200
    second = client.post("/api/v1/devices", json={}, headers=auth_header("col_a")).json
    assert second["receipt_block"]["start"] > body["receipt_block"]["end"]
    client.delete(f"/api/v1/devices/{body['device_id']}", headers=auth_header("col_a"))
    assert client.get("/api/v1/devices", headers=device_headers).status_code == 401


def test_every_endpoint_requires_authentication(app: Flask, client: FlaskClient) -> None:
    for rule in app.url_map.iter_rules():
        if rule.rule in PUBLIC_RULES or not rule.rule.startswith("/api/"):
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1")
            url = url.replace(f"<string:{argument}>", "x").replace(f"<path:{argument}>", "x")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(url, method=method)
            assert response.status_code == 401, (
                f"{method} {rule.rule} answered {response.status_code}"
            )


def test_logs_never_contain_passwords_or_tokens(
    tmp_path: Any, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "k" * 40,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
        }
    )
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        _real_user("ana", "dispatcher", "s3cret-pass")
        client = app.test_client()
        token = client.post(
            "/api/v1/auth/token", json={"username": "ana", "password": "s3cret-pass"}
        ).json["access_token"]
        logging.getLogger("werkzeug").info('"GET /osmand?id=abcdef123&lat=1 HTTP/1.1" 200 -')
        logging.getLogger("werkzeug").info("Authorization: Bearer %s", token)
        db.session.remove()
        db.engine.dispose()
    text = caplog.text
    assert "s3cret-pass" not in text
    assert token not in text
    assert "abcdef123" not in text


def test_successful_sign_ins_are_not_limited(client: FlaskClient) -> None:
    _real_user("ana", "dispatcher", "s3cret-pass")
    statuses = {
        client.post(
            "/api/v1/auth/token", json={"username": "ana", "password": "s3cret-pass"}
        ).status_code
        for _ in range(12)
    }
    assert statuses == {200}
