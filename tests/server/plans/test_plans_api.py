"""The planning API: job lifecycle, ranking, move/lock/re-evaluate, publish, mid-day replan."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.extensions import db
from server.models import Assignment, PromiseInstallment, PromiseToPay, Visit

TUESDAY = date(2026, 12, 1)
IMMACULATE_CONCEPTION = date(2026, 12, 8)  # a Tuesday and a public holiday in Peru
DOORS = [(-12.050 + 0.004 * (i % 4), -77.040 + 0.005 * (i // 4)) for i in range(10)]


@pytest.fixture()
def day_setup(app: Flask, factory: Any, staff: Any) -> dict[str, Any]:
    app.config["PLANNING_WORKERS"] = 1
    north = factory.collector("collector01", lat=-12.045, lon=-77.035, max_visits_per_day=6)
    south = factory.collector("collector02", lat=-12.055, lon=-77.030, max_visits_per_day=6)
    accounts = [
        factory.account(
            f"A{i:03d}", lat=lat, lon=lon, overdue_balance=100 + 50 * i, days_past_due=20 + i
        )
        for i, (lat, lon) in enumerate(DOORS)
    ]
    return {"collectors": [north, south], "accounts": accounts}


def _wait(client: FlaskClient, headers: dict[str, str], plan_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/plans/{plan_id}", headers=headers).get_json()
        if body["status"] in {"done", "failed"}:
            return body
        time.sleep(0.2)
    raise AssertionError("the planning job did not finish")


def _plan(client: FlaskClient, headers: dict[str, str], day: date) -> dict[str, Any]:
    response = client.post(
        "/api/v1/plans", json={"date": day.isoformat(), "time_limit_s": 1}, headers=headers
    )
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    return _wait(client, headers, response.get_json()["id"])


def test_a_plan_job_runs_in_the_background_and_reports_routes(
    client: FlaskClient, auth_header: Any, day_setup: dict[str, Any]
) -> None:
    headers = auth_header("dispatcher")
    plan = _plan(client, headers, TUESDAY)
    assert plan["status"] == "done", plan["error"]
    assert plan["progress"] == 100.0
    summary = plan["summary"]
    assert summary["feasible"] and summary["visits_planned"] == 10 and summary["collectors"] == 2
    stops = [s for r in plan["routes"] for s in r["stops"]]
    assert sorted(s["account_id"] for s in stops) == sorted(a.id for a in day_setup["accounts"])
    for route in plan["routes"]:
        assert route["totals"]["visits"] == len(route["stops"]) <= 6
        assert route["totals"]["km"] > 0 and route["totals"]["value"] > 0
        etas = [s["eta"] for s in route["stops"]]
        assert etas == sorted(etas)
    for stop in stops:  # inside Peru's legal hours, in Lima time
        local = datetime.fromisoformat(stop["eta"]).astimezone(ZoneInfo("America/Lima"))
        assert stop["window_start"] <= stop["eta"] <= stop["window_end"]
        assert 7 <= local.hour < 20
    manager = client.get(f"/api/v1/plans/{plan['id']}", headers=auth_header("manager"))
    assert manager.status_code == 200
    listed = client.get(
        "/api/v1/plans", query_string={"date": TUESDAY.isoformat()}, headers=headers
    )
    assert [p["id"] for p in listed.get_json()] == [plan["id"]]


def test_a_public_holiday_plans_no_visit_and_says_why(
    client: FlaskClient, auth_header: Any, day_setup: dict[str, Any]
) -> None:
    plan = _plan(client, auth_header("dispatcher"), IMMACULATE_CONCEPTION)
    assert plan["status"] == "done"
    assert all(not r["stops"] for r in plan["routes"])
    assert plan["summary"]["feasible"] and plan["summary"]["required_unserved"] == []
    assert len(plan["unassigned"]) == 10
    assert {u["reason"] for u in plan["unassigned"]} == {"PE: public holiday"}


def test_a_route_leaves_in_time_for_its_first_stop_not_at_a_midnight_shift_start(
    client: FlaskClient, auth_header: Any, day_setup: dict[str, Any]
) -> None:
    for collector in day_setup["collectors"]:
        collector.shift_start_min, collector.shift_end_min = 0, 24 * 60 - 1
    db.session.commit()
    plan = _plan(client, auth_header("dispatcher"), TUESDAY)
    routes = [r for r in plan["routes"] if r["stops"]]
    assert routes
    lima = ZoneInfo("America/Lima")
    for route in routes:
        # Peru's legal hours open at 07:00: nobody walks out at midnight to wait at a door.
        departure = datetime.fromisoformat(route["departure"])
        first_eta = datetime.fromisoformat(route["stops"][0]["eta"])
        assert departure.astimezone(lima).hour >= 6
        assert departure <= first_eta
        back = datetime.fromisoformat(route["return"])
        assert route["totals"]["hours"] == round((back - departure).total_seconds() / 3600, 2)


def test_custom_contact_hours_set_by_an_admin_shape_the_plan(
    client: FlaskClient, auth_header: Any, day_setup: dict[str, Any]
) -> None:
    hours = {"weekdays": [1, 5], "start": "10:00", "end": "13:00", "exclude_holidays": False}
    changed = client.patch(
        "/api/v1/settings",
        json={"contact_policy": "custom", "contact_hours": hours},
        headers=auth_header("admin"),
    )
    assert changed.status_code == 200, changed.get_json()
    # Tuesdays allowed, from 10:00 to 13:00 only; holidays not excluded.
    plan = _plan(client, auth_header("dispatcher"), IMMACULATE_CONCEPTION)
    stops = [s for r in plan["routes"] for s in r["stops"]]
    assert stops
    for stop in stops:
        start = datetime.fromisoformat(stop["window_start"]).astimezone(ZoneInfo("America/Lima"))
        end = datetime.fromisoformat(stop["window_end"]).astimezone(ZoneInfo("America/Lima"))
        assert (start.hour, start.minute) >= (10, 0) and (end.hour, end.minute) <= (13, 0)
    wednesday = _plan(client, auth_header("dispatcher"), date(2026, 12, 9))
    assert all(not r["stops"] for r in wednesday["routes"])
    assert {u["reason"] for u in wednesday["unassigned"]} == {"custom: no visits on Wednesday"}


def test_candidates_are_ranked_with_explanations(
    client: FlaskClient, auth_header: Any, day_setup: dict[str, Any]
) -> None:
    response = client.get(
        "/api/v1/plans/candidates",
        query_string={"date": TUESDAY.isoformat(), "limit": 3},
        headers=auth_header("manager"),
    )
    assert response.status_code == 200
    ranked = response.get_json()
    assert [c["rank"] for c in ranked] == [1, 2, 3]
    assert ranked[0]["external_id"] == "A009"  # the largest overdue balance, all else alike
    assert ranked[0]["value"] >= ranked[1]["value"] >= ranked[2]["value"]
    assert "overdue balance" in ranked[0]["why"] and "below" in ranked[1]["why"]
    assert {r["factor"] for r in ranked[0]["reasons"]} >= {"balance", "bucket", "risk"}


def test_move_and_lock_a_stop_then_publish_and_republish(
    app: Flask, client: FlaskClient, auth_header: Any, day_setup: dict[str, Any]
) -> None:
    headers = auth_header("dispatcher")
    plan = _plan(client, headers, TUESDAY)
    first, second = plan["routes"]
    moved = first["stops"][0]["account_id"]
    response = client.patch(
        f"/api/v1/plans/{plan['id']}/stops/{moved}",
        json={"collector_id": second["collector_id"], "position": 1, "locked": True},
        headers=headers,
    )
    assert response.status_code == 200
    edited = response.get_json()
    target = next(r for r in edited["routes"] if r["collector_id"] == second["collector_id"])
    assert target["stops"][0]["account_id"] == moved and target["stops"][0]["locked"]
    assert edited["summary"]["feasible"]
    assert all(s["sequence"] == k for r in edited["routes"] for k, s in enumerate(r["stops"], 1))

    published = client.post(f"/api/v1/plans/{plan['id']}/publish", headers=headers)
    assert published.status_code == 200 and published.get_json()["status"] == "published"
    with app.app_context():
        rows = (
            db.session.execute(db.select(Assignment).where(Assignment.date == TUESDAY))
            .scalars()
            .all()
        )
        assert len(rows) == 10 and {r.plan_id for r in rows} == {plan["id"]}
        mine = next(r for r in rows if r.account_id == moved)
        assert mine.collector_id == second["collector_id"] and mine.sequence == 1 and mine.locked

    # Moving it back and publishing again leaves a tombstone for the device that had it.
    client.patch(
        f"/api/v1/plans/{plan['id']}/stops/{moved}",
        json={"collector_id": first["collector_id"]},
        headers=headers,
    )
    assert client.post(f"/api/v1/plans/{plan['id']}/publish", headers=headers).status_code == 200
    with app.app_context():
        rows = (
            db.session.execute(db.select(Assignment).where(Assignment.account_id == moved))
            .scalars()
            .all()
        )
        assert sorted((r.collector_id, r.status) for r in rows) == sorted(
            [(second["collector_id"], "removed"), (first["collector_id"], "active")]
        )

    # Taking a stop out of a published plan withdraws it from the device at the next publish.
    client.patch(
        f"/api/v1/plans/{plan['id']}/stops/{moved}", json={"unassign": True}, headers=headers
    )
    assert client.post(f"/api/v1/plans/{plan['id']}/publish", headers=headers).status_code == 200
    with app.app_context():
        rows = (
            db.session.execute(db.select(Assignment).where(Assignment.account_id == moved))
            .scalars()
            .all()
        )
        assert {r.status for r in rows} == {"removed"}
    withdrawn = client.get(f"/api/v1/plans/{plan['id']}", headers=headers).get_json()
    assert {"account_id": moved, "reason": "removed by the dispatcher"}.items() <= next(
        u for u in withdrawn["unassigned"] if u["account_id"] == moved
    ).items()

    geojson = client.get(f"/api/v1/plans/{plan['id']}/geojson", headers=headers).get_json()
    assert geojson["type"] == "FeatureCollection"
    kinds = [f["properties"]["kind"] for f in geojson["features"]]
    assert kinds.count("route") == 2 and kinds.count("stop") == 9
    point = next(f for f in geojson["features"] if f["properties"]["kind"] == "stop")
    assert -78 < point["geometry"]["coordinates"][0] < -76  # longitude first


def test_an_infeasible_edit_is_reported_and_blocks_publishing(
    client: FlaskClient, auth_header: Any, day_setup: dict[str, Any]
) -> None:
    headers = auth_header("dispatcher")
    plan = _plan(client, headers, TUESDAY)
    first, second = plan["routes"]
    for stop in second["stops"]:  # 10 stops for one collector: max 6 visits a day
        client.patch(
            f"/api/v1/plans/{plan['id']}/stops/{stop['account_id']}",
            json={"collector_id": first["collector_id"]},
            headers=headers,
        )
    edited = client.get(f"/api/v1/plans/{plan['id']}", headers=headers).get_json()
    assert not edited["summary"]["feasible"]
    assert any("max 6" in v for v in edited["summary"]["violations"])
    response = client.post(f"/api/v1/plans/{plan['id']}/publish", headers=headers)
    assert response.status_code == 409
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_mid_day_replan_keeps_done_visits_done(
    app: Flask, client: FlaskClient, auth_header: Any, day_setup: dict[str, Any]
) -> None:
    headers = auth_header("dispatcher")
    plan = _plan(client, headers, TUESDAY)
    done = plan["routes"][0]["stops"][0]
    with app.app_context():
        db.session.add(
            Visit(
                client_uuid=str(uuid.uuid4()),
                account_id=done["account_id"],
                collector_id=plan["routes"][0]["collector_id"],
                disposition="promise",
                checked_in_at=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
                local_date=TUESDAY,
            )
        )
        db.session.commit()
    noon_lima = "2026-12-01T17:00:00+00:00"
    response = client.post(
        f"/api/v1/plans/{plan['id']}/replan",
        json={"at": noon_lima, "time_limit_s": 1},
        headers=headers,
    )
    assert response.status_code == 202
    again = _wait(client, headers, response.get_json()["id"])
    assert again["status"] == "done" and again["replan_of_id"] == plan["id"]
    stops = [s for r in again["routes"] for s in r["stops"]]
    assert done["account_id"] not in {s["account_id"] for s in stops}
    assert len(stops) + len(again["unassigned"]) == 9
    assert all(s["eta"] >= noon_lima for s in stops)


def test_client_mistakes_are_problem_details(
    client: FlaskClient, auth_header: Any, factory: Any, day_setup: dict[str, Any]
) -> None:
    headers = auth_header("dispatcher")
    bad = client.post("/api/v1/plans", json={"time_limit_s": -1}, headers=headers)
    assert bad.status_code == 422 and "date" in str(bad.get_json()["errors"])
    assert client.get("/api/v1/plans/999", headers=headers).status_code == 404
    assert client.post("/api/v1/plans/999/publish", headers=headers).status_code == 404
    collector_headers = auth_header("collector01")
    assert (
        client.post(
            "/api/v1/plans", json={"date": "2026-12-01"}, headers=collector_headers
        ).status_code
        == 403
    )
    assert client.get("/api/v1/plans/candidates", headers=headers).status_code == 422


def test_a_must_visit_that_fits_nowhere_is_reported_and_the_rest_publishes(
    app: Flask, client: FlaskClient, auth_header: Any, factory: Any, day_setup: dict[str, Any]
) -> None:
    far = factory.account("FAR", lat=-13.2, lon=-76.2, overdue_balance=50, days_past_due=10)
    with app.app_context():
        promise = PromiseToPay(
            account_id=far.id,
            local_date=date(2026, 11, 20),
            currency="PEN",
            amount=Decimal("50.00"),
            first_due_date=TUESDAY,
            last_due_date=TUESDAY,
        )
        promise.installments = [
            PromiseInstallment(seq=1, due_date=TUESDAY, amount=Decimal("50.00"))
        ]
        db.session.add(promise)
        db.session.commit()
    headers = auth_header("dispatcher")
    ranked = client.get(
        "/api/v1/plans/candidates", query_string={"date": TUESDAY.isoformat()}, headers=headers
    ).get_json()
    assert ranked[0]["account_id"] == far.id and ranked[0]["required"]
    assert ranked[0]["required_because"] == "promise to pay falls due on the plan day"
    plan = _plan(client, headers, TUESDAY)
    assert plan["summary"]["feasible"] and plan["summary"]["required_unserved"] == [far.id]
    missed = next(u for u in plan["unassigned"] if u["account_id"] == far.id)
    assert missed["required"] and missed["reason"].startswith("required, but")
    assert client.post(f"/api/v1/plans/{plan['id']}/publish", headers=headers).status_code == 200
