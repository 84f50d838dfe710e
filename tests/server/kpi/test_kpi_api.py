"""The KPI endpoints: model, validation, permissions, time zone, CSV streaming."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kpi import DISPOSITION_NAMES, MEASURE_NAMES

LIMA = ZoneInfo("America/Lima")


def test_model_document_is_served(client: Any, auth_header: Any, factory: Any) -> None:
    factory.collector("ana")
    response = client.get("/api/v1/kpi/model", headers=auth_header("ana"))
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["version"] == 1
    assert [d["name"] for d in doc["dispositions"]] == list(DISPOSITION_NAMES)
    assert [m["name"] for m in doc["measures"]] == list(MEASURE_NAMES)
    assert doc["promise_status"]["grace_days"] == 2
    assert client.get("/api/v1/kpi/model").status_code == 401


def test_endpoints_are_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/kpi/model",
        "/api/v1/kpi/report",
        "/api/v1/kpi/effectiveness",
        "/api/v1/kpi/scorecards",
        "/api/v1/kpi/cash",
        "/api/v1/collectors/{collector_id}/deposits",
        "/api/v1/collectors/{collector_id}/cash",
    ):
        assert path in paths, path
    assert "text/csv" in paths["/api/v1/kpi/report"]["get"]["responses"]["200"]["content"]


def test_invalid_queries_are_problem_details(client: Any, auth_header: Any, staff: Any) -> None:
    headers = auth_header("manager")
    cases = [
        ({"from": "2026-11-09", "to": "2026-11-02"}, "to"),
        ({"from": "2026-11-02", "to": "2026-11-09", "group_by": "collector,team"}, "group_by"),
        ({"from": "2026-11-02"}, "to"),
        ({"from": "2026-11-02", "to": "2026-11-09", "format": "xml"}, "format"),
        ({"from": "2020-01-01", "to": "2026-11-09"}, "to"),
    ]
    for params, field in cases:
        response = client.get("/api/v1/kpi/report", query_string=params, headers=headers)
        assert response.status_code == 422, params
        assert response.mimetype == "application/problem+json"
        assert field in response.get_json()["errors"], params
    bad = client.get(
        "/api/v1/kpi/effectiveness", query_string={"start": "2026-11-09", "end": "2026-11-01"},
        headers=headers,
    )  # fmt: skip
    assert bad.status_code == 422


def test_collectors_cannot_read_portfolio_effectiveness(
    client: Any, auth_header: Any, factory: Any
) -> None:
    factory.collector("ana")
    response = client.get(
        "/api/v1/kpi/effectiveness",
        query_string={"start": "2026-11-01", "end": "2026-11-09"},
        headers=auth_header("ana"),
    )
    assert response.status_code == 403


def _device(client: Any, auth_header: Any, username: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/devices", json={"name": "phone", "platform": "android"},
        headers=auth_header(username),
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def test_an_attempt_at_2330_in_lima_counts_on_its_lima_day(
    client: Any, auth_header: Any, factory: Any, staff: Any
) -> None:
    """Recorded through the real sync push: 23:30 Lima is 04:30 UTC of the next day."""
    collector = factory.collector("ana")
    account = factory.account("a1")
    device = _device(client, auth_header, "ana")
    now = datetime.now(UTC)
    lima_day = (now.astimezone(LIMA) - timedelta(days=1)).date()
    at_2330 = datetime(lima_day.year, lima_day.month, lima_day.day, 23, 30, tzinfo=LIMA)
    visit = str(uuid.uuid4())
    push = client.post(
        "/api/v1/sync/push",
        json={
            "device_id": device["device_id"],
            "device_time": now.isoformat(),
            "mutations": [
                {"id": 1, "name": "check_in", "client_time": at_2330.isoformat(),
                 "args": {"visit_uuid": visit, "account_id": account.id}},
                {"id": 2, "name": "record_visit", "client_time": at_2330.isoformat(),
                 "args": {"visit_uuid": visit, "disposition": "no_answer"}},
            ],
        },
        headers={"Authorization": f"Bearer {device['credential']}"},
    )  # fmt: skip
    assert push.status_code == 200, push.get_json()
    assert [r["status"] for r in push.get_json()["results"]] == ["applied", "applied"]
    utc_day = at_2330.astimezone(UTC).date()
    assert utc_day == lima_day + timedelta(days=1)

    def attempts(start: Any, end: Any, **extra: str) -> Any:
        response = client.get(
            "/api/v1/kpi/report",
            query_string={"from": start.isoformat(), "to": end.isoformat(), **extra},
            headers=auth_header("manager"),
        )
        return response.get_json()

    one_day = timedelta(days=1)
    assert attempts(lima_day, utc_day)["total"]["attempts"] == 1
    assert attempts(utc_day, utc_day + one_day)["total"]["attempts"] == 0
    by_day = attempts(lima_day - one_day, utc_day + one_day, group_by="collector,day")["rows"]
    assert [(r["collector_id"], r["day"], r["attempts"]) for r in by_day] == [
        (collector.id, lima_day.isoformat(), 1)
    ]


def test_csv_is_streamed_line_by_line(
    client: Any, auth_header: Any, factory: Any, staff: Any
) -> None:
    factory.collector("ana")
    response = client.get(
        "/api/v1/kpi/report",
        query_string={"from": "2026-11-02", "to": "2026-11-04", "group_by": "day,collector"},
        headers={**auth_header("manager"), "Accept": "text/csv"},
    )
    assert response.is_streamed
    assert response.headers["Content-Disposition"].startswith("attachment")
    chunks = list(response.response)
    assert chunks[0].decode().startswith("row_type,day,collector_id,collector,attempts,")
    assert all(c.decode().count("\n") == 1 for c in chunks)
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert [r["row_type"] for r in rows] == ["total"]
    assert rows[0]["contact_rate"] == ""  # null, not 0


def test_csv_export_is_in_the_audit_log(client: Any, auth_header: Any, staff: Any) -> None:
    client.get(
        "/api/v1/kpi/report",
        query_string={"from": "2026-11-02", "to": "2026-11-04", "format": "csv"},
        headers=auth_header("manager"),
    ).close()
    entries = client.get("/api/v1/audit", headers=auth_header("admin")).get_json()
    assert ("export", "kpi_report", "manager") in {
        (e["action"], e["entity"], e["actor_username"]) for e in entries
    }
