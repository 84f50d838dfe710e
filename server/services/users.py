"""Users and sign-in."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from server.auth import hash_password, issue_token, verify_password
from server.errors import ProblemError
from server.extensions import db
from server.models import User
from server.models.types import utcnow
from server.services import audit

# Verifying against a real hash when the user is unknown keeps response times alike,
# so timing does not tell which usernames exist.
_DUMMY_HASH = hash_password("not-a-real-password")


def sign_in(username: str, password: str) -> dict[str, Any]:
    """Check credentials and issue an access token."""
    user = db.session.execute(db.select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise ProblemError(401, "Invalid credentials", "Wrong username or password.")
    if not user.active or not verify_password(user.password_hash, password):
        raise ProblemError(401, "Invalid credentials", "Wrong username or password.")
    user.last_login_at = utcnow()
    token, ttl = issue_token(user)
    db.session.commit()
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "role": user.role}


def create_user(data: dict[str, Any]) -> User:
    user = User(
        username=data["username"],
        full_name=data.get("full_name", ""),
        role=data["role"],
        active=data.get("active", True),
        password_hash=hash_password(data["password"]),
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise ProblemError(
            409, "Conflict", errors={"username": ["This username is taken."]}
        ) from exc
    audit.record("create", "user", user.id, username=user.username, role=user.role)
    db.session.commit()
    return user


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ProblemError(404, "Not Found", f"User {user_id} does not exist.")
    return user


def update_user(user_id: int, changes: dict[str, Any]) -> User:
    """Change role, name, activity or password; role and password changes revoke old tokens."""
    user = get_user(user_id)
    if "password" in changes:
        user.password_hash = hash_password(changes.pop("password"))
        user.token_version += 1
        audit.record("password_change", "user", user.id)
    if "role" in changes and changes["role"] != user.role:
        audit.record("role_change", "user", user.id, old=user.role, new=changes["role"])
        user.token_version += 1
    for key, value in changes.items():
        setattr(user, key, value)
    if changes:
        audit.record("update", "user", user.id, fields=sorted(changes))
    db.session.commit()
    return user


def list_users_query() -> Any:
    return db.select(User).order_by(User.id)
