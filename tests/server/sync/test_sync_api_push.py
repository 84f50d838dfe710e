"""Exactly-once push through the API: retries, gaps, conflicts, rejections, rollbacks."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from server.extensions import db
from server.models import AgencySettings, AppliedMutation, Device, Payment, PromiseToPay, Visit

from .conftest import Handheld


def visit_count() -> int:
    db.session.expire_all()
    return int(db.session.execute(select(func.count(Visit.id))).scalar_one())


def test_push_applies_in_order_and_stores_results(handheld: Handheld, day_route: Any) -> None:
    _collector, accounts, _ = day_route
    visit_uuid, batch = handheld.visit(accounts[0])
    response = handheld.push(batch)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["last_applied_id"] == 3 and body["expected_id"] is None
    assert [r["status"] for r in body["results"]] == ["applied"] * 3
    assert body["results"][0]["result"]["geo_status"] == "verified"
    visit = db.session.execute(select(Visit).where(Visit.client_uuid == visit_uuid)).scalar_one()
    assert visit.disposition == "no_answer" and visit.checked_out_at is not None
    assert visit.collector_id == handheld.collector.id and visit.flags == []


def test_retry_answers_stored_result_and_records_once(handheld: Handheld, day_route: Any) -> None:
    _visit_uuid, batch = handheld.visit(day_route[1][0])
    first = handheld.push(batch).json
    again = handheld.push(batch).json
    assert [r["replayed"] for r in again["results"]] == [True, True, True]
    assert [r["result"] for r in again["results"]] == [r["result"] for r in first["results"]]
    assert visit_count() == 1


def test_retry_with_new_tail_replays_then_applies(handheld: Handheld, day_route: Any) -> None:
    _u1, first = handheld.visit(day_route[1][0])
    handheld.push(first)
    _u2, second = handheld.visit(day_route[1][1])
    body = handheld.push(first + second).json
    assert [r["replayed"] for r in body["results"]] == [True] * 3 + [False] * 3
    assert body["last_applied_id"] == 6 and visit_count() == 2


def test_gap_stops_and_names_expected_id(handheld: Handheld, day_route: Any) -> None:
    _u, batch = handheld.visit(day_route[1][0])
    body = handheld.push([batch[0], batch[2]]).json
    assert [r["id"] for r in body["results"]] == [1]
    assert body["expected_id"] == 2 and body["last_applied_id"] == 1
    out_of_order = handheld.push([batch[2], batch[1]]).json
    assert out_of_order["results"] == [] and out_of_order["expected_id"] == 2
    body = handheld.push([batch[1], batch[2]]).json
    assert body["last_applied_id"] == 3 and body["expected_id"] is None


def test_reused_id_with_different_content_is_409_for_that_mutation(
    handheld: Handheld, day_route: Any
) -> None:
    _u, batch = handheld.visit(day_route[1][0])
    handheld.push(batch)
    forged = dict(
        batch[1], args={"visit_uuid": batch[1]["args"]["visit_uuid"], "disposition": "dispute"}
    )
    body = handheld.push([batch[0], forged, batch[2]]).json
    assert [r["status"] for r in body["results"]] == ["applied", "conflict", "applied"]
    assert body["results"][1]["http_status"] == 409
    db.session.expire_all()
    assert db.session.execute(select(Visit.disposition)).scalar_one() == "no_answer"


def test_invalid_mutation_in_the_middle_is_rejected_and_advances(
    handheld: Handheld, day_route: Any
) -> None:
    account = day_route[1][0]
    _u, good = handheld.visit(account)
    bad = handheld.mutation("check_in", {"visit_uuid": str(uuid.uuid4()), "account_id": 999_999})
    _u2, more = handheld.visit(day_route[1][1])
    body = handheld.push([*good, bad, *more]).json
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["applied"] * 3 + ["rejected"] + ["applied"] * 3
    assert body["results"][3]["reason"].startswith("unknown_account")
    assert body["last_applied_id"] == 7 and visit_count() == 2
    # The rejection is stored: a retry answers it again rather than re-judging.
    again = handheld.push([bad]).json
    assert again["results"][0]["status"] == "rejected" and again["results"][0]["replayed"]


@pytest.mark.parametrize(
    ("name", "args", "reason"),
    [
        (
            "record_visit",
            {"visit_uuid": str(uuid.uuid4()), "disposition": "no_answer"},
            "unknown_visit",
        ),
        (
            "record_visit",
            {"visit_uuid": str(uuid.uuid4()), "disposition": "kidnapped"},
            "unknown_disposition",
        ),
        ("teleport", {}, "unknown_mutation"),
    ],
)
def test_never_succeeding_mutations(
    handheld: Handheld, name: str, args: dict[str, Any], reason: str
) -> None:
    body = handheld.push([handheld.mutation(name, args)]).json
    assert body["results"][0]["status"] == "rejected"
    assert body["results"][0]["reason"].startswith(reason)
    assert body["last_applied_id"] == 1


def test_transient_database_failure_rolls_back_with_503(
    handheld: Handheld, day_route: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _u, batch = handheld.visit(day_route[1][0])
    monkeypatch.setenv("SYNC_FAILPOINT", "db_error_before_commit")
    response = handheld.push(batch)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.mimetype == "application/problem+json"
    assert visit_count() == 0
    db.session.expire_all()
    assert db.session.get(Device, handheld.device_id).last_mutation_id == 0
    monkeypatch.delenv("SYNC_FAILPOINT")
    assert handheld.push(batch).json["last_applied_id"] == 3 and visit_count() == 1


def test_same_batch_pushed_twice_concurrently(
    app: Flask, handheld: Handheld, day_route: Any
) -> None:
    batches = [handheld.visit(a)[1] for a in day_route[1]]
    batch = [m for b in batches for m in b]
    answers: list[Any] = []

    def push() -> None:
        with app.test_client() as other:
            response = other.post(
                "/api/v1/sync/push",
                json={"device_id": handheld.device_id, "mutations": batch},
                headers=handheld.headers,
            )
            answers.append((response.status_code, response.json))

    threads = [threading.Thread(target=push) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [code for code, _ in answers] == [200, 200]
    replayed = sorted(all(r["replayed"] for r in body["results"]) for _, body in answers)
    assert replayed == [False, True]
    results = [[r["result"] for r in body["results"]] for _, body in answers]
    assert results[0] == results[1]
    assert visit_count() == 3
    assert db.session.execute(select(func.count()).select_from(AppliedMutation)).scalar_one() == 9


@pytest.mark.parametrize(
    ("skew", "flag"),
    [(timedelta(days=3), "time_future"), (timedelta(days=-365), "time_before_account")],
)
def test_skewed_device_clock_is_corrected_and_flagged(
    handheld: Handheld, day_route: Any, skew: timedelta, flag: str
) -> None:
    true_time = datetime.now(UTC) - timedelta(hours=1)
    visit_uuid, batch = handheld.visit(day_route[1][0], when=true_time + skew)
    body = handheld.push(batch, device_time=datetime.now(UTC) + skew).json
    assert body["results"][0]["status"] == "applied"
    assert abs(body["clock_offset_s"] + skew.total_seconds()) < 60
    visit = db.session.execute(select(Visit).where(Visit.client_uuid == visit_uuid)).scalar_one()
    assert abs((visit.checked_in_at - true_time).total_seconds()) < 60
    assert abs((visit.device_time - (true_time + skew)).total_seconds()) < 1
    assert visit.received_at > visit.checked_in_at
    assert flag in visit.flags and "time_clock_skew" in visit.flags


def test_far_check_in_is_stored_but_not_verified(handheld: Handheld, day_route: Any) -> None:
    account = day_route[1][0]
    _u, batch = handheld.visit(account, lat=account.lat + 0.01)
    result = handheld.push(batch).json["results"][0]["result"]
    assert result["geo_status"] == "far_from_address" and result["distance_m"] > 1000


def _promise(handheld: Handheld, visit_uuid: str, **args: Any) -> dict[str, Any]:
    return handheld.mutation(
        "record_promise", {"promise_uuid": str(uuid.uuid4()), "visit_uuid": visit_uuid, **args}
    )


def test_promises_within_and_outside_options(handheld: Handheld, day_route: Any) -> None:
    visit_uuid, batch = handheld.visit(day_route[1][0])
    today = datetime.now(UTC).date()
    single = _promise(
        handheld, visit_uuid, amount="200.00", due_date=str(today + timedelta(days=5))
    )
    plan = _promise(
        handheld,
        visit_uuid,
        installments=[
            {"due_date": str(today + timedelta(days=7 + 30 * k)), "amount": "400.00"}
            for k in range(3)
        ],
    )
    too_long = _promise(
        handheld,
        visit_uuid,
        installments=[
            {"due_date": str(today + timedelta(days=7 + 30 * k)), "amount": "200.00"}
            for k in range(8)
        ],
    )
    body = handheld.push([*batch, single, plan, too_long]).json
    assert [r["status"] for r in body["results"][3:]] == ["applied", "applied", "rejected"]
    assert body["results"][5]["reason"].startswith("outside_negotiation_options")
    promise = db.session.execute(
        select(PromiseToPay).where(PromiseToPay.amount == 1200)
    ).scalar_one()
    assert len(promise.installments) == 3


def _payment(handheld: Handheld, account_id: int, receipt: str, **args: Any) -> dict[str, Any]:
    base = {
        "payment_uuid": str(uuid.uuid4()),
        "account_id": account_id,
        "amount": "150.00",
        "method": "cash",
        "receipt_number": receipt,
    }
    base.update(args)
    return handheld.mutation("record_payment", base)


def test_payments_receipts_and_reversals(
    handheld: Handheld, day_route: Any, staff: Any, auth_header: Any
) -> None:
    account = day_route[1][0]
    visit_uuid, batch = handheld.visit(account)
    paid = _payment(handheld, account.id, handheld.receipt(0), visit_uuid=visit_uuid)
    same_receipt = _payment(handheld, account.id, handheld.receipt(0))
    foreign_receipt = _payment(handheld, account.id, "R-LIM-999999")
    reversal = _payment(
        handheld, account.id, handheld.receipt(1), reverses=paid["args"]["payment_uuid"]
    )
    body = handheld.push([*batch, paid, same_receipt, foreign_receipt, reversal]).json
    statuses = [(r["status"], r.get("reason", "")[:20]) for r in body["results"][3:]]
    assert statuses[0][0] == "applied"
    assert statuses[1] == ("rejected", "duplicate_receipt: R")
    assert statuses[2][1].startswith("receipt_outside_bloc")
    assert statuses[3][0] == "applied"
    receipt = handheld.client.get(
        f"/api/v1/receipts/{handheld.receipt(0)}", headers=auth_header("manager")
    )
    assert receipt.status_code == 200
    assert receipt.json["status"] == "reversed" and receipt.json["amount"] == "150.00"
    assert receipt.json["visit_uuid"] == visit_uuid
    assert receipt.json["reversal"]["amount"] == "-150.00"
    total = db.session.execute(select(func.sum(Payment.amount))).scalar_one()
    assert total == 0
    missing = handheld.client.get("/api/v1/receipts/R-LIM-123456", headers=auth_header("manager"))
    assert missing.status_code == 404


def test_cash_is_rejected_where_the_jurisdiction_forbids_it(
    handheld: Handheld, day_route: Any
) -> None:
    settings = db.session.get(AgencySettings, 1)
    if settings is None:
        settings = AgencySettings(id=1)
        db.session.add(settings)
    settings.cash_allowed = False
    db.session.commit()
    account_id = day_route[1][0].id
    cash = _payment(handheld, account_id, handheld.receipt(0))
    transfer = _payment(
        handheld, account_id, handheld.receipt(1), method="transfer", reference="OP-5512"
    )
    body = handheld.push([cash, transfer]).json
    assert body["results"][0]["reason"].startswith("cash_not_allowed")
    assert body["results"][1]["status"] == "applied"


def test_push_needs_a_device_and_its_own_id(
    handheld: Handheld, auth_header: Any, day_route: Any
) -> None:
    from server.models import User

    user = db.session.get(User, day_route[0].user_id)
    as_user = handheld.client.post(
        "/api/v1/sync/push",
        json={"device_id": handheld.device_id, "mutations": []},
        headers=auth_header(user),
    )
    assert as_user.status_code == 403
    other_id = handheld.client.post(
        "/api/v1/sync/push",
        json={"device_id": "someone-else", "mutations": []},
        headers=handheld.headers,
    )
    assert other_id.status_code == 403


@pytest.mark.parametrize(
    "mutation",
    [
        {"id": 0, "name": "check_in", "args": {}, "client_time": "2026-01-01T00:00:00Z"},
        {"id": 1, "name": "check_in", "args": {}, "client_time": "2026-01-01T00:00:00"},
        {"id": 1, "name": "check_in", "args": [], "client_time": "2026-01-01T00:00:00Z"},
        "not an object",
    ],
)
def test_malformed_envelope_is_a_422_problem(handheld: Handheld, mutation: Any) -> None:
    response = handheld.client.post(
        "/api/v1/sync/push",
        json={"device_id": handheld.device_id, "mutations": [mutation]},
        headers=handheld.headers,
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
