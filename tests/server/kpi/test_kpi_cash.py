"""Cash in hand and deposits: Decimal per currency, oldest undeposited receipt, limit alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from server.extensions import db
from server.models import AuditEntry, FieldAlert
from server.schedule import periodic_checks
from server.services.settings import get_settings
from server.services.tracking import stream_hub


def test_cash_in_hand_and_deposits(
    client: Any, auth_header: Any, factory: Any, field: Any, staff: Any
) -> None:
    ana = factory.collector("ana")
    beto = factory.collector("beto")
    account = factory.account("a1")
    now = datetime.now(UTC)
    t1, t2, t3 = now - timedelta(hours=30), now - timedelta(hours=20), now - timedelta(hours=2)
    field.payment(account, t1, "100.10", source="field", collector=ana, receipt="R1", method="cash")
    field.payment(account, t2, "50.25", source="field", collector=ana, receipt="R2", method="cash")
    field.payment(account, t3, "20.00", source="field", collector=ana, receipt="R3", method="cash")
    field.payment(account, t3, "30.00", source="field", collector=ana, receipt="R4",
                  method="cash", currency="USD")  # fmt: skip
    # Not cash in hand: a field transfer, and an imported payment.
    field.payment(account, t3, "999.00", source="field", collector=ana, receipt="R5")
    field.payment(account, t3, "999.00")

    url = f"/api/v1/collectors/{ana.id}"
    deposit = client.post(
        f"{url}/deposits",
        json={"amount": "120.00", "bank_reference": "BCP-0001"},
        headers=auth_header("dispatcher"),
    )
    assert deposit.status_code == 201, deposit.get_json()
    assert deposit.get_json()["currency"] == "PEN"
    assert db.session.query(AuditEntry).filter_by(entity="deposit").count() == 1

    positions = client.get(f"{url}/cash", headers=auth_header("manager")).get_json()
    pen = next(p for p in positions if p["currency"] == "PEN")
    # 100.10 + 50.25 + 20.00 = 170.35 collected; 120.00 deposited covers R1 (100.10) fully and
    # R2 partly, so R2 (20 h ago) is the oldest receipt still (partly) in hand.
    assert (pen["collected"], pen["deposited"], pen["in_hand"]) == ("170.35", "120.00", "50.35")
    assert abs(pen["oldest_undeposited_age_h"] - 20.0) < 0.1
    assert pen["over_limit"] is False and pen["limit"] == "2000.00"
    usd = next(p for p in positions if p["currency"] == "USD")
    assert (usd["in_hand"], usd["limit"], usd["over_limit"]) == ("30.00", None, False)

    everyone = client.get("/api/v1/kpi/cash", headers=auth_header("manager")).get_json()
    assert {p["collector"] for p in everyone} == {"ANA"}
    assert client.get(f"{url}/cash", headers=auth_header("ana")).status_code == 200
    assert client.get(f"{url}/cash", headers=auth_header("beto")).status_code == 403
    assert (
        client.get(f"/api/v1/collectors/{beto.id}/cash", headers=auth_header("beto")).get_json()
        == []
    )


def test_deposit_validation(
    client: Any, auth_header: Any, factory: Any, field: Any, staff: Any
) -> None:
    ana = factory.collector("ana")
    account = factory.account("a1")
    field.payment(account, datetime.now(UTC), "80.00", source="field", collector=ana,
                  receipt="R1", method="cash")  # fmt: skip
    url = f"/api/v1/collectors/{ana.id}/deposits"
    headers = auth_header("dispatcher")
    too_much = client.post(url, json={"amount": "80.01", "bank_reference": "X1"}, headers=headers)
    assert too_much.status_code == 422
    assert "amount" in too_much.get_json()["errors"]
    assert (
        client.post(url, json={"amount": "-5", "bank_reference": "X1"}, headers=headers).status_code
        == 422
    )
    assert (
        client.post(
            url, json={"amount": "1.001", "bank_reference": "X1"}, headers=headers
        ).status_code
        == 422
    )
    assert client.post(url, json={"amount": "10.00"}, headers=headers).status_code == 422
    assert (
        client.post(
            url, json={"amount": "10.00", "bank_reference": "X1"}, headers=headers
        ).status_code
        == 201
    )
    again = client.post(url, json={"amount": "10.00", "bank_reference": "X1"}, headers=headers)
    assert again.status_code == 409
    assert client.post(url, json={"amount": "1.00", "bank_reference": "X2"},
                       headers=auth_header("manager")).status_code == 403  # fmt: skip
    assert client.post("/api/v1/collectors/999/deposits", json={"amount": "1.00", "bank_reference": "X3"},
                       headers=headers).status_code == 404  # fmt: skip
    listed = client.get(url, headers=auth_header("manager")).get_json()
    assert [(d["amount"], d["bank_reference"]) for d in listed] == [("10.00", "X1")]


def test_crossing_the_limit_is_announced_on_the_tracking_stream(
    client: Any, auth_header: Any, factory: Any, field: Any, staff: Any, app: Any
) -> None:
    settings = get_settings()
    settings.cash_in_hand_limit = Decimal("100.00")
    db.session.commit()
    ana = factory.collector("ana")
    account = factory.account("a1")
    subscription = stream_hub().subscribe()
    try:
        field.payment(account, datetime.now(UTC), "150.00", source="field", collector=ana,
                      receipt="R1", method="cash")  # fmt: skip
        first = client.get("/api/v1/kpi/cash", headers=auth_header("manager")).get_json()
        assert first[0]["over_limit"] is True
        event = subscription.get(timeout=1)
        assert event is not None and '"cash_over_limit"' in event and '"alert"' in event
        # Reading again announces nothing new: only crossings are events.
        client.get("/api/v1/kpi/cash", headers=auth_header("manager"))
        assert subscription.get(timeout=0.1) is None
        deposit = client.post(
            f"/api/v1/collectors/{ana.id}/deposits",
            json={"amount": "60.00", "bank_reference": "B-1"},
            headers=auth_header("dispatcher"),
        )
        assert deposit.status_code == 201
        resolved = subscription.get(timeout=1)
        assert resolved is not None and '"cash_within_limit"' in resolved
    finally:
        subscription.close()


def test_the_scheduled_check_announces_field_cash_over_the_limit_once(
    factory: Any, field: Any, app: Any
) -> None:
    """Field cash arrives by sync; no one reads the cash report, the clock's check notices."""
    settings = get_settings()
    settings.cash_in_hand_limit = Decimal("100.00")
    db.session.commit()
    ana = factory.collector("ana")
    field.payment(factory.account("a1"), datetime.now(UTC), "150.00", source="field",
                  collector=ana, receipt="R1", method="cash")  # fmt: skip
    subscription = stream_hub().subscribe()
    try:
        assert periodic_checks()["cash_events"] == 1
        assert _cash_events(subscription, timeout=1) == ["cash_over_limit"]
        assert periodic_checks()["cash_events"] == 0  # announced once, kept as an open alert
        assert _cash_events(subscription, timeout=0.1) == []
    finally:
        subscription.close()
    open_alerts = db.session.execute(
        db.select(FieldAlert.collector_id, FieldAlert.kind).where(
            FieldAlert.resolved_at.is_(None), FieldAlert.kind.like("cash%")
        )
    ).all()
    assert [tuple(row) for row in open_alerts] == [(ana.id, "cash_over_limit")]


def _cash_events(subscription: Any, timeout: float) -> list[str]:
    """The cash alerts announced on the stream, in order.

    The same check also judges the collectors' tracking (a collector with no fix an hour
    into the shift is announced as silent), so what else arrives depends on the time of day.
    """
    kinds = []
    while (message := subscription.get(timeout=timeout)) is not None:
        kind = json.loads(message)["data"].get("kind", "")
        if kind.startswith("cash"):
            kinds.append(kind)
    return kinds
