"""Handhelds, their receipt-number blocks, applied mutations and media uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.models.types import UTCDateTime, utcnow


class Device(db.Model):  # type: ignore[name-defined,misc]
    """A handheld registered for a collector; its credential is stored only as a hash."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"), index=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    platform: Mapped[str] = mapped_column(String(40), default="")
    credential_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Typed into OsmAnd-protocol apps (Traccar Client); unguessable, >= 128 bits.
    tracking_id: Mapped[str] = mapped_column(String(64), unique=True)
    last_mutation_id: Mapped[int] = mapped_column(default=0)
    clock_offset_s: Mapped[float | None] = mapped_column()
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReceiptBlock(db.Model):  # type: ignore[name-defined,misc]
    """A range of receipt numbers only one device may issue, so offline receipts never clash."""

    __tablename__ = "receipt_blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(8))
    start: Mapped[int] = mapped_column(unique=True)
    end: Mapped[int] = mapped_column()
    allotted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppliedMutation(db.Model):  # type: ignore[name-defined,misc]
    """The stored outcome of one device mutation, answered again on a retry."""

    __tablename__ = "applied_mutations"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    mutation_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # applied | rejected
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(255))
    client_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MediaUpload(db.Model):  # type: ignore[name-defined,misc]
    """A tus upload; once complete its bytes live in the media folder under their sha256.

    Only its owner continues it: the device that created it, or the signed-in user when it
    was created without a device. ``status`` is uploading, complete, failed (refused on
    completion) or expired (abandoned and purged).
    """

    __tablename__ = "media_uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column()
    offset: Mapped[int] = mapped_column(default=0)
    mime: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="uploading")
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
