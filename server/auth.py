"""Authentication (user JWTs, device credentials) and role checks for every view."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request
from sqlalchemy import bindparam, select

from server.errors import ProblemError
from server.extensions import db
from server.models import Collector, Device, Role, User
from server.models.types import utcnow

F = TypeVar("F", bound=Callable[..., Any])

DEVICE_TOKEN_PREFIX = "dev_"
_QUERY_TOKEN_ALLOWED = "cobranza.query_token_allowed"
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Argon2id, the KDF OWASP recommends for passwords."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(user: User) -> tuple[str, int]:
    """A signed, short-lived bearer token naming the user, role and token version."""
    ttl = int(current_app.config["TOKEN_TTL_S"])
    now = utcnow()
    claims = {
        "sub": str(user.id),
        "role": user.role,
        "tv": user.token_version,
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
        "typ": "access",
    }
    token = jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256")
    return token, ttl


def new_device_credential() -> tuple[str, str]:
    """A random device secret and the hash we store; the secret is shown once."""
    secret = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_device_credential(secret)


def hash_device_credential(secret: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough to make a leaked table useless.
    return hashlib.sha256(secret.encode()).hexdigest()


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="api"'}
    )


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        if request.environ.get(_QUERY_TOKEN_ALLOWED):
            return request.args.get("access_token") or None
        return None
    return value.strip()


def accept_query_token(view: F) -> F:
    """Also read the bearer token from ``?access_token=`` for this view only.

    A browser's EventSource cannot send headers, so the live map's SSE stream needs this;
    every other endpoint keeps refusing tokens in URLs (they end up in logs and history).
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Per request (environ), never per app context: tests share one context across requests.
        request.environ[_QUERY_TOKEN_ALLOWED] = True
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _decode_access_token(token: str) -> dict[str, Any]:
    try:
        return dict(
            jwt.decode(
                token,
                current_app.config["SECRET_KEY"],
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "tv"]},
            )
        )
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("The token has expired; sign in again.") from exc
    except jwt.PyJWTError as exc:
        raise _unauthorized("The token is not valid.") from exc


def _load_identity() -> tuple[User, Device | None]:
    token = _bearer_token()
    if token is None:
        raise _unauthorized("A bearer token is required.")
    if token.startswith(DEVICE_TOKEN_PREFIX):
        # One query per request: handhelds call often (sync, photo chunks, positions).
        found = db.session.execute(
            db.select(Device, User)
            .join(Collector, Collector.id == Device.collector_id)
            .join(User, User.id == Collector.user_id)
            .where(Device.credential_hash == hash_device_credential(token))
        ).first()
        if found is None or found[0].revoked_at is not None:
            raise _unauthorized("Unknown or revoked device credential.")
        device, user = found
        if not user.active:
            raise _unauthorized("The device's collector is not active.")
        return user, device
    claims = _decode_access_token(token)
    user = db.session.get(User, int(claims["sub"]))
    if user is None or not user.active or user.token_version != claims.get("tv"):
        raise _unauthorized("The token is no longer valid; sign in again.")
    return user, None


# Built once: constructing a statement costs more than running it on a hot path.
_DEVICE_CALLER = (
    select(Device.id, Device.revoked_at, User.id, User.role, User.active)
    .join(Collector, Collector.id == Device.collector_id)
    .join(User, User.id == Collector.user_id)
    .where(Device.credential_hash == bindparam("credential_hash"))
)
_USER_CALLER = select(User.role, User.active, User.token_version).where(
    User.id == bindparam("user_id")
)


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller as plain values, for hot paths that load no ORM objects."""

    user_id: int
    role: str
    device_id: str | None


def authenticate_caller(*roles: str, in_session: bool = False) -> Caller:
    """Authenticate and role-check like ``require_roles``, with one Core query and no ORM.

    Photo chunks arrive back to back; building a session and ORM objects for each one cost
    more than writing the chunk. The rules are the same: a revoked device, an inactive user
    or a token from before a password change is refused at once. ``in_session`` runs the
    query on the session's connection, for views whose service uses the session anyway:
    one pooled connection per request instead of two (on PostgreSQL each checkout pings).
    """
    allowed = {Role(r) for r in roles} | {Role.ADMIN}
    token = _bearer_token()
    if token is None:
        raise _unauthorized("A bearer token is required.")
    with (
        contextlib.nullcontext(db.session.connection()) if in_session else db.engine.connect()
    ) as connection:
        if token.startswith(DEVICE_TOKEN_PREFIX):
            found = connection.execute(
                _DEVICE_CALLER, {"credential_hash": hash_device_credential(token)}
            ).first()
            if found is None or found[1] is not None:
                raise unknown_device_credential()
            authorize_device_caller(found[3], found[4], *roles)
            caller = Caller(found[2], found[3], found[0])
        else:
            claims = _decode_access_token(token)
            row = connection.execute(_USER_CALLER, {"user_id": int(claims["sub"])}).first()
            if row is None or not row[1] or row[2] != claims.get("tv"):
                raise _unauthorized("The token is no longer valid; sign in again.")
            caller = Caller(int(claims["sub"]), row[0], None)
    if Role(caller.role) not in allowed:
        raise ProblemError(403, "Forbidden", f"The {caller.role} role cannot use this endpoint.")
    return caller


def device_credential_hash() -> str | None:
    """The stored form of the bearer token when it is a device credential, None for a user
    token: for a hot path that reads the device together with what it needs of it."""
    token = _bearer_token()
    if token is None:
        raise _unauthorized("A bearer token is required.")
    return hash_device_credential(token) if token.startswith(DEVICE_TOKEN_PREFIX) else None


def unknown_device_credential() -> ProblemError:
    return _unauthorized("Unknown or revoked device credential.")


def authorize_device_caller(role: str, active: bool, *roles: str) -> None:
    """The rules for an active (unrevoked) device's credential, given its collector's role
    and whether that user is active."""
    if not active:
        raise _unauthorized("The device's collector is not active.")
    if Role(role) not in {Role(r) for r in roles} | {Role.ADMIN}:
        raise ProblemError(403, "Forbidden", f"The {role} role cannot use this endpoint.")


def require_roles(*roles: str) -> Callable[[F], F]:
    """Authenticate the request and allow it only for the given roles (admins always pass)."""
    allowed = {Role(r) for r in roles} | {Role.ADMIN}

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user, device = _load_identity()
            g.current_user = user
            g.current_device = device
            if Role(user.role) not in allowed:
                raise ProblemError(
                    403, "Forbidden", f"The {user.role} role cannot use this endpoint."
                )
            return view(*args, **kwargs)

        wrapper._required_roles = tuple(sorted(allowed))  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator


def current_user() -> User:
    user = g.get("current_user")
    if user is None:
        raise _unauthorized("Not authenticated.")
    return cast(User, user)


def current_device() -> Device | None:
    return cast("Device | None", g.get("current_device"))


def current_caller() -> Caller:
    """The caller ``require_roles`` authenticated, as plain values."""
    user, device = current_user(), current_device()
    return Caller(user.id, user.role, device.id if device is not None else None)


def current_collector() -> Collector | None:
    """The collector record of the signed-in user, when the user is a collector."""
    user = current_user()
    if user.role != Role.COLLECTOR:
        return None
    return db.session.execute(
        db.select(Collector).where(Collector.user_id == user.id)
    ).scalar_one_or_none()
