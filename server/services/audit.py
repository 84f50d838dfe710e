"""Recording who changed or exported what; the caller's transaction commits the entry."""

from __future__ import annotations

from typing import Any

from flask import g

from server.extensions import db
from server.models import AuditEntry


def record(action: str, entity: str, entity_id: object = None, **details: Any) -> None:
    """Add an audit entry for the signed-in user (or the system) to the current session.

    Never pass passwords, tokens or national ids in `details`.
    """
    user = g.get("current_user")
    db.session.add(
        AuditEntry(
            actor_id=user.id if user is not None else None,
            actor_username=user.username if user is not None else "system",
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            details=details or None,
        )
    )


def list_entries_query() -> Any:
    return db.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
