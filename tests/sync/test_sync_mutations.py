import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from kpi import Disposition
from sync.mutations import (
    MUTATION_NAMES,
    AttachPhoto,
    CheckIn,
    EnvelopeError,
    PaymentMethod,
    RecordPayment,
    RecordPromise,
    RecordVisit,
    Rejection,
    UpdateContact,
    content_hash,
    parse_envelope,
    validate_args,
)

VISIT = str(uuid.uuid4())


def envelope(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": 1,
        "name": "check_in",
        "args": {"visit_uuid": VISIT, "account_id": 7, "lat": -12.05, "lon": -77.04},
        "client_time": "2026-11-27T10:00:00-05:00",
    }
    base.update(overrides)
    return base


def test_envelope_parses_and_hashes() -> None:
    m = parse_envelope(envelope())
    assert m.id == 1
    assert m.client_time == datetime(2026, 11, 27, 15, tzinfo=UTC)
    assert len(m.hash) == 64


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"id": 0}, "positive"),
        ({"id": True}, "positive"),
        ({"id": "3"}, "positive"),
        ({"name": ""}, "name"),
        ({"args": []}, "args"),
        ({"client_time": "2026-11-27T10:00:00"}, "offset"),
        ({"client_time": "yesterday"}, "ISO"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_malformed_envelopes_are_refused(override: dict[str, object], message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_envelope(envelope(**override))


def test_non_envelope_is_refused() -> None:
    with pytest.raises(EnvelopeError):
        parse_envelope([1, 2])


def test_hash_ignores_layout_and_offset_notation_but_not_content() -> None:
    a = parse_envelope(envelope(client_time="2026-11-27T15:00:00Z"))
    b = parse_envelope(
        envelope(
            args={"lon": -77.04, "lat": -12.05, "account_id": 7, "visit_uuid": VISIT},
            client_time="2026-11-27T10:00:00-05:00",
        )
    )
    c = parse_envelope(envelope(args={"visit_uuid": VISIT, "account_id": 8}))
    assert a.hash == b.hash
    assert a.hash != c.hash
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert content_hash("add_note", {}, t) != content_hash("check_out", {}, t)


def test_check_in() -> None:
    cmd = validate_args("check_in", envelope()["args"])  # type: ignore[arg-type]
    assert isinstance(cmd, CheckIn)
    assert cmd.account_id == 7
    assert cmd.position is not None and cmd.position.lat == -12.05


@pytest.mark.parametrize(
    ("name", "args", "code"),
    [
        ("teleport", {}, "unknown_mutation"),
        ("check_in", {"visit_uuid": VISIT}, "invalid_args"),
        ("check_in", {"visit_uuid": "nope", "account_id": 1}, "invalid_args"),
        ("check_in", {"visit_uuid": VISIT, "account_id": 1, "lat": 91, "lon": 0}, "invalid_args"),
        ("check_in", {"visit_uuid": VISIT, "account_id": 1, "bogus": 1}, "invalid_args"),
        ("record_visit", {"visit_uuid": VISIT, "disposition": "abducted"}, "unknown_disposition"),
        (
            "record_promise",
            {"promise_uuid": VISIT, "visit_uuid": VISIT, "amount": "0", "due_date": "2026-12-01"},
            "non_positive_amount",
        ),
        (
            "record_promise",
            {"promise_uuid": VISIT, "visit_uuid": VISIT, "amount": 12.5, "due_date": "2026-12-01"},
            "invalid_args",
        ),
        (
            "record_promise",
            {
                "promise_uuid": VISIT,
                "visit_uuid": VISIT,
                "installments": [
                    {"due_date": "2026-12-10", "amount": "10"},
                    {"due_date": "2026-12-01", "amount": "10"},
                ],
            },
            "invalid_args",
        ),
        ("update_contact", {"contact_uuid": VISIT, "account_id": 1}, "invalid_args"),
        (
            "update_contact",
            {"contact_uuid": VISIT, "account_id": 1, "phone": "call me"},
            "invalid_args",
        ),
        (
            "attach_photo",
            {"photo_uuid": VISIT, "visit_uuid": VISIT, "sha256": "AB", "size": 3},
            "invalid_args",
        ),
        ("add_note", {"note_uuid": VISIT, "account_id": 1, "text": "   "}, "invalid_args"),
    ],
)
def test_never_succeeding_mutations_are_rejected_with_reason(
    name: str, args: dict[str, object], code: str
) -> None:
    result = validate_args(name, args)
    assert isinstance(result, Rejection)
    assert result.code == code
    assert result.detail


def test_every_disposition_of_the_kpi_model_is_accepted() -> None:
    for disposition in Disposition:
        cmd = validate_args("record_visit", {"visit_uuid": VISIT, "disposition": disposition.value})
        assert isinstance(cmd, RecordVisit) and cmd.disposition is disposition


def test_single_promise_and_plan() -> None:
    single = validate_args(
        "record_promise",
        {"promise_uuid": VISIT, "visit_uuid": VISIT, "amount": "150.5", "due_date": "2026-12-01"},
    )
    assert isinstance(single, RecordPromise)
    assert not single.is_plan and single.total == Decimal("150.50")
    plan = validate_args(
        "record_promise",
        {
            "promise_uuid": VISIT,
            "visit_uuid": VISIT,
            "installments": [
                {"due_date": "2026-12-01", "amount": "100"},
                {"due_date": "2027-01-01", "amount": "100.25"},
            ],
        },
    )
    assert isinstance(plan, RecordPromise)
    assert plan.is_plan and plan.total == Decimal("200.25")
    assert plan.installments[1].due_date == date(2027, 1, 1)


def test_promise_cannot_mix_single_and_plan() -> None:
    result = validate_args(
        "record_promise",
        {
            "promise_uuid": VISIT,
            "visit_uuid": VISIT,
            "amount": "5",
            "installments": [{"due_date": "2026-12-01", "amount": "1"}] * 2,
        },
    )
    assert isinstance(result, Rejection)


def payment(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "payment_uuid": str(uuid.uuid4()),
        "account_id": 3,
        "amount": "80.00",
        "method": "cash",
        "receipt_number": "R-D7-000012",
    }
    base.update(overrides)
    return base


def test_payments_and_reversals() -> None:
    cash = validate_args("record_payment", payment())
    assert isinstance(cash, RecordPayment)
    assert cash.method is PaymentMethod.CASH and cash.reverses is None
    original = str(uuid.uuid4())
    reversal = validate_args("record_payment", payment(reverses=original))
    assert isinstance(reversal, RecordPayment) and str(reversal.reverses) == original


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"amount": "-5"}, "non_positive_amount"),
        ({"amount": "1.005"}, "invalid_args"),
        ({"amount": "NaN"}, "invalid_args"),
        ({"method": "barter"}, "invalid_args"),
        ({"method": "transfer"}, "invalid_args"),
        ({"receipt_number": "12"}, "invalid_args"),
    ],
)
def test_bad_payments(overrides: dict[str, object], code: str) -> None:
    result = validate_args("record_payment", payment(**overrides))
    assert isinstance(result, Rejection) and result.code == code


def test_transfer_with_reference_is_fine() -> None:
    result = validate_args("record_payment", payment(method="transfer", reference="OP-99812"))
    assert isinstance(result, RecordPayment) and result.reference == "OP-99812"


def test_attach_photo_and_contact_update() -> None:
    photo = validate_args(
        "attach_photo",
        {
            "photo_uuid": VISIT,
            "visit_uuid": VISIT,
            "sha256": "a" * 64,
            "size": 1234,
            "taken_at": "2026-11-27T10:00:00-05:00",
        },
    )
    assert isinstance(photo, AttachPhoto)
    assert photo.taken_at == datetime(2026, 11, 27, 10, tzinfo=timezone(timedelta(hours=-5)))
    contact = validate_args(
        "update_contact", {"contact_uuid": VISIT, "account_id": 2, "phone": "+51 987 654 321"}
    )
    assert isinstance(contact, UpdateContact) and contact.address is None


def test_names_cover_the_issue() -> None:
    assert set(MUTATION_NAMES) == {
        "check_in",
        "record_visit",
        "record_promise",
        "record_payment",
        "add_note",
        "attach_photo",
        "update_contact",
        "check_out",
    }
