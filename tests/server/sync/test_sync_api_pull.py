"""Pull: the day, incremental changes, paging under writes, cursors that fail safe."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from server.extensions import db
from server.models import Account, Assignment
from server.services.syncing import cursor_secret
from sync.cursor import CursorState, issue_cursor

from .conftest import Handheld, register, today_lima


def drain(handheld: Handheld, cursor: str | None, limit: int = 100) -> tuple[str, dict[str, Any]]:
    """Pull every page; return the final cursor and what arrived, keyed like the device keeps it."""
    seen: dict[str, Any] = {"stops": {}, "accounts": {}, "removed": [], "pages": 0}
    while True:
        page = handheld.pull(cursor, limit)
        assert page.status_code == 200, page.json
        body = page.json
        seen["pages"] += 1
        for stop in body["stops"]:
            seen["stops"][stop["stop_id"]] = stop
        for account in body["accounts"]:
            seen["accounts"][account["account_id"]] = account
        seen["removed"] += body["removed"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return cursor, seen


def test_first_pull_sends_the_whole_day(handheld: Handheld, day_route: Any) -> None:
    body = handheld.pull().json
    assert body["full_resend"] and body["cursor_status"] == "missing"
    assert [s["sequence"] for s in body["stops"]] == [1, 2, 3]
    account = body["accounts"][0]
    assert account["negotiation_options"]["max_installments"] == 6
    assert account["balance"] == "1500.00" and account["days_past_due"] == 45
    assert {d["code"] for d in body["dispositions"]} >= {"no_answer", "promise_to_pay"}
    assert body["last_mutation_id"] == 0
    assert body["route"]["date"] == today_lima().isoformat()
    assert body["receipt_block"]["start"] == handheld.receipt_block["start"]


def test_incremental_pull_sends_only_changes(handheld: Handheld, day_route: Any) -> None:
    cursor, _ = drain(handheld, None)
    quiet = handheld.pull(cursor).json
    assert (quiet["stops"], quiet["accounts"], quiet["removed"]) == ([], [], [])
    assert not quiet["full_resend"]
    account = db.session.get(Account, day_route[1][1].id)
    account.phones = ["+51 999 111 222"]
    db.session.commit()
    changed = handheld.pull(quiet["cursor"]).json
    assert [a["account_id"] for a in changed["accounts"]] == [account.id]
    assert changed["stops"] == []


def test_visit_marks_stop_done_and_reports_last_mutation(
    handheld: Handheld, day_route: Any
) -> None:
    cursor, _ = drain(handheld, None)
    _u, batch = handheld.visit(day_route[1][0])
    handheld.push(batch)
    body = handheld.pull(cursor).json
    assert body["last_mutation_id"] == 3
    assert [(s["stop_id"], s["status"]) for s in body["stops"]] == [(day_route[2][0].id, "done")]
    assert body["accounts"][0]["last_attempts"][0]["disposition"] == "no_answer"


def test_paging_while_writes_happen_misses_and_duplicates_nothing(
    factory: Any, handheld: Handheld, day_route: Any
) -> None:
    collector = day_route[0]
    for k in range(12):
        account = factory.account(lat=-12.1 - k * 0.001, lon=-77.0)
        factory.assign(account, collector, today_lima(), sequence=10 + k)
    replica_stops: dict[int, Any] = {}
    cursor = None
    pages = 0
    while True:
        body = handheld.pull(cursor, limit=5).json
        pages += 1
        sent = [s["stop_id"] for s in body["stops"]]
        assert not set(sent) & set(replica_stops), "a stop came twice in one round"
        for stop in body["stops"]:
            replica_stops[stop["stop_id"]] = stop
        for gone in body["removed"]:
            replica_stops.pop(gone["id"], None) if gone["kind"] == "stop" else None
        cursor = body["cursor"]
        if pages == 2:
            # Writes between pages: one stop already sent is resequenced, one is removed.
            first = db.session.get(Assignment, day_route[2][0].id)
            first.sequence = 99
            removed = db.session.get(Assignment, day_route[2][1].id)
            removed.status = "removed"
            db.session.commit()
        if not body["has_more"]:
            break
    assert pages > 3
    # The next round brings the replica up to date with exactly the changed stops.
    _cursor, seen = drain(handheld, cursor, limit=5)
    for stop_id, stop in seen["stops"].items():
        replica_stops[stop_id] = stop
    for gone in seen["removed"]:
        if gone["kind"] == "stop":
            replica_stops.pop(gone["id"], None)
    db.session.expire_all()
    truth = {
        a.id: a.sequence
        for a in db.session.execute(
            select(Assignment).where(
                Assignment.collector_id == collector.id, Assignment.status != "removed"
            )
        ).scalars()
    }
    assert {k: v["sequence"] for k, v in replica_stops.items()} == truth
    assert set(seen["stops"]) <= {day_route[2][0].id}


def test_expired_forged_and_foreign_cursors_mean_full_resend(
    app: Flask, client: Any, auth_header: Any, factory: Any, handheld: Handheld, day_route: Any
) -> None:
    cursor, _ = drain(handheld, None)
    with app.app_context():
        expired = issue_cursor(
            cursor_secret(), CursorState(handheld.device_id, {}), int(time.time()) - 10, ttl_s=5
        )
    for bad, status in [
        (expired, "expired"),
        (cursor[:-4] + "AAAA", "forged"),
        ("x.y", "malformed"),
    ]:
        body = handheld.pull(bad).json
        assert body["full_resend"] and body["cursor_status"] == status
        assert len(body["stops"]) == 3
    other_collector = factory.collector("beto")
    factory.assign(factory.account(lat=-12.3, lon=-77.1), other_collector, today_lima(), sequence=1)
    other = register(client, auth_header, other_collector)
    body = other.pull(cursor).json  # ana's cursor presented by beto's device
    assert body["full_resend"] and body["cursor_status"] == "foreign"
    assert {s["account_id"] for s in body["stops"]}.isdisjoint({a.id for a in day_route[1]})


def test_reassignment_race(
    client: Any, auth_header: Any, factory: Any, handheld: Handheld, day_route: Any, staff: Any
) -> None:
    """Ana visits offline a stop the dispatcher gave to Beto meanwhile."""
    account = day_route[1][2]
    cursor_ana, _ = drain(handheld, None)
    beto = factory.collector("beto")
    beto_device = register(client, auth_header, beto)
    cursor_beto, _ = drain(beto_device, None)
    ana_stop = db.session.get(Assignment, day_route[2][2].id)
    ana_stop.status = "removed"
    beto_stop = factory.assign(account, beto, today_lima(), sequence=1)
    visit_uuid, batch = handheld.visit(account)
    result = handheld.push(batch).json["results"][0]
    assert result["status"] == "applied" and "reassigned" in result["result"]["flags"]
    listed = client.get(
        "/api/v1/visits",
        query_string={"collector_id": day_route[0].id},
        headers=auth_header("dispatcher"),
    ).json
    assert [(v["client_uuid"], "reassigned" in v["flags"]) for v in listed] == [(visit_uuid, True)]
    beto_pull = beto_device.pull(cursor_beto).json
    assert [(s["stop_id"], s["status"]) for s in beto_pull["stops"]] == [(beto_stop.id, "done")]
    ana_pull = handheld.pull(cursor_ana).json
    assert {"kind": "stop", "id": ana_stop.id} in ana_pull["removed"]


def test_pull_needs_a_device(handheld: Handheld, auth_header: Any, day_route: Any) -> None:
    from server.models import User

    user = db.session.get(User, day_route[0].user_id)
    assert handheld.client.get("/api/v1/sync/pull", headers=auth_header(user)).status_code == 403


def test_pull_allots_a_fresh_receipt_block_when_running_low(
    client: Any, auth_header: Any, day_route: Any
) -> None:
    from server.models import AgencySettings

    from .conftest import register

    settings = db.session.get(AgencySettings, 1) or AgencySettings(id=1)
    settings.receipt_block_size = 5
    db.session.add(settings)
    db.session.commit()
    device = register(client, auth_header, day_route[0])
    block = device.receipt_block
    assert block["end"] - block["start"] == 4
    assert device.pull().json["receipt_block"] == block
    payments = [
        device.mutation(
            "record_payment",
            {
                "payment_uuid": str(uuid.uuid4()),
                "account_id": day_route[1][0].id,
                "amount": "10.00",
                "method": "cash",
                "receipt_number": device.receipt(k),
            },
        )
        for k in range(4)
    ]
    assert all(r["status"] == "applied" for r in device.push(payments).json["results"])
    fresh = device.pull().json["receipt_block"]
    assert fresh["start"] > block["end"] and fresh["end"] - fresh["start"] == 4
