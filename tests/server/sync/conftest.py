"""A registered handheld and its collector's day, for the sync API tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from server.models import Account, Assignment, Collector


def today_lima() -> date:
    return datetime.now(ZoneInfo("America/Lima")).date()


def recently_today(minutes: int = 30) -> datetime:
    """``minutes`` ago, but never before today's midnight in Lima: routes are per day, and a
    visit "30 minutes ago" run just after midnight would belong to yesterday's route."""
    midnight = datetime.combine(today_lima(), time(0), ZoneInfo("America/Lima"))
    return max(datetime.now(UTC) - timedelta(minutes=minutes), midnight.astimezone(UTC))


@dataclass
class Handheld:
    """A device as the server sees it, driven through the HTTP API."""

    client: FlaskClient
    collector: Collector
    device_id: str
    credential: str
    receipt_block: dict[str, Any]
    next_id: int = 1
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}

    def mutation(
        self, name: str, args: dict[str, Any], when: datetime | None = None
    ) -> dict[str, Any]:
        """Queue a mutation under the next id, as the device's outbox would."""
        item = {
            "id": self.next_id,
            "name": name,
            "args": args,
            "client_time": (when or recently_today(5)).isoformat(),
        }
        self.next_id += 1
        self.sent.append(item)
        return item

    def push(self, mutations: list[dict[str, Any]], device_time: datetime | None = None) -> Any:
        body: dict[str, Any] = {"device_id": self.device_id, "mutations": mutations}
        if device_time is not None:
            body["device_time"] = device_time.isoformat()
        return self.client.post("/api/v1/sync/push", json=body, headers=self.headers)

    def pull(self, cursor: str | None = None, limit: int = 100) -> Any:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.client.get("/api/v1/sync/pull", query_string=params, headers=self.headers)

    def receipt(self, k: int = 0) -> str:
        block = self.receipt_block
        return f"R-{block['prefix']}-{block['start'] + k:06d}"

    def visit(
        self, account: Account, when: datetime | None = None, lat: float | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        """check_in + record_visit + check_out for one account."""
        visit_uuid = str(uuid.uuid4())
        when = when or recently_today()
        return visit_uuid, [
            self.mutation(
                "check_in",
                {
                    "visit_uuid": visit_uuid,
                    "account_id": account.id,
                    "lat": account.lat if lat is None else lat,
                    "lon": account.lon,
                },
                when,
            ),
            self.mutation(
                "record_visit", {"visit_uuid": visit_uuid, "disposition": "no_answer"}, when
            ),
            self.mutation("check_out", {"visit_uuid": visit_uuid}, when + timedelta(minutes=4)),
        ]


def register(client: FlaskClient, auth_header: Any, collector: Collector) -> Handheld:
    from server.extensions import db
    from server.models import User

    user = db.session.get(User, collector.user_id)
    response = client.post(
        "/api/v1/devices", json={"name": "phone", "platform": "android"}, headers=auth_header(user)
    )
    assert response.status_code == 201, response.json
    data = response.json
    return Handheld(client, collector, data["device_id"], data["credential"], data["receipt_block"])


@pytest.fixture()
def day_route(factory: Any) -> tuple[Collector, list[Account], list[Assignment]]:
    """A collector with a published route of three stops today."""
    collector = factory.collector("ana")
    accounts = [
        factory.account(
            lat=-12.06 - k * 0.01,
            lon=-77.04,
            negotiation_options={"max_discount_pct": 20, "max_installments": 6},
            created_at=datetime.now(UTC) - timedelta(days=30),
        )
        for k in range(3)
    ]
    stops = [
        factory.assign(a, collector, today_lima(), sequence=k + 1) for k, a in enumerate(accounts)
    ]
    return collector, accounts, stops


@pytest.fixture()
def handheld(client: FlaskClient, auth_header: Any, day_route: Any) -> Handheld:
    return register(client, auth_header, day_route[0])
