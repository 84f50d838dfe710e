"""Fixtures for the tracking API: a collector on an all-day shift with a registered handheld."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.extensions import limiter
from server.models import Collector


@dataclass
class Handheld:
    collector: Collector
    device_id: str
    credential: str
    tracking_id: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}


@pytest.fixture()
def register_handheld(client: FlaskClient, auth_header: Any, fresh_rate_limits: None) -> Any:
    """`register_handheld(collector)` registers a device through the API, as a phone does."""

    def register(collector: Collector) -> Handheld:
        response = client.post(
            "/api/v1/devices",
            json={"name": "phone", "platform": "android"},
            headers=auth_header(collector.user.username),
        )
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        return Handheld(collector, body["device_id"], body["credential"], body["tracking_id"])

    return register


@pytest.fixture()
def all_day(factory: Any) -> Any:
    """Collectors whose shift covers the whole local day, so tests run at any hour."""

    def make(username: str, **fields: Any) -> Collector:
        collector: Collector = factory.collector(
            username, shift_start_min=0, shift_end_min=24 * 60, **fields
        )
        return collector

    return make


@pytest.fixture()
def handheld(all_day: Any, register_handheld: Any) -> Handheld:
    return register_handheld(all_day("collector01"))  # type: ignore[no-any-return]


@pytest.fixture()
def fresh_rate_limits(app: Flask) -> None:
    """The limiter's memory storage outlives one app; start each test with clean counters."""
    limiter.reset()
