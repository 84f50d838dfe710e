"""Offline-first sync: apply what handhelds captured exactly once, and serve them their day.

``apply_mutations`` runs one push in one transaction: the device row is locked first so
concurrent pushes from the same device queue behind each other, each mutation's effect and
its stored result commit together with the device's new last id, and any database failure
rolls everything back as a 503 so the device simply retries. ``pull_changes`` reads the
collector's day in one consistent read and pages it against the device's signed cursor.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from kpi import DISPOSITIONS
from server.errors import ProblemError
from server.extensions import db
from server.models import (
    Account,
    AgencySettings,
    AppliedMutation,
    Assignment,
    Collector,
    ContactUpdate,
    Device,
    MediaUpload,
    Note,
    Payment,
    Photo,
    PromiseInstallment,
    PromiseToPay,
    ReceiptBlock,
    RoutePlan,
    Visit,
)
from server.services import media
from server.services import tracking as tracking_service
from server.services.devices import allot_receipt_block
from server.services.settings import get_settings
from sync.clock import ClockReading, CorrectedTime, correct_time
from sync.cursor import DEFAULT_TTL_S, CursorVerdict, issue_cursor, read_cursor
from sync.mutations import (
    AddNote,
    AttachPhoto,
    CheckIn,
    CheckOut,
    Command,
    EnvelopeError,
    Mutation,
    PaymentMethod,
    RecordPayment,
    RecordPromise,
    RecordVisit,
    Rejection,
    UpdateContact,
    parse_aware_datetime,
    parse_envelope,
    validate_args,
)
from sync.negotiation import NegotiationOptions, promise_outside_options
from sync.paging import item_digest, plan_page
from sync.receipts import ReceiptBlock as Block
from sync.receipts import needs_new_block, parse_receipt
from sync.sequencing import Apply, Conflict, Gap, Replay, plan_application
from tracking.verification import verify_location

MAX_BATCH = 500
LAST_ATTEMPTS = 5
RETRY_AFTER_S = "2"


class Rejected(Exception):
    """A mutation that can never succeed against the server's records."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _failpoint(name: str) -> None:
    """Fault-injection hook for crash-consistency tests, set by ``SYNC_FAILPOINT``.

    ``exit_<where>`` kills the process right here (the end-to-end tests start the real server
    with it to prove a push killed before or after its commit is applied exactly once on
    retry); ``db_error_<where>`` makes the database itself fail a statement, which must roll
    the whole push back as a 503.
    """
    wanted = os.environ.get("SYNC_FAILPOINT")
    if wanted == f"exit_{name}":
        os._exit(70)
    if wanted == f"db_error_{name}":
        db.session.execute(text("SELECT * FROM sync_failpoint_missing_table"))


# -- push ------------------------------------------------------------------------------


_NEW_UUID_ARGS: dict[str, Any] = {
    "check_in": ("visit_uuid", Visit),
    "record_promise": ("promise_uuid", PromiseToPay),
    "record_payment": ("payment_uuid", Payment),
    "add_note": ("note_uuid", Note),
    "attach_photo": ("photo_uuid", Photo),
    "update_contact": ("contact_uuid", ContactUpdate),
}
Result = Callable[[], dict[str, Any]]
"""A mutation's stored result, built after the batch's flush when server ids exist."""


@dataclass
class _Push:
    """Everything one push request needs, prefetched in a few queries and shared."""

    device: Device
    collector: Collector
    settings: AgencySettings
    tz: ZoneInfo
    received_at: datetime
    reading: ClockReading | None
    blocks: list[Block]
    accounts: dict[int, Account | None] = field(default_factory=dict)
    visits: dict[str, Visit | None] = field(default_factory=dict)
    taken: dict[Any, set[str]] = field(default_factory=dict)
    assignments: dict[tuple[int, date], list[Assignment]] = field(default_factory=dict)
    receipts_used: set[str] = field(default_factory=set)
    landed: dict[str, str | None] = field(default_factory=dict)
    checked: set[str] = field(default_factory=set)
    payments: dict[str, Payment] = field(default_factory=dict)
    reversed_ids: set[int] = field(default_factory=set)
    assignment_days: tuple[date, date] | None = None

    def prefetch(self, mutations: Sequence[Mutation]) -> None:
        """Load what the batch refers to in one query per kind, instead of per mutation."""
        account_ids: set[int] = set()
        visit_keys: set[str] = set()
        new_keys: dict[Any, set[str]] = {}
        receipts: set[str] = set()
        shas: set[str] = set()
        for m in mutations:
            args = m.args
            if isinstance(args.get("account_id"), int):
                account_ids.add(args["account_id"])
            if isinstance(args.get("visit_uuid"), str):
                visit_keys.add(_canonical_uuid(args["visit_uuid"]))
            if m.name in _NEW_UUID_ARGS:
                key, model = _NEW_UUID_ARGS[m.name]
                if isinstance(args.get(key), str):
                    new_keys.setdefault(model, set()).add(_canonical_uuid(args[key]))
            if isinstance(args.get("receipt_number"), str):
                receipts.add(args["receipt_number"])
            if isinstance(args.get("sha256"), str):
                shas.add(args["sha256"])
        for visit in db.session.execute(
            select(Visit).where(Visit.client_uuid.in_(visit_keys))
        ).scalars():
            self.visits[visit.client_uuid] = visit
            account_ids.add(visit.account_id)
        self.visits.update({k: None for k in visit_keys - set(self.visits)})
        for model, keys in new_keys.items():
            self.checked |= keys
            self.taken[model] = set(
                db.session.execute(
                    select(model.client_uuid).where(model.client_uuid.in_(keys))
                ).scalars()
            )
        found = {
            a.id: a
            for a in db.session.execute(
                select(Account).where(Account.id.in_(account_ids))
            ).scalars()
        }
        self.accounts.update({i: found.get(i) for i in account_ids})
        if account_ids:
            days = [self.local_date(m.client_time) for m in mutations]
            first = min([*days, self.local_date(self.received_at)]) - timedelta(days=1)
            last = max([*days, self.local_date(self.received_at)]) + timedelta(days=1)
            for assignment in db.session.execute(
                select(Assignment).where(
                    Assignment.account_id.in_(account_ids),
                    Assignment.date >= first,
                    Assignment.date <= last,
                )
            ).scalars():
                key = (assignment.account_id, assignment.date)
                self.assignments.setdefault(key, []).append(assignment)
            self.assignment_days = (first, last)
        self.receipts_used = {
            number
            for number in db.session.execute(
                select(Payment.receipt_number).where(
                    Payment.receipt_number.in_(receipts), Payment.source == "field"
                )
            ).scalars()
            if number
        }
        for sha, mime in db.session.execute(
            select(MediaUpload.sha256, MediaUpload.mime).where(
                MediaUpload.sha256.in_(shas), MediaUpload.status == "complete"
            )
        ):
            self.landed[sha] = mime

    def account(self, account_id: int) -> Account:
        if account_id not in self.accounts:
            self.accounts[account_id] = db.session.get(Account, account_id)
        account = self.accounts[account_id]
        if account is None:
            raise Rejected("unknown_account", f"account {account_id} does not exist")
        return account

    def assignments_on(self, account_id: int, day: date) -> list[Assignment]:
        window = self.assignment_days
        if window is None or not window[0] <= day <= window[1]:
            found = list(
                db.session.execute(
                    select(Assignment).where(
                        Assignment.account_id == account_id, Assignment.date == day
                    )
                ).scalars()
            )
            self.assignments[(account_id, day)] = found
        return self.assignments.get((account_id, day), [])

    def visit(self, visit_uuid: uuid.UUID) -> Visit:
        key = str(visit_uuid)
        if key not in self.visits:
            self.visits[key] = db.session.execute(
                select(Visit).where(Visit.client_uuid == key)
            ).scalar_one_or_none()
        visit = self.visits[key]
        if visit is None:
            raise Rejected("unknown_visit", f"visit {key} was never checked in")
        if visit.collector_id != self.collector.id:
            raise Rejected("foreign_visit", f"visit {key} belongs to another collector")
        return visit

    def ensure_new(self, model: Any, client_uuid: uuid.UUID) -> str:
        """Claim a client UUID for a new record; one already used anywhere is refused."""
        key = str(client_uuid)
        taken = self.taken.setdefault(model, set())
        if key not in self.checked:
            exists = db.session.execute(select(model.id).where(model.client_uuid == key)).first()
            if exists is not None:
                taken.add(key)
            self.checked.add(key)
        if key in taken:
            raise Rejected("duplicate_uuid", f"{key} was already recorded by another capture")
        taken.add(key)
        return key

    def times(self, mutation: Mutation, account: Account | None = None) -> CorrectedTime:
        since = account.created_at if account is not None else None
        return correct_time(mutation.client_time, self.received_at, self.reading, since)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()


def _canonical_uuid(text_value: str) -> str:
    try:
        return str(uuid.UUID(text_value))
    except ValueError:
        return text_value


def _id_of(record: Any) -> int:
    """The server id of a record created earlier in this batch (flushing it if needed)."""
    if record.id is None:
        db.session.flush()
    return int(record.id)


def _check_in(push: _Push, m: Mutation, cmd: CheckIn) -> Result:
    account = push.account(cmd.account_id)
    key = push.ensure_new(Visit, cmd.visit_uuid)
    times = push.times(m, account)
    day = push.local_date(times.corrected)
    flags = sorted({f"time_{flag.value}" for flag in times.flags})
    assignments = push.assignments_on(account.id, day)
    own: Assignment | None = None
    others = False
    for assignment in assignments:
        if assignment.collector_id == push.collector.id and assignment.status != "removed":
            own = assignment
        elif assignment.collector_id != push.collector.id and assignment.status != "removed":
            others = True
    if own is None and others:
        # Reassigned while the collector was offline: the visit is a fact, kept and flagged.
        flags.append("reassigned")
    elif own is None:
        flags.append("unassigned")
    observed = (cmd.position.lat, cmd.position.lon) if cmd.position else None
    target = (
        (account.lat, account.lon) if account.lat is not None and account.lon is not None else None
    )
    geo = verify_location(observed, target, radius_m=float(push.settings.verify_radius_m))
    visit = Visit(
        client_uuid=key,
        account_id=account.id,
        collector_id=push.collector.id,
        device_id=push.device.id,
        assignment_id=own.id if own else None,
        checked_in_at=times.corrected,
        device_time=times.device_time,
        received_at=times.received_at,
        local_date=day,
        lat=observed[0] if observed else None,
        lon=observed[1] if observed else None,
        accuracy_m=cmd.position.accuracy_m if cmd.position else None,
        distance_m=None if geo.distance_m is None else round(geo.distance_m, 1),
        geo_status=geo.status.value,
        flags=flags,
    )
    db.session.add(visit)
    push.visits[key] = visit
    return lambda: {
        "visit_id": visit.id,
        "geo_status": visit.geo_status,
        "distance_m": visit.distance_m,
        "flags": flags,
    }


def _record_visit(push: _Push, m: Mutation, cmd: RecordVisit) -> Result:
    visit = push.visit(cmd.visit_uuid)
    if visit.disposition is not None and visit.disposition != cmd.disposition.value:
        raise Rejected(
            "disposition_recorded", f"the visit already has disposition {visit.disposition}"
        )
    visit.disposition = cmd.disposition.value
    if cmd.comment:
        db.session.add(
            Note(
                account_id=visit.account_id,
                visit=visit,
                collector_id=push.collector.id,
                author_id=push.collector.user_id,
                text=cmd.comment,
                created_at=push.times(m).corrected,
            )
        )
    disposition = visit.disposition
    return lambda: {"visit_id": visit.id, "disposition": disposition}


def _record_promise(push: _Push, m: Mutation, cmd: RecordPromise) -> Result:
    visit = push.visit(cmd.visit_uuid)
    key = push.ensure_new(PromiseToPay, cmd.promise_uuid)
    account = push.account(visit.account_id)
    try:
        options = NegotiationOptions.from_mapping(account.negotiation_options)
    except ValueError:
        options = NegotiationOptions()
    owed = account.balance if account.balance > 0 else account.overdue_balance
    reason = promise_outside_options(cmd, options, owed, visit.local_date)
    if reason is not None:
        raise Rejected("outside_negotiation_options", reason)
    times = push.times(m, account)
    promise = PromiseToPay(
        client_uuid=key,
        visit=visit,
        account_id=account.id,
        collector_id=push.collector.id,
        created_at=times.corrected,
        local_date=visit.local_date,
        currency=account.currency,
        amount=cmd.total,
        first_due_date=cmd.installments[0].due_date,
        last_due_date=cmd.installments[-1].due_date,
        installments=[
            PromiseInstallment(seq=k + 1, due_date=i.due_date, amount=i.amount)
            for k, i in enumerate(cmd.installments)
        ],
    )
    db.session.add(promise)
    return lambda: {"promise_id": promise.id, "amount": str(promise.amount)}


def _record_payment(push: _Push, m: Mutation, cmd: RecordPayment) -> Result:
    account = push.account(cmd.account_id)
    key = push.ensure_new(Payment, cmd.payment_uuid)
    if cmd.method is PaymentMethod.CASH and not push.settings.cash_allowed:
        raise Rejected(
            "cash_not_allowed",
            "the agency's jurisdiction forbids taking cash in the field; record a transfer",
        )
    if not any(cmd.receipt_number in block for block in push.blocks):
        raise Rejected(
            "receipt_outside_block", f"{cmd.receipt_number} is not in this device's blocks"
        )
    if cmd.receipt_number in push.receipts_used:
        raise Rejected("duplicate_receipt", f"{cmd.receipt_number} was already issued")
    visit = push.visit(cmd.visit_uuid) if cmd.visit_uuid else None
    amount = cmd.amount
    reverses_id = None
    if cmd.reverses is not None:
        original = (
            push.payments.get(str(cmd.reverses))
            or db.session.execute(
                select(Payment).where(Payment.client_uuid == str(cmd.reverses))
            ).scalar_one_or_none()
        )
        if original is None or original.account_id != account.id or original.amount <= 0:
            raise Rejected("unknown_payment", "the payment to reverse does not exist here")
        if original.amount != cmd.amount:
            raise Rejected("reversal_amount", "a reversal must carry the original amount")
        original_id = _id_of(original)
        already = db.session.execute(
            select(Payment.id).where(Payment.reverses_id == original_id)
        ).first()
        if already is not None or original_id in push.reversed_ids:
            raise Rejected("already_reversed", "the payment was already reversed")
        push.reversed_ids.add(original_id)
        amount, reverses_id = -cmd.amount, original_id
    times = push.times(m, account)
    payment = Payment(
        client_uuid=key,
        account_id=account.id,
        collector_id=push.collector.id,
        visit=visit,
        device_id=push.device.id,
        source="field",
        amount=amount,
        currency=account.currency,
        method=cmd.method.value,
        receipt_number=cmd.receipt_number,
        reference=cmd.reference,
        paid_at=times.corrected,
        local_date=push.local_date(times.corrected),
        reverses_id=reverses_id,
        created_at=times.received_at,
    )
    db.session.add(payment)
    push.receipts_used.add(cmd.receipt_number)
    push.payments[key] = payment
    return lambda: {
        "payment_id": payment.id,
        "receipt_number": payment.receipt_number,
        "amount": str(payment.amount),
    }


def _add_note(push: _Push, m: Mutation, cmd: AddNote) -> Result:
    account = push.account(cmd.account_id)
    key = push.ensure_new(Note, cmd.note_uuid)
    visit = push.visit(cmd.visit_uuid) if cmd.visit_uuid else None
    note = Note(
        client_uuid=key,
        account_id=account.id,
        visit=visit,
        collector_id=push.collector.id,
        author_id=push.collector.user_id,
        text=cmd.text,
        created_at=push.times(m, account).corrected,
    )
    db.session.add(note)
    return lambda: {"note_id": note.id}


def _attach_photo(push: _Push, m: Mutation, cmd: AttachPhoto) -> Result:
    visit = push.visit(cmd.visit_uuid)
    key = push.ensure_new(Photo, cmd.photo_uuid)
    if cmd.size_bytes > int(current_app.config.get("MEDIA_MAX_BYTES", 15 * 1024 * 1024)):
        raise Rejected("photo_too_large", "the photo exceeds the server's size limit")
    landed = cmd.sha256 in push.landed
    taken_at = None
    if cmd.taken_at is not None:
        taken_at = correct_time(cmd.taken_at, push.received_at, push.reading).corrected
    photo = Photo(
        client_uuid=key,
        account_id=visit.account_id,
        visit=visit,
        collector_id=push.collector.id,
        sha256=cmd.sha256,
        size_bytes=cmd.size_bytes,
        mime=push.landed.get(cmd.sha256) or "application/octet-stream",
        kind=cmd.kind,
        taken_at=taken_at,
        lat=cmd.position.lat if cmd.position else None,
        lon=cmd.position.lon if cmd.position else None,
    )
    db.session.add(photo)
    if landed:  # the bytes came first: compare their EXIF GPS now
        tracking_service.verify_photo_location(photo, media.stored_path(cmd.sha256))
    return lambda: {"photo_id": photo.id, "arrived": landed}


def _update_contact(push: _Push, m: Mutation, cmd: UpdateContact) -> Result:
    account = push.account(cmd.account_id)
    key = push.ensure_new(ContactUpdate, cmd.contact_uuid)
    if cmd.visit_uuid:
        push.visit(cmd.visit_uuid)
    kind = "both" if cmd.phone and cmd.address else ("phone" if cmd.phone else "address")
    value: dict[str, Any] = {"phone": cmd.phone, "address": cmd.address}
    if cmd.visit_uuid:
        value["visit_uuid"] = str(cmd.visit_uuid)
    update_row = ContactUpdate(
        client_uuid=key,
        account_id=account.id,
        collector_id=push.collector.id,
        kind=kind,
        value=value,
        created_at=push.times(m, account).corrected,
    )
    db.session.add(update_row)
    return lambda: {"contact_update_id": update_row.id}


def _check_out(push: _Push, m: Mutation, cmd: CheckOut) -> Result:
    visit = push.visit(cmd.visit_uuid)
    times = push.times(m)
    visit.checked_out_at = max(times.corrected, visit.checked_in_at)
    return lambda: {"visit_id": visit.id}


_HANDLERS: dict[type, Callable[[_Push, Mutation, Any], Result]] = {
    CheckIn: _check_in,
    RecordVisit: _record_visit,
    RecordPromise: _record_promise,
    RecordPayment: _record_payment,
    AddNote: _add_note,
    AttachPhoto: _attach_photo,
    UpdateContact: _update_contact,
    CheckOut: _check_out,
}


def _parse_batch(body: dict[str, Any], device: Device) -> tuple[list[Mutation], datetime | None]:
    if str(body.get("device_id")) != device.id:
        raise ProblemError(
            403, "Forbidden", "device_id does not match the credential that signed the request"
        )
    raw = body.get("mutations")
    if not isinstance(raw, list) or len(raw) > MAX_BATCH:
        raise ProblemError(422, "Invalid batch", f"mutations must be a list of at most {MAX_BATCH}")
    try:
        mutations = [parse_envelope(item) for item in raw]
    except EnvelopeError as exc:
        raise ProblemError(422, "Invalid mutation", str(exc)) from exc
    device_time = None
    if body.get("device_time") is not None:
        try:
            device_time = parse_aware_datetime(body["device_time"])
        except ValueError as exc:
            raise ProblemError(422, "Invalid device_time", f"device_time {exc}") from exc
    return mutations, device_time


def _stored_result(row: AppliedMutation | dict[str, Any], replayed: bool = True) -> dict[str, Any]:
    """The answer for one mutation, from its stored row (or the row about to be stored)."""
    values = (
        row
        if isinstance(row, dict)
        else {
            "mutation_id": row.mutation_id,
            "status": row.status,
            "result": row.result,
            "reason": row.reason,
        }
    )
    answer: dict[str, Any] = {
        "id": values["mutation_id"],
        "status": values["status"],
        "http_status": 200 if values["status"] == "applied" else 422,
        "replayed": replayed,
        "result": values["result"],
    }
    if values["reason"]:
        answer["reason"] = values["reason"]
    return answer


def apply_mutations(device: Device, body: dict[str, Any]) -> dict[str, Any]:
    """Apply one push exactly once, in one transaction; see the module docstring."""
    mutations, device_time = _parse_batch(body, device)
    device_id = device.id
    # End the read transaction that authentication opened, then take the device's write lock
    # first: concurrent pushes from this device now run one after the other, each seeing
    # what the previous one committed.
    db.session.rollback()
    received_at = datetime.now(UTC)
    try:
        db.session.execute(
            update(Device).where(Device.id == device_id).values(last_seen_at=received_at)
        )
        device = db.session.execute(
            select(Device).where(Device.id == device_id).with_for_update()
        ).scalar_one()
        answer = _apply_locked(device, mutations, device_time, received_at)
        _failpoint("before_commit")
        db.session.commit()
    except (OperationalError, IntegrityError, DBAPIError) as exc:
        db.session.rollback()
        current_app.logger.warning("push rolled back: %s", type(exc).__name__)
        raise ProblemError(
            503,
            "Service Unavailable",
            "The database could not apply this push; nothing was applied. Retry.",
            headers={"Retry-After": RETRY_AFTER_S},
        ) from exc
    _failpoint("after_commit")
    return answer


def _apply_locked(
    device: Device,
    mutations: Sequence[Mutation],
    device_time: datetime | None,
    received_at: datetime,
) -> dict[str, Any]:
    settings = get_settings()
    collector = db.session.get(Collector, device.collector_id)
    assert collector is not None
    reading = ClockReading(device_time, received_at) if device_time is not None else None
    blocks = [
        Block(b.prefix, b.start, b.end)
        for b in db.session.execute(
            select(ReceiptBlock).where(ReceiptBlock.device_id == device.id)
        ).scalars()
    ]
    push = _Push(
        device, collector, settings, ZoneInfo(settings.timezone), received_at, reading, blocks
    )
    earlier_ids = [m.id for m in mutations if m.id <= device.last_mutation_id]
    stored_rows: dict[int, AppliedMutation] = {}
    if earlier_ids:
        stored_rows = {
            row.mutation_id: row
            for row in db.session.execute(
                select(AppliedMutation).where(
                    AppliedMutation.device_id == device.id,
                    AppliedMutation.mutation_id.in_(earlier_ids),
                )
            ).scalars()
        }
    plan = plan_application(
        device.last_mutation_id,
        {i: row.content_hash for i, row in stored_rows.items()},
        mutations,
    )
    to_apply = [step.mutation for step in plan if isinstance(step, Apply)]
    push.prefetch(to_apply)
    new_rows: dict[int, dict[str, Any]] = {}
    outcomes: list[tuple[str, int]] = []  # (kind, mutation id) in request order
    expected_id: int | None = None
    counts = {"applied": 0, "rejected": 0, "replayed": 0, "conflict": 0}
    built: dict[int, Result | None] = {}
    # Handlers keep what they create in the push's caches, so nothing needs an autoflush;
    # the batch is written in a few flushes instead of one per mutation.
    with db.session.no_autoflush:
        for step in plan:
            if isinstance(step, Gap):
                expected_id = step.expected_id
                break
            m = step.mutation
            if isinstance(step, Conflict):
                counts["conflict"] += 1
                outcomes.append(("conflict", m.id))
            elif isinstance(step, Replay):
                counts["replayed"] += 1
                outcomes.append(("replay", m.id))
            else:
                status, result, reason = _apply_one(push, m)
                built[m.id] = result
                new_rows[m.id] = {
                    "device_id": device.id,
                    "mutation_id": m.id,
                    "name": m.name[:32],
                    "content_hash": m.hash,
                    "status": status,
                    "reason": reason[:255] if reason else None,
                    "client_time": m.client_time,
                    "received_at": received_at,
                }
                device.last_mutation_id = m.id
                counts[status] += 1
                outcomes.append(("new", m.id))
    if reading is not None:
        device.clock_offset_s = reading.offset.total_seconds()
    device.last_sync_at = received_at
    db.session.flush()
    for mutation_id, result in built.items():
        new_rows[mutation_id]["result"] = result() if result is not None else None
    if new_rows:
        db.session.execute(insert(AppliedMutation), list(new_rows.values()))
    results: list[dict[str, Any]] = []
    for kind, mutation_id in outcomes:
        if kind == "conflict":
            results.append(
                {
                    "id": mutation_id,
                    "status": "conflict",
                    "http_status": 409,
                    "reason": "conflict: this id was already used with different content",
                }
            )
        elif mutation_id in stored_rows:
            results.append(_stored_result(stored_rows[mutation_id]))
        else:
            results.append(_stored_result(new_rows[mutation_id], replayed=kind == "replay"))
    return {
        "device_id": device.id,
        "last_applied_id": device.last_mutation_id,
        "expected_id": expected_id,
        "server_time": received_at,
        "clock_offset_s": device.clock_offset_s,
        "counts": counts,
        "results": results,
    }


def _apply_one(push: _Push, m: Mutation) -> tuple[str, Result | None, str | None]:
    """Apply one mutation: its status, its result builder, or why it was rejected."""
    command: Command | Rejection = validate_args(m.name, m.args)
    if isinstance(command, Rejection):
        return "rejected", None, f"{command.code}: {command.detail}"
    try:
        return "applied", _HANDLERS[type(command)](push, m, command), None
    except Rejected as exc:
        return "rejected", None, f"{exc.code}: {exc.detail}"


# -- pull ------------------------------------------------------------------------------


def cursor_secret() -> bytes:
    """A key for cursors only, derived from the app secret so rotating one rotates both."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"sync-cursor", hashlib.sha256).digest()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _day_items(
    collector: Collector, day: date
) -> tuple[dict[str, dict[str, Any]], RoutePlan | None]:
    """The collector's day as keyed items (stops and accounts), read in the caller's snapshot."""
    assignments = list(
        db.session.execute(
            select(Assignment)
            .where(
                Assignment.collector_id == collector.id,
                Assignment.date == day,
                Assignment.status != "removed",
            )
            .order_by(Assignment.sequence, Assignment.id)
        ).scalars()
    )
    account_ids = sorted({a.account_id for a in assignments})
    accounts = {
        a.id: a
        for a in db.session.execute(select(Account).where(Account.id.in_(account_ids))).scalars()
    }
    # Only the last few attempts per account travel to the device; a window function keeps
    # busy accounts (hundreds of attempts) from being loaded whole.
    ranked = (
        select(
            Visit.account_id,
            Visit.client_uuid,
            Visit.local_date,
            Visit.disposition,
            Visit.collector_id,
            func.row_number()
            .over(
                partition_by=Visit.account_id,
                order_by=(Visit.checked_in_at.desc(), Visit.id.desc()),
            )
            .label("rank"),
        )
        .where(Visit.account_id.in_(account_ids), Visit.local_date >= day - timedelta(days=60))
        .subquery()
    )
    history: dict[int, list[Any]] = {}
    for row in db.session.execute(
        select(ranked)
        .where(ranked.c.rank <= LAST_ATTEMPTS)
        .order_by(ranked.c.account_id, ranked.c.rank)
    ):
        history.setdefault(row.account_id, []).append(row)
    done = set(
        db.session.execute(
            select(Visit.account_id)
            .where(Visit.account_id.in_(account_ids), Visit.local_date == day)
            .distinct()
        ).scalars()
    )
    promises: dict[int, list[PromiseToPay]] = {}
    for promise in db.session.execute(
        select(PromiseToPay)
        .where(PromiseToPay.account_id.in_(account_ids), PromiseToPay.last_due_date >= day)
        .order_by(PromiseToPay.created_at)
    ).scalars():
        promises.setdefault(promise.account_id, []).append(promise)
    items: dict[str, dict[str, Any]] = {}
    for a in assignments:
        done_today = a.account_id in done
        items[f"stop:{a.id:012d}"] = {
            "stop_id": a.id,
            "account_id": a.account_id,
            "plan_id": a.plan_id,
            "sequence": a.sequence,
            "eta": _iso(a.eta),
            "window_start": _iso(a.window_start),
            "window_end": _iso(a.window_end),
            "status": "done" if done_today else a.status,
        }
    for account_id in account_ids:
        account = accounts[account_id]
        try:
            options = NegotiationOptions.from_mapping(account.negotiation_options)
        except ValueError:
            options = NegotiationOptions()
        items[f"account:{account_id:012d}"] = {
            "account_id": account.id,
            "external_id": account.external_id,
            "debtor_name": account.debtor_name,
            "address": account.address,
            "district": account.district,
            "phones": list(account.phones or []),
            "lat": account.lat,
            "lon": account.lon,
            "currency": account.currency,
            "balance": _money(account.balance),
            "overdue_balance": _money(account.overdue_balance),
            "days_past_due": account.days_past_due,
            "segment": account.segment,
            "preferred_windows": account.preferred_windows or [],
            "negotiation_options": options.as_json(),
            "last_attempts": [
                {
                    "visit_uuid": v.client_uuid,
                    "date": v.local_date.isoformat(),
                    "disposition": v.disposition,
                    "by_me": v.collector_id == collector.id,
                }
                for v in history.get(account_id, [])
            ],
            "open_promises": [
                {
                    "promise_uuid": p.client_uuid,
                    "amount": _money(p.amount),
                    "installments": [
                        {"due_date": i.due_date.isoformat(), "amount": _money(i.amount)}
                        for i in p.installments
                    ],
                }
                for p in promises.get(account_id, [])
            ],
        }
    plan_ids = {a.plan_id for a in assignments if a.plan_id is not None}
    plan = db.session.get(RoutePlan, max(plan_ids)) if plan_ids else None
    return items, plan


def _receipt_block_for(device: Device, settings: AgencySettings) -> dict[str, Any] | None:
    """The device's newest block; a fresh one is allotted when the device runs low."""
    blocks = list(
        db.session.execute(
            select(ReceiptBlock)
            .where(ReceiptBlock.device_id == device.id)
            .order_by(ReceiptBlock.start)
        ).scalars()
    )
    # A device issues receipts in order and pushes them in order, so its latest payments
    # carry its highest numbers; no need to read them all.
    numbers = db.session.execute(
        select(Payment.receipt_number)
        .where(Payment.device_id == device.id, Payment.source == "field")
        .order_by(Payment.id.desc())
        .limit(50)
    ).scalars()
    highest_used = max((parse_receipt(n)[1] for n in numbers if n), default=None)
    if blocks:
        newest = blocks[-1]
        current = Block(newest.prefix, newest.start, newest.end)
        if not needs_new_block(current, highest_used, settings.receipt_block_size // 5):
            return {"prefix": newest.prefix, "start": newest.start, "end": newest.end}
    fresh = allot_receipt_block(device)
    return {"prefix": fresh.prefix, "start": fresh.start, "end": fresh.end}


def pull_changes(device: Device, cursor: str | None, page_size: int) -> dict[str, Any]:
    """One page of what changed in the collector's day since ``cursor``, read consistently."""
    device_id = device.id
    db.session.rollback()
    if db.engine.dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        device = db.session.execute(select(Device).where(Device.id == device_id)).scalar_one()
        settings = get_settings()
        tz = ZoneInfo(settings.timezone)
        collector = db.session.get(Collector, device.collector_id)
        assert collector is not None
        now = datetime.now(UTC)
        day = now.astimezone(tz).date()
        verdict, state = read_cursor(cursor_secret(), cursor, device.id, int(time.time()))
        items, plan = _day_items(collector, day)
        last_mutation_id = device.last_mutation_id
        page = plan_page(state, {k: item_digest(v) for k, v in items.items()}, page_size)
        block = _receipt_block_for(device, settings)
        db.session.commit()
    except (OperationalError, DBAPIError) as exc:
        db.session.rollback()
        raise ProblemError(
            503,
            "Service Unavailable",
            "Could not read the day; retry.",
            headers={"Retry-After": RETRY_AFTER_S},
        ) from exc
    ttl = int(current_app.config.get("SYNC_CURSOR_TTL_S", DEFAULT_TTL_S))
    removed = []
    for key in page.remove:
        kind, _, ident = key.partition(":")
        removed.append({"kind": kind, "id": int(ident)})
    return {
        "cursor": issue_cursor(cursor_secret(), page.next_state, int(time.time()), ttl),
        "has_more": page.has_more,
        "full_resend": verdict is not CursorVerdict.VALID,
        "cursor_status": verdict.value,
        "server_time": now,
        "last_mutation_id": last_mutation_id,
        "route": {
            "date": day.isoformat(),
            "plan_id": plan.id if plan else None,
            "published_at": _iso(plan.published_at) if plan else None,
        },
        "stops": [items[k] for k in page.send if k.startswith("stop:")],
        "accounts": [items[k] for k in page.send if k.startswith("account:")],
        "removed": removed,
        "dispositions": [
            {
                "code": info.disposition.value,
                "label_es": info.label_es,
                "label_en": info.label_en,
                "level": info.level.machine_name,
                "yields_promise": info.yields_promise,
                "records_payment": info.records_payment,
            }
            for info in DISPOSITIONS.values()
        ],
        "agency": {
            "timezone": settings.timezone,
            "currency": settings.currency,
            "cash_allowed": settings.cash_allowed,
            "verify_radius_m": settings.verify_radius_m,
        },
        "collector": {
            "id": collector.id,
            "travel_mode": collector.travel_mode,
            "shift_start_min": collector.shift_start_min,
            "shift_end_min": collector.shift_end_min,
            "start_lat": collector.start_lat,
            "start_lon": collector.start_lon,
        },
        "receipt_block": block,
    }


# -- reading it back ----------------------------------------------------------------


def find_receipt(number: str, collector_id: int | None) -> dict[str, Any]:
    """A field receipt as shown to the debtor or an auditor, with any reversal of it."""
    payment = db.session.execute(
        select(Payment).where(
            Payment.receipt_number == number, Payment.source == "field", Payment.amount > 0
        )
    ).scalar_one_or_none()
    if payment is None or (collector_id is not None and payment.collector_id != collector_id):
        raise ProblemError(404, "Not Found", "No field receipt with this number.")
    account = db.session.get(Account, payment.account_id)
    collector = db.session.get(Collector, payment.collector_id) if payment.collector_id else None
    visit = db.session.get(Visit, payment.visit_id) if payment.visit_id else None
    reversal = db.session.execute(
        select(Payment).where(Payment.reverses_id == payment.id)
    ).scalar_one_or_none()
    return {
        "receipt_number": payment.receipt_number,
        "status": "reversed" if reversal else "valid",
        "amount": payment.amount,
        "currency": payment.currency,
        "method": payment.method,
        "reference": payment.reference,
        "paid_at": payment.paid_at,
        "local_date": payment.local_date,
        "payment_uuid": payment.client_uuid,
        "visit_uuid": visit.client_uuid if visit else None,
        "account": {
            "id": account.id if account else None,
            "external_id": account.external_id if account else None,
            "debtor_name": account.debtor_name if account else None,
        },
        "collector": {
            "id": collector.id if collector else None,
            "full_name": collector.full_name if collector else None,
        },
        "reversal": None
        if reversal is None
        else {
            "receipt_number": reversal.receipt_number,
            "amount": reversal.amount,
            "paid_at": reversal.paid_at,
            "payment_uuid": reversal.client_uuid,
        },
    }


def visits_query(args: dict[str, Any]) -> Any:
    """Visits in ``[from, to)`` (agency-local days), optionally of one collector, newest first."""
    stmt = select(Visit).order_by(Visit.checked_in_at.desc(), Visit.id.desc())
    if args.get("from") is not None:
        stmt = stmt.where(Visit.local_date >= args["from"])
    if args.get("to") is not None:
        stmt = stmt.where(Visit.local_date < args["to"])
    if args.get("collector_id") is not None:
        stmt = stmt.where(Visit.collector_id == args["collector_id"])
    return stmt


def attach_visit_details(visits: list[Visit]) -> list[Visit]:
    """Load each visit's promise, payments, notes and photos in four queries, not 4 x N."""
    ids = [v.id for v in visits]
    by_visit: dict[str, dict[int, list[Any]]] = {
        "promises": {},
        "payments": {},
        "notes": {},
        "photos": {},
    }
    models: tuple[tuple[str, Any], ...] = (
        ("promises", PromiseToPay),
        ("payments", Payment),
        ("notes", Note),
        ("photos", Photo),
    )
    for name, model in models:
        rows = db.session.execute(
            select(model).where(model.visit_id.in_(ids)).order_by(model.id)
        ).scalars()
        for row in rows:
            by_visit[name].setdefault(row.visit_id, []).append(row)
    shas = {p.sha256 for photos in by_visit["photos"].values() for p in photos}
    arrived = set(
        db.session.execute(
            select(MediaUpload.sha256).where(
                MediaUpload.sha256.in_(shas), MediaUpload.status == "complete"
            )
        ).scalars()
    )
    for visit in visits:
        promises = by_visit["promises"].get(visit.id, [])
        visit.promise = promises[0] if promises else None
        visit.payments = by_visit["payments"].get(visit.id, [])
        visit.notes = by_visit["notes"].get(visit.id, [])
        visit.photos = [
            {
                "client_uuid": p.client_uuid,
                "sha256": p.sha256,
                "size_bytes": p.size_bytes,
                "mime": p.mime,
                "kind": p.kind,
                "taken_at": p.taken_at,
                "arrived": p.sha256 in arrived,
                "geo_status": p.geo_status,
                "geo_distance_m": p.geo_distance_m,
            }
            for p in by_visit["photos"].get(visit.id, [])
        ]
    return visits
