"""Mutations: what a handheld captured, as the envelope it pushes and the commands it means.

A device queues every capture as a mutation ``{id, name, args, client_time}``. The envelope
must be well formed (a malformed one is a client bug and fails the whole request), but the
arguments are judged per mutation: a capture that can never succeed becomes a ``Rejection``
with a reason, which the server records so the device's queue keeps moving.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

from kpi import Disposition
from sync.receipts import parse_receipt

MAX_NOTE_CHARS: Final = 2000
MAX_ADDRESS_CHARS: Final = 300
MAX_INSTALLMENTS: Final = 36
"""Structural ceiling for a plan; the creditor's options for the account are usually tighter."""
PHOTO_KINDS: Final = ("facade", "receipt", "document", "other")
MAX_AMOUNT: Final = Decimal("1000000000")
_CENT: Final = Decimal("0.01")
_SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")
_PHONE_RE: Final = re.compile(r"^\+?[0-9][0-9 ()-]{4,24}$")


class EnvelopeError(ValueError):
    """The mutation envelope itself is malformed; the request cannot be processed."""


class PaymentMethod(StrEnum):
    """How a field payment was made; cash may be forbidden by the agency's jurisdiction."""

    CASH = "cash"
    TRANSFER = "transfer"
    CARD = "card"
    WALLET = "wallet"


@dataclass(frozen=True, slots=True)
class Mutation:
    """One queued capture as pushed: per-device counter ``id`` plus its content hash."""

    id: int
    name: str
    args: Mapping[str, Any]
    client_time: datetime
    hash: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a mutation can never succeed; recorded so the counter still advances."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Position:
    """Where the device was when it captured something (WGS84 degrees, metres)."""

    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class CheckIn:
    """Arrival at an account's door; opens the visit (attempt) ``visit_uuid``."""

    visit_uuid: uuid.UUID
    account_id: int
    position: Position | None
    stop_id: int | None


@dataclass(frozen=True, slots=True)
class RecordVisit:
    """The disposition of the attempt, exactly one per visit."""

    visit_uuid: uuid.UUID
    disposition: Disposition
    comment: str | None


@dataclass(frozen=True, slots=True)
class Installment:
    """One dated amount of a promise to pay."""

    due_date: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class RecordPromise:
    """A promise to pay: one installment for a single dated amount, several for a plan."""

    promise_uuid: uuid.UUID
    visit_uuid: uuid.UUID
    installments: tuple[Installment, ...]

    @property
    def total(self) -> Decimal:
        """What the debtor committed to pay in all."""
        return sum((i.amount for i in self.installments), Decimal(0))

    @property
    def is_plan(self) -> bool:
        """Whether this is an installment plan rather than one dated amount."""
        return len(self.installments) > 1


@dataclass(frozen=True, slots=True)
class RecordPayment:
    """A field payment, or the reversal of one (payments are append-only)."""

    payment_uuid: uuid.UUID
    account_id: int
    visit_uuid: uuid.UUID | None
    amount: Decimal
    method: PaymentMethod
    receipt_number: str
    reference: str | None
    reverses: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class AddNote:
    """Free text about an account, optionally tied to a visit."""

    note_uuid: uuid.UUID
    account_id: int
    visit_uuid: uuid.UUID | None
    text: str


@dataclass(frozen=True, slots=True)
class AttachPhoto:
    """Declares a photo by content hash; the bytes arrive separately through tus."""

    photo_uuid: uuid.UUID
    visit_uuid: uuid.UUID
    sha256: str
    size_bytes: int
    kind: str
    taken_at: datetime | None
    position: Position | None


@dataclass(frozen=True, slots=True)
class UpdateContact:
    """A new phone or address for the debtor, reported in the field."""

    contact_uuid: uuid.UUID
    account_id: int
    visit_uuid: uuid.UUID | None
    phone: str | None
    address: str | None


@dataclass(frozen=True, slots=True)
class CheckOut:
    """Leaving the door; closes the visit."""

    visit_uuid: uuid.UUID
    position: Position | None


Command = (
    CheckIn | RecordVisit | RecordPromise | RecordPayment | AddNote | AttachPhoto | UpdateContact
) | CheckOut


class _Invalid(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class _Args:
    """Reads one mutation's arguments, turning every defect into a named rejection."""

    def __init__(self, raw: Mapping[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise _Invalid("invalid_args", f"unknown argument(s): {', '.join(unknown)}")
        self.raw = raw

    def present(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def opt_uuid(self, key: str, *, required: bool = True) -> uuid.UUID | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise _Invalid("invalid_args", f"{key} is required")
            return None
        if not isinstance(value, str):
            raise _Invalid("invalid_args", f"{key} must be a UUID string")
        try:
            return uuid.UUID(value)
        except ValueError:
            raise _Invalid("invalid_args", f"{key} is not a UUID") from None

    def req_uuid(self, key: str) -> uuid.UUID:
        value = self.opt_uuid(key)
        assert value is not None
        return value

    def ident(self, key: str, *, required: bool = True) -> int | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise _Invalid("invalid_args", f"{key} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _Invalid("invalid_args", f"{key} must be a positive integer")
        return value

    def req_ident(self, key: str) -> int:
        value = self.ident(key)
        assert value is not None
        return value

    def text(self, key: str, max_chars: int, *, required: bool = True) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise _Invalid("invalid_args", f"{key} is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise _Invalid("invalid_args", f"{key} must be non-empty text")
        if len(value) > max_chars:
            raise _Invalid("invalid_args", f"{key} is longer than {max_chars} characters")
        return value.strip()

    def position(self) -> Position | None:
        lat, lon = self.raw.get("lat"), self.raw.get("lon")
        if lat is None and lon is None:
            return None
        return Position(
            lat=_coordinate(lat, "lat", 90.0),
            lon=_coordinate(lon, "lon", 180.0),
            accuracy_m=_optional_non_negative(self.raw.get("accuracy"), "accuracy"),
        )

    def when(self, key: str) -> datetime | None:
        value = self.raw.get(key)
        if value is None:
            return None
        try:
            return parse_aware_datetime(value)
        except ValueError as exc:
            raise _Invalid("invalid_args", f"{key}: {exc}") from None


def _coordinate(value: object, name: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("invalid_args", f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number) or abs(number) > limit:
        raise _Invalid("invalid_args", f"{name} is out of range")
    return number


def _optional_non_negative(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("invalid_args", f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise _Invalid("invalid_args", f"{name} must be a non-negative number")
    return number


def parse_amount(value: object, name: str = "amount") -> Decimal:
    """Read money sent as a decimal string or integer; at most two decimals, more than 0.

    Floats are refused: money that already went through binary floating point may have
    lost cents, and the device knows better than to send it that way.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid("invalid_args", f"{name} must be a decimal string")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Invalid("invalid_args", f"{name} is not a decimal number") from None
    if not amount.is_finite():
        raise _Invalid("invalid_args", f"{name} is not a decimal number")
    if amount <= 0:
        raise _Invalid("non_positive_amount", f"{name} must be greater than 0")
    if amount != amount.quantize(_CENT):
        raise _Invalid("invalid_args", f"{name} has more than two decimals")
    if amount > MAX_AMOUNT:
        raise _Invalid("invalid_args", f"{name} is implausibly large")
    return amount.quantize(_CENT)


def _parse_date(value: object, name: str) -> date:
    if not isinstance(value, str):
        raise _Invalid("invalid_args", f"{name} must be an ISO date")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Invalid("invalid_args", f"{name} must be an ISO date") from None


def parse_aware_datetime(value: object) -> datetime:
    """Parse an ISO-8601 timestamp that states its offset; naive times are ambiguous."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("must carry a UTC offset")
    return parsed


def _check_in(a: _Args) -> CheckIn:
    return CheckIn(
        visit_uuid=a.req_uuid("visit_uuid"),
        account_id=a.req_ident("account_id"),
        position=a.position(),
        stop_id=a.ident("stop_id", required=False),
    )


def _record_visit(a: _Args) -> RecordVisit:
    name = a.raw.get("disposition")
    if not isinstance(name, str):
        raise _Invalid("invalid_args", "disposition is required")
    try:
        disposition = Disposition(name)
    except ValueError:
        raise _Invalid("unknown_disposition", f"{name!r} is not in the KPI model") from None
    return RecordVisit(
        visit_uuid=a.req_uuid("visit_uuid"),
        disposition=disposition,
        comment=a.text("comment", MAX_NOTE_CHARS, required=False),
    )


def _record_promise(a: _Args) -> RecordPromise:
    single = a.present("amount") or a.present("due_date")
    plan = a.raw.get("installments")
    if single and plan is not None:
        raise _Invalid("invalid_args", "give amount+due_date or installments, not both")
    if plan is None:
        due = _parse_date(a.raw.get("due_date"), "due_date")
        amount = parse_amount(a.raw.get("amount"))
        installments: tuple[Installment, ...] = (Installment(due, amount),)
    else:
        if not isinstance(plan, list) or not 2 <= len(plan) <= MAX_INSTALLMENTS:
            raise _Invalid(
                "invalid_args", f"installments must be a list of 2 to {MAX_INSTALLMENTS} items"
            )
        items = []
        for k, item in enumerate(plan):
            if not isinstance(item, dict) or set(item) != {"due_date", "amount"}:
                raise _Invalid("invalid_args", f"installments[{k}] needs due_date and amount")
            items.append(
                Installment(
                    _parse_date(item["due_date"], f"installments[{k}].due_date"),
                    parse_amount(item["amount"], f"installments[{k}].amount"),
                )
            )
        if any(b.due_date <= a_.due_date for a_, b in itertools.pairwise(items)):
            raise _Invalid("invalid_args", "installment due dates must strictly increase")
        installments = tuple(items)
    return RecordPromise(
        promise_uuid=a.req_uuid("promise_uuid"),
        visit_uuid=a.req_uuid("visit_uuid"),
        installments=installments,
    )


def _record_payment(a: _Args) -> RecordPayment:
    method_name = a.raw.get("method")
    methods = [m.value for m in PaymentMethod]
    if method_name not in methods:
        raise _Invalid("invalid_args", f"method must be one of {methods}")
    method = PaymentMethod(method_name)
    receipt = a.raw.get("receipt_number")
    if not isinstance(receipt, str):
        raise _Invalid("invalid_args", "receipt_number is required")
    try:
        parse_receipt(receipt)
    except ValueError as exc:
        raise _Invalid("invalid_args", f"receipt_number: {exc}") from None
    reference = a.text("reference", 120, required=False)
    if method is not PaymentMethod.CASH and reference is None:
        raise _Invalid("invalid_args", f"a {method.value} payment needs its reference")
    return RecordPayment(
        payment_uuid=a.req_uuid("payment_uuid"),
        account_id=a.req_ident("account_id"),
        visit_uuid=a.opt_uuid("visit_uuid", required=False),
        amount=parse_amount(a.raw.get("amount")),
        method=method,
        receipt_number=receipt,
        reference=reference,
        reverses=a.opt_uuid("reverses", required=False),
    )


def _add_note(a: _Args) -> AddNote:
    text = a.text("text", MAX_NOTE_CHARS)
    assert text is not None
    return AddNote(
        note_uuid=a.req_uuid("note_uuid"),
        account_id=a.req_ident("account_id"),
        visit_uuid=a.opt_uuid("visit_uuid", required=False),
        text=text,
    )


def _attach_photo(a: _Args) -> AttachPhoto:
    digest = a.raw.get("sha256")
    if not isinstance(digest, str) or not _SHA256_RE.match(digest):
        raise _Invalid("invalid_args", "sha256 must be 64 lowercase hex digits")
    kind = a.raw.get("kind", "other")
    if kind not in PHOTO_KINDS:
        raise _Invalid("invalid_args", f"kind must be one of {list(PHOTO_KINDS)}")
    size = a.raw.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise _Invalid("invalid_args", "size must be a positive integer")
    return AttachPhoto(
        photo_uuid=a.req_uuid("photo_uuid"),
        visit_uuid=a.req_uuid("visit_uuid"),
        sha256=digest,
        size_bytes=size,
        kind=kind,
        taken_at=a.when("taken_at"),
        position=a.position(),
    )


def _update_contact(a: _Args) -> UpdateContact:
    phone = a.text("phone", 30, required=False)
    if phone is not None and not _PHONE_RE.match(phone):
        raise _Invalid("invalid_args", "phone is not a phone number")
    address = a.text("address", MAX_ADDRESS_CHARS, required=False)
    if phone is None and address is None:
        raise _Invalid("invalid_args", "give a phone, an address or both")
    return UpdateContact(
        contact_uuid=a.req_uuid("contact_uuid"),
        account_id=a.req_ident("account_id"),
        visit_uuid=a.opt_uuid("visit_uuid", required=False),
        phone=phone,
        address=address,
    )


def _check_out(a: _Args) -> CheckOut:
    return CheckOut(visit_uuid=a.req_uuid("visit_uuid"), position=a.position())


_POSITION_ARGS: Final = {"lat", "lon", "accuracy"}
_READERS: Final[Mapping[str, tuple[set[str], Callable[[_Args], Command]]]] = {
    "check_in": ({"visit_uuid", "account_id", "stop_id"} | _POSITION_ARGS, _check_in),
    "record_visit": ({"visit_uuid", "disposition", "comment"}, _record_visit),
    "record_promise": (
        {"promise_uuid", "visit_uuid", "amount", "due_date", "installments"},
        _record_promise,
    ),
    "record_payment": (
        {
            "payment_uuid",
            "account_id",
            "visit_uuid",
            "amount",
            "method",
            "receipt_number",
            "reference",
            "reverses",
        },
        _record_payment,
    ),
    "add_note": ({"note_uuid", "account_id", "visit_uuid", "text"}, _add_note),
    "attach_photo": (
        {"photo_uuid", "visit_uuid", "sha256", "size", "kind", "taken_at"} | _POSITION_ARGS,
        _attach_photo,
    ),
    "update_contact": (
        {"contact_uuid", "account_id", "visit_uuid", "phone", "address"},
        _update_contact,
    ),
    "check_out": ({"visit_uuid"} | _POSITION_ARGS, _check_out),
}

MUTATION_NAMES: Final[tuple[str, ...]] = tuple(_READERS)
"""Every mutation name the protocol knows, in the order a visit usually produces them."""


def validate_args(name: str, args: Mapping[str, Any]) -> Command | Rejection:
    """Turn a mutation's arguments into its command, or say why it can never succeed."""
    reader = _READERS.get(name)
    if reader is None:
        return Rejection("unknown_mutation", f"{name!r} is not a mutation name")
    allowed, build = reader
    try:
        return build(_Args(args, allowed))
    except _Invalid as exc:
        return Rejection(exc.code, exc.detail)


def content_hash(name: str, args: Mapping[str, Any], client_time: datetime) -> str:
    """Fingerprint of what a mutation says, to tell a retry from a reused id.

    Canonical JSON (sorted keys, no whitespace) with the capture time normalised to UTC, so a
    re-sent mutation hashes the same however its JSON was laid out.
    """
    canonical = json.dumps(
        {"name": name, "args": args, "client_time": client_time.timestamp()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_envelope(raw: object) -> Mutation:
    """Check one pushed mutation's envelope; malformed envelopes raise ``EnvelopeError``."""
    if not isinstance(raw, Mapping):
        raise EnvelopeError("a mutation must be an object")
    extra = sorted(set(raw) - {"id", "name", "args", "client_time"})
    if extra:
        raise EnvelopeError(f"unknown field(s) in mutation: {', '.join(extra)}")
    mutation_id, name, args = raw.get("id"), raw.get("name"), raw.get("args")
    if isinstance(mutation_id, bool) or not isinstance(mutation_id, int) or mutation_id < 1:
        raise EnvelopeError("mutation id must be a positive integer")
    if not isinstance(name, str) or not name:
        raise EnvelopeError(f"mutation {mutation_id}: name must be a non-empty string")
    if not isinstance(args, Mapping):
        raise EnvelopeError(f"mutation {mutation_id}: args must be an object")
    try:
        client_time = parse_aware_datetime(raw.get("client_time"))
    except ValueError as exc:
        raise EnvelopeError(f"mutation {mutation_id}: client_time {exc}") from None
    try:
        digest = content_hash(name, args, client_time)
    except (TypeError, ValueError):
        raise EnvelopeError(f"mutation {mutation_id}: args are not plain JSON") from None
    return Mutation(mutation_id, name, args, client_time, digest)
