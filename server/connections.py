"""Per-connection policies of the two databases: SQLite pragmas, PostgreSQL liveness checks.

Registered on import (``server/__init__.py`` imports this module), for every engine.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

PING_AFTER_IDLE_S = 10.0
"""A pooled PostgreSQL connection unused this long is checked before a request gets it."""


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


@event.listens_for(Pool, "checkin")
def _note_return(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a PostgreSQL connection only when it sat idle in the pool.

    A server restart or an idle timeout kills connections nobody uses; one in constant use
    would have failed its last request already. Busy connections, those of the hot paths,
    skip the round trip. A dead one raises DisconnectionError, so the pool replaces it and
    the request never sees it.
    """
    if not isinstance(dbapi_connection, psycopg.Connection):
        return
    if time.monotonic() - record.info.get("returned_at", 0.0) < PING_AFTER_IDLE_S:
        return
    try:
        dbapi_connection.execute("SELECT 1")
        dbapi_connection.rollback()
    except psycopg.Error as error:
        raise DisconnectionError("idle PostgreSQL connection is gone") from error
