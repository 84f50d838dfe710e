"""Cash in hand: field cash collected, deposits at the bank, what each collector still carries.

Per collector and currency (amounts never mix currencies), computed in SQL: the sums, and the
oldest receipt not yet covered by deposits, found with a running sum (deposits are taken to
cover the oldest receipts first). Crossing the agency's ``cash_in_hand_limit`` is announced
on the tracking stream as a ``cash_over_limit`` alert, and ``cash_within_limit`` when a
deposit brings it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select

from server.errors import ProblemError
from server.extensions import db
from server.models import Collector, Deposit, FieldAlert, Payment
from server.models.types import CENT, utcnow
from server.services import audit
from server.services.settings import get_settings
from server.services.tracking import stream_hub

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class CashPosition:
    """One collector's cash in one currency."""

    collector_id: int
    collector: str
    currency: str
    collected: Decimal
    deposited: Decimal
    oldest_undeposited_at: datetime | None
    limit: Decimal | None

    @property
    def in_hand(self) -> Decimal:
        return self.collected - self.deposited

    @property
    def over_limit(self) -> bool:
        return self.limit is not None and self.in_hand > self.limit

    def as_dict(self, now: datetime) -> dict[str, Any]:
        oldest = self.oldest_undeposited_at
        return {
            "collector_id": self.collector_id,
            "collector": self.collector,
            "currency": self.currency,
            "collected": self.collected,
            "deposited": self.deposited,
            "in_hand": self.in_hand,
            "oldest_undeposited_at": oldest,
            "oldest_undeposited_age_h": (
                None if oldest is None else round((now - oldest).total_seconds() / 3600, 2)
            ),
            "limit": self.limit,
            "over_limit": self.over_limit,
        }


def _field_cash() -> Any:
    return and_(
        Payment.source == "field",
        Payment.method == "cash",
        Payment.counted.is_(True),
        Payment.collector_id.is_not(None),
    )


def cash_positions(collector_id: int | None = None) -> list[CashPosition]:
    """Cash positions of every collector with field cash or deposits (or of one collector)."""
    collected_q = select(
        Payment.collector_id.label("collector_id"),
        Payment.currency.label("currency"),
        func.sum(Payment.amount).label("total"),
    ).where(_field_cash())
    deposited_q = select(
        Deposit.collector_id.label("collector_id"),
        Deposit.currency.label("currency"),
        func.sum(Deposit.amount).label("total"),
    )
    if collector_id is not None:
        collected_q = collected_q.where(Payment.collector_id == collector_id)
        deposited_q = deposited_q.where(Deposit.collector_id == collector_id)
    collected: dict[tuple[Any, str], Decimal] = {
        (c, cur): total
        for c, cur, total in db.session.execute(
            collected_q.group_by(Payment.collector_id, Payment.currency)
        )
    }
    deposited_sq = deposited_q.group_by(Deposit.collector_id, Deposit.currency).subquery()
    deposited: dict[tuple[int, str], Decimal] = {
        (c, cur): total for c, cur, total in db.session.execute(select(deposited_sq))
    }
    oldest = _oldest_undeposited(collector_id, deposited_sq)
    settings = get_settings()
    codes = {i: code for i, code in db.session.execute(select(Collector.id, Collector.code))}
    positions = []
    for key in sorted(set(collected) | set(deposited), key=lambda k: (codes.get(k[0], ""), k[1])):
        positions.append(
            CashPosition(
                collector_id=key[0],
                collector=codes.get(key[0], ""),
                currency=key[1],
                collected=collected.get(key, ZERO),
                deposited=deposited.get(key, ZERO),
                oldest_undeposited_at=oldest.get(key),
                # The configured limit is in the agency's currency; other currencies have none.
                limit=settings.cash_in_hand_limit if key[1] == settings.currency else None,
            )
        )
    return positions


def _oldest_undeposited(
    collector_id: int | None, deposited: Any
) -> dict[tuple[int, str], datetime]:
    """Per (collector, currency), when the oldest receipt not covered by deposits was paid."""
    running = select(
        Payment.collector_id.label("collector_id"),
        Payment.currency.label("currency"),
        Payment.paid_at.label("paid_at"),
        func.sum(Payment.amount)
        .over(
            partition_by=(Payment.collector_id, Payment.currency),
            order_by=(Payment.paid_at, Payment.id),
        )
        .label("running"),
    ).where(_field_cash())
    if collector_id is not None:
        running = running.where(Payment.collector_id == collector_id)
    r = running.subquery()
    covered = func.coalesce(deposited.c.total, 0)
    stmt = (
        select(r.c.collector_id, r.c.currency, func.min(r.c.paid_at).label("oldest"))
        .outerjoin(
            deposited,
            and_(
                deposited.c.collector_id == r.c.collector_id, deposited.c.currency == r.c.currency
            ),
        )
        .where(r.c.running > covered)
        .group_by(r.c.collector_id, r.c.currency)
    )
    return {(c, cur): oldest for c, cur, oldest in db.session.execute(stmt)}


def get_collector(collector_id: int) -> Collector:
    collector = db.session.get(Collector, collector_id)
    if collector is None:
        raise ProblemError(404, "Not Found", "No such collector.")
    return collector


def list_deposits(collector_id: int) -> list[Deposit]:
    """A collector's deposits, newest first."""
    get_collector(collector_id)
    return list(
        db.session.execute(
            select(Deposit)
            .where(Deposit.collector_id == collector_id)
            .order_by(Deposit.deposited_at.desc(), Deposit.id.desc())
        ).scalars()
    )


def record_deposit(collector_id: int, data: dict[str, Any]) -> Deposit:
    """Record cash a collector handed in at the bank (a dispatcher enters it)."""
    collector = get_collector(collector_id)
    settings = get_settings()
    amount = Decimal(data["amount"])
    if amount <= 0 or amount != amount.quantize(CENT):
        raise ProblemError(
            422, "Invalid deposit", errors={"amount": ["Must be > 0 with at most 2 decimals."]}
        )
    currency = (data.get("currency") or settings.currency).upper()
    reference = data["bank_reference"].strip()
    if not reference:
        raise ProblemError(422, "Invalid deposit", errors={"bank_reference": ["Required."]})
    duplicate = db.session.execute(
        select(Deposit.id).where(
            Deposit.collector_id == collector.id, Deposit.bank_reference == reference
        )
    ).first()
    if duplicate is not None:
        raise ProblemError(
            409, "Duplicate deposit", f"Bank reference {reference!r} is already recorded."
        )
    position = next((p for p in cash_positions(collector.id) if p.currency == currency), None)
    in_hand = position.in_hand if position is not None else ZERO
    if amount > in_hand:
        raise ProblemError(
            422,
            "Invalid deposit",
            f"The collector holds {in_hand} {currency}; a deposit cannot exceed it.",
            errors={"amount": [f"At most {in_hand}."]},
        )
    deposit = Deposit(
        collector_id=collector.id,
        amount=amount,
        currency=currency,
        bank_reference=reference,
        deposited_at=data.get("deposited_at") or utcnow(),
        created_by_id=_current_user_id(),
    )
    db.session.add(deposit)
    db.session.flush()
    audit.record(
        "create",
        "deposit",
        deposit.id,
        collector_id=collector.id,
        amount=str(amount),
        currency=currency,
    )
    db.session.commit()
    check_cash_limits([collector.id])
    return deposit


def _current_user_id() -> int | None:
    from flask import g

    user = g.get("current_user")
    return user.id if user is not None else None


CASH_ALERT = "cash_over_limit"


def check_cash_limits(collector_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Announce collectors whose cash in hand crossed the limit (either way) since last checked.

    Called after anything that changes cash in hand (a deposit), on reads of the cash report
    and by the alert scheduler (a field payment arrives by sync). What was announced is an
    open ``cash_over_limit`` field alert per collector and currency, so every server process
    and the scheduler's worker agree, and only transitions are announced.
    """
    now = utcnow()
    positions: list[CashPosition] = []
    if collector_ids is None:
        positions = cash_positions()
    for collector_id in collector_ids or []:
        positions += cash_positions(collector_id)
    query = select(FieldAlert).where(
        FieldAlert.kind == CASH_ALERT, FieldAlert.resolved_at.is_(None)
    )
    if collector_ids is not None:
        query = query.where(FieldAlert.collector_id.in_(collector_ids))
    announced = {
        (alert.collector_id, (alert.details or {}).get("currency")): alert
        for alert in db.session.execute(query).scalars()
    }
    events = []
    for position in positions:
        alert = announced.get((position.collector_id, position.currency))
        if position.over_limit == (alert is not None):
            continue
        detail = f"{position.in_hand} {position.currency} in hand (limit {position.limit})"
        if alert is None:
            db.session.add(
                FieldAlert(
                    collector_id=position.collector_id,
                    kind=CASH_ALERT,
                    raised_at=now,
                    details={
                        "detail": detail,
                        "since": now.isoformat(),
                        "currency": position.currency,
                    },
                )
            )
        else:
            alert.resolved_at = now
        events.append(
            {
                "collector_id": position.collector_id,
                "username": None,
                "kind": CASH_ALERT if position.over_limit else "cash_within_limit",
                "detail": detail,
                "since": now.isoformat(),
                "raised_at": now.isoformat(),
                "resolved_at": None if position.over_limit else now.isoformat(),
            }
        )
    if events:
        db.session.commit()
    for event in events:
        stream_hub().publish("alert" if event["resolved_at"] is None else "alert_resolved", event)
    return events


def cash_report(collector_id: int | None = None) -> list[dict[str, Any]]:
    """Every collector's (or one collector's) cash position, checking the limit on the way."""
    check_cash_limits([collector_id] if collector_id is not None else None)
    now = utcnow()
    return [p.as_dict(now) for p in cash_positions(collector_id)]
