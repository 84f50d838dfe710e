"""The handheld's local SQLite store: the day, the outbox, pending photos and positions.

Everything a collector captures is written here first, in one local transaction per stop,
so a crash or a kill never loses a capture and never half-records a stop. The outbox keeps
the per-device mutation counter that the server's exactly-once rule relies on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stops (
    stop_id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, sequence INTEGER,
    status TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (account_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS walked (stop_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, args TEXT NOT NULL, client_time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
    result TEXT);
CREATE TABLE IF NOT EXISTS photos (
    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, mime TEXT NOT NULL,
    upload_url TEXT, uploaded INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS positions (seq INTEGER PRIMARY KEY AUTOINCREMENT, fix TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS receipt_blocks (
    prefix TEXT NOT NULL, start INTEGER NOT NULL, end_ INTEGER NOT NULL,
    next_n INTEGER NOT NULL, PRIMARY KEY (prefix, start));
CREATE TABLE IF NOT EXISTS created (kind TEXT NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (kind, key));
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A queued mutation, exactly as it will be (re)sent."""

    id: int
    name: str
    args: dict[str, Any]
    client_time: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "args": self.args,
            "client_time": self.client_time,
        }


@dataclass(frozen=True, slots=True)
class PendingPhoto:
    sha256: str
    path: Path
    size: int
    mime: str
    upload_url: str | None


class LocalStore:
    """One device's persistent state in ``<state_dir>/handheld.sqlite``."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.photo_dir = state_dir / "photos"
        self.photo_dir.mkdir(exist_ok=True)
        self.db = sqlite3.connect(state_dir / "handheld.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing local write; a kill inside leaves the store as before."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- key/value state -------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def put(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM kv WHERE key = ?", (key,))
        else:
            self.db.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- the day ---------------------------------------------------------------------
    def replace_day(self) -> None:
        """Forget the day before a full resend."""
        self.db.execute("DELETE FROM stops")
        self.db.execute("DELETE FROM accounts")

    def upsert_stop(self, stop: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO stops (stop_id, account_id, sequence, status, data) VALUES (?,?,?,?,?) "
            "ON CONFLICT (stop_id) DO UPDATE SET account_id = excluded.account_id, "
            "sequence = excluded.sequence, status = excluded.status, data = excluded.data",
            (
                stop["stop_id"],
                stop["account_id"],
                stop.get("sequence"),
                stop["status"],
                json.dumps(stop),
            ),
        )

    def upsert_account(self, account: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO accounts (account_id, data) VALUES (?, ?) "
            "ON CONFLICT (account_id) DO UPDATE SET data = excluded.data",
            (account["account_id"], json.dumps(account)),
        )

    def remove(self, kind: str, ident: int) -> None:
        table, column = ("stops", "stop_id") if kind == "stop" else ("accounts", "account_id")
        self.db.execute(f"DELETE FROM {table} WHERE {column} = ?", (ident,))

    def stops_to_walk(self) -> list[dict[str, Any]]:
        """Active stops of the day not yet walked, in route order."""
        rows = self.db.execute(
            "SELECT data FROM stops WHERE status = 'active' "
            "AND stop_id NOT IN (SELECT stop_id FROM walked) ORDER BY sequence, stop_id"
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def account(self, account_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT data FROM accounts WHERE account_id = ?", (account_id,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def mark_walked(self, stop_id: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO walked (stop_id) VALUES (?)", (stop_id,))

    def count(self, table: str) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    # -- outbox ----------------------------------------------------------------------
    def enqueue(self, name: str, args: dict[str, Any], client_time: str) -> int:
        """Queue a mutation under the next per-device id (call inside a transaction)."""
        next_id = int(self.get("last_mutation_id", "0") or 0) + 1
        self.put("last_mutation_id", str(next_id))
        self.db.execute(
            "INSERT INTO outbox (id, name, args, client_time) VALUES (?, ?, ?, ?)",
            (next_id, name, json.dumps(args, sort_keys=True), client_time),
        )
        return next_id

    def outbox(self, limit: int) -> list[OutboxEntry]:
        rows = self.db.execute(
            "SELECT id, name, args, client_time FROM outbox ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [OutboxEntry(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def acknowledge(self, outcomes: Sequence[tuple[int, str, str, str | None, Any]]) -> None:
        """Drop answered mutations from the outbox, keeping their outcome, atomically."""
        with self.transaction():
            for mutation_id, name, status, reason, result in outcomes:
                self.db.execute("DELETE FROM outbox WHERE id = ?", (mutation_id,))
                self.db.execute(
                    "INSERT OR REPLACE INTO outcomes (id, name, status, reason, result) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (mutation_id, name, status, reason, json.dumps(result)),
                )

    def rejected(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, name, status, reason FROM outcomes WHERE status != 'applied' ORDER BY id"
        ).fetchall()
        return [{"id": r[0], "name": r[1], "status": r[2], "reason": r[3]} for r in rows]

    # -- photos, positions, receipts, created records ---------------------------------
    def add_photo(self, sha256: str, data: bytes, mime: str) -> None:
        suffix = ".png" if mime == "image/png" else ".jpg"
        path = self.photo_dir / f"{sha256}{suffix}"
        path.write_bytes(data)
        self.db.execute(
            "INSERT OR IGNORE INTO photos (sha256, path, size, mime) VALUES (?, ?, ?, ?)",
            (sha256, str(path), len(data), mime),
        )

    def pending_photos(self) -> list[PendingPhoto]:
        rows = self.db.execute(
            "SELECT sha256, path, size, mime, upload_url FROM photos WHERE uploaded = 0 "
            "ORDER BY rowid"
        ).fetchall()
        return [PendingPhoto(r[0], Path(r[1]), r[2], r[3], r[4]) for r in rows]

    def set_upload_url(self, sha256: str, url: str | None) -> None:
        self._unflushed("UPDATE photos SET upload_url = ? WHERE sha256 = ?", (url, sha256))

    def photo_uploaded(self, sha256: str) -> None:
        self._unflushed("UPDATE photos SET uploaded = 1 WHERE sha256 = ?", (sha256,))

    def _unflushed(self, sql: str, params: tuple[Any, ...]) -> None:
        """Upload bookkeeping, written without waiting for the disk.

        Losing it to a power cut costs bandwidth, never a photo: a forgotten upload URL
        means a new upload, a forgotten "uploaded" flag means the server answers "already
        held". The next flushed write makes it durable too (one write-ahead log).
        """
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            self.db.execute(sql, params)
        finally:
            self.db.execute("PRAGMA synchronous=FULL")

    def add_position(self, fix: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO positions (fix) VALUES (?)", (json.dumps(fix),))

    def positions(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self.db.execute(
            "SELECT seq, fix FROM positions ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    def drop_positions(self, up_to_seq: int | None = None) -> None:
        if up_to_seq is None:
            self.db.execute("DELETE FROM positions")
        else:
            self.db.execute("DELETE FROM positions WHERE seq <= ?", (up_to_seq,))

    def add_receipt_block(self, prefix: str, start: int, end: int) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO receipt_blocks (prefix, start, end_, next_n) VALUES (?,?,?,?)",
            (prefix, start, end, start),
        )

    def take_receipt(self) -> tuple[str, int] | None:
        """The next unused receipt number from the oldest block with numbers left."""
        row = self.db.execute(
            "SELECT prefix, start, next_n FROM receipt_blocks WHERE next_n <= end_ "
            "ORDER BY start LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        self.db.execute(
            "UPDATE receipt_blocks SET next_n = next_n + 1 WHERE prefix = ? AND start = ?",
            (row[0], row[1]),
        )
        return str(row[0]), int(row[2])

    def receipts_left(self) -> int:
        row = self.db.execute(
            "SELECT COALESCE(SUM(end_ - next_n + 1), 0) FROM receipt_blocks WHERE next_n <= end_"
        ).fetchone()
        return int(row[0])

    def record_created(self, kind: str, key: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO created (kind, key) VALUES (?, ?)", (kind, key))

    def created(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for kind, key in self.db.execute("SELECT kind, key FROM created ORDER BY rowid"):
            result.setdefault(kind, []).append(key)
        return result
