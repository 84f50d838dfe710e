"""The sync engine: push the outbox, upload photos, send positions, pull the day.

It is written for networks that fail all the time: every step is safe to repeat, state
only changes locally after the server has answered, and the caller decides how long to
keep trying (``Backoff`` gives exponential delays with full jitter so that a fleet of
handhelds coming out of a tunnel does not hammer the server in step).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mobile_client_stub.api import ClientError, ServerApi, TransientError
from mobile_client_stub.store import LocalStore
from mobile_client_stub.tus_upload import TusUploader

PUSH_BATCH = 100
POSITION_BATCH = 500


class SyncBroken(Exception):
    """The server and the device disagree in a way retrying cannot fix."""


@dataclass
class Backoff:
    """Exponential backoff with full jitter: delay drawn from [0, min(cap, base * 2^n))."""

    rng: random.Random
    base_s: float = 0.2
    cap_s: float = 5.0
    failures: int = field(default=0)

    def next_delay(self) -> float:
        self.failures += 1
        return self.rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (self.failures - 1)))

    def reset(self) -> None:
        self.failures = 0


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class SyncEngine:
    """Moves one device's local state to and from the server."""

    def __init__(self, api: ServerApi, store: LocalStore, chunk_size: int = 256 * 1024) -> None:
        self.api = api
        self.store = store
        self.uploader = TusUploader(api, store, chunk_size)
        api.credential = store.get("credential")

    # -- registration ----------------------------------------------------------------
    def ensure_registered(self, username: str, password: str, name: str) -> None:
        """Log in and register this handheld once; the credential is kept locally."""
        if self.store.get("credential"):
            return
        token = self.api.login(username, password)
        device = self.api.register_device(token, name, "mobile_client_stub")
        with self.store.transaction():
            self.store.put("device_id", str(device["device_id"]))
            self.store.put("credential", str(device["credential"]))
            self.store.put("username", username)
            block = device.get("receipt_block")
            if block:
                self.store.add_receipt_block(block["prefix"], block["start"], block["end"])
        self.api.credential = str(device["credential"])

    # -- push ------------------------------------------------------------------------
    def push(self) -> int:
        """Send the outbox in order until it is empty; returns how many were answered."""
        answered = 0
        device_id = self.store.get("device_id")
        while batch := self.store.outbox(PUSH_BATCH):
            body = {
                "device_id": device_id,
                "device_time": now_iso(),
                "mutations": [entry.as_json() for entry in batch],
            }
            reply = self.api.push(body)
            names = {entry.id: entry.name for entry in batch}
            outcomes = [
                (r["id"], names[r["id"]], r["status"], r.get("reason"), r.get("result"))
                for r in reply["results"]
                if r["id"] in names
            ]
            self.store.acknowledge(outcomes)
            answered += len(outcomes)
            expected = reply.get("expected_id")
            if expected is not None and expected < batch[0].id:
                raise SyncBroken(
                    f"server expects mutation {expected} but the outbox starts at {batch[0].id}"
                )
            if not outcomes:
                raise SyncBroken(f"server answered none of mutations {batch[0].id}..")
        return answered

    # -- photos and positions -----------------------------------------------------------
    def upload_photos(self) -> int:
        pending = self.store.pending_photos()
        for photo in pending:
            self.uploader.upload(photo)
        return len(pending)

    def send_positions(self) -> int:
        """Post queued position fixes; a server without tracking simply drops them."""
        sent = 0
        if self.store.get("tracking") == "unavailable":
            self.store.drop_positions()
            return 0
        while fixes := self.store.positions(POSITION_BATCH):
            body = {"positions": [f for _, f in fixes]}
            try:
                response = self.api.post_positions(body)
            except ClientError as exc:
                if exc.status in (400, 422):
                    # A fix the server will never accept must not block the queue.
                    self.store.drop_positions(fixes[-1][0])
                    continue
                raise
            if response.status_code == 404:
                self.store.put("tracking", "unavailable")
                self.store.drop_positions()
                return sent
            self.store.drop_positions(fixes[-1][0])
            sent += len(fixes)
        return sent

    # -- pull ------------------------------------------------------------------------
    def pull(self) -> dict[str, int]:
        """Fetch every page of changes since the stored cursor and apply them locally."""
        counts = {"stops": 0, "accounts": 0, "removed": 0, "pages": 0}
        while True:
            page = self.api.pull(self.store.get("cursor"))
            with self.store.transaction():
                if page.get("full_resend"):
                    self.store.replace_day()
                for stop in page.get("stops", []):
                    self.store.upsert_stop(stop)
                for account in page.get("accounts", []):
                    self.store.upsert_account(account)
                for gone in page.get("removed", []):
                    self.store.remove(gone["kind"], int(gone["id"]))
                block = page.get("receipt_block")
                if block:
                    self.store.add_receipt_block(block["prefix"], block["start"], block["end"])
                for key in ("agency", "collector", "route"):
                    if page.get(key) is not None:
                        self.store.put(key, json.dumps(page[key]))
                self.store.put("server_last_mutation_id", str(page.get("last_mutation_id", 0)))
                self.store.put("cursor", page["cursor"])
            counts["stops"] += len(page.get("stops", []))
            counts["accounts"] += len(page.get("accounts", []))
            counts["removed"] += len(page.get("removed", []))
            counts["pages"] += 1
            if not page.get("has_more"):
                return counts

    # -- everything ------------------------------------------------------------------
    def pending(self) -> dict[str, Any]:
        return {
            "mutations": self.store.count("outbox"),
            "photos": [p.sha256 for p in self.store.pending_photos()],
            "positions": self.store.count("positions"),
        }

    def is_idle(self) -> bool:
        pending = self.pending()
        return not (pending["mutations"] or pending["photos"] or pending["positions"])

    def sync_once(self) -> None:
        """One full exchange; raises ``TransientError`` when the network or server fails."""
        self.push()
        self.upload_photos()
        self.send_positions()
        self.pull()


__all__ = ["Backoff", "ClientError", "SyncBroken", "SyncEngine", "TransientError"]
