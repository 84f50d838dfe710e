"""Registering handhelds, issuing their credentials and receipt-number blocks."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.auth import current_collector, current_user, new_device_credential
from server.errors import ProblemError
from server.extensions import db
from server.models import Collector, Device, ReceiptBlock, Role
from server.models.types import utcnow
from server.services import audit
from server.services.settings import get_settings
from sync.receipts import next_block


def _target_collector(collector_id: int | None) -> Collector:
    own = current_collector()
    if own is not None:
        if collector_id not in (None, own.id):
            raise ProblemError(403, "Forbidden", "A collector registers devices for themselves.")
        return own
    if current_user().role == Role.COLLECTOR:
        raise ProblemError(409, "Conflict", "This user has no collector profile yet.")
    if collector_id is None:
        raise ProblemError(422, "Missing collector", errors={"collector_id": ["Required."]})
    collector = db.session.get(Collector, collector_id)
    if collector is None:
        raise ProblemError(
            422, "Unknown collector", errors={"collector_id": ["No such collector."]}
        )
    return collector


def allot_receipt_block(device: Device) -> ReceiptBlock:
    """Give the device the next unused range of receipt numbers (caller commits)."""
    settings = get_settings()
    for _attempt in range(5):
        highest = db.session.execute(select(func.max(ReceiptBlock.end))).scalar() or 0
        numbers = next_block(settings.receipt_prefix, highest, settings.receipt_block_size)
        block = ReceiptBlock(
            device_id=device.id, prefix=numbers.prefix, start=numbers.start, end=numbers.end
        )
        try:
            with db.session.begin_nested():
                db.session.add(block)
        except IntegrityError:
            continue  # another device took this range at the same moment; take the next
        return block
    raise ProblemError(503, "Service Unavailable", "Could not allot receipt numbers; retry.")


def register_device(data: dict[str, Any]) -> dict[str, Any]:
    """Create a device and show its credential once; the server keeps only a hash."""
    collector = _target_collector(data.get("collector_id"))
    secret, secret_hash = new_device_credential()
    device = Device(
        id=str(uuid.uuid4()),
        collector_id=collector.id,
        name=data.get("name", ""),
        platform=data.get("platform", ""),
        credential_hash=secret_hash,
        tracking_id=secrets.token_hex(16),
    )
    db.session.add(device)
    db.session.flush()
    block = allot_receipt_block(device)
    audit.record("register", "device", device.id, collector_id=collector.id)
    db.session.commit()
    return {
        "device_id": device.id,
        "collector_id": collector.id,
        "credential": secret,
        "tracking_id": device.tracking_id,
        "receipt_block": {"prefix": block.prefix, "start": block.start, "end": block.end},
        "created_at": device.created_at,
    }


def list_devices_query(collector_id: int | None) -> Any:
    stmt = select(Device).order_by(Device.created_at)
    own = current_collector()
    if own is not None:
        stmt = stmt.where(Device.collector_id == own.id)
    elif collector_id is not None:
        stmt = stmt.where(Device.collector_id == collector_id)
    return stmt


def revoke_device(device_id: str) -> None:
    device = db.session.get(Device, device_id)
    own = current_collector()
    if device is None or (own is not None and device.collector_id != own.id):
        raise ProblemError(404, "Not Found", "No such device.")
    device.revoked_at = utcnow()
    audit.record("revoke", "device", device.id)
    db.session.commit()
