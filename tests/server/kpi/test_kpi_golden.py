"""The golden scenario of issue 6, every expected value worked out by hand below.

Week of Mon 2026-11-02 .. Sun 2026-11-08 (period [11-02, 11-09)), as_of 2026-11-12,
grace 2 days, tolerance 1.00, verify radius 150 m. Three collectors, eight accounts.

Accounts (zone; start snapshot 11-01: days past due, overdue; end snapshot 11-09):
  a1 Norte 20 dpd 300.00 -> 0      a5 Sur 150 dpd 2000.00 -> 180
  a2 Norte 45 dpd 500.00 -> 50     a6 Sur  10 dpd  100.00 -> 40
  a3 Norte 75 dpd 800.00 -> 40     a7 Sur  35 dpd  400.00 -> (not re-imported)
  a4 Norte 100 dpd 1000.00 -> 130  a8 Sur   0 dpd    0.00 -> 0
(The accounts' own columns say 999 dpd / 9999.00 overdue: the report must use snapshots.)

Attempts (local Lima time; d = metres from the address, - = no fix; ph = photos):
  ANA   v1  11-02 09:00 a1 no_answer            d 20  ph 2
        v2  11-02 10:00 a2 promise_to_pay       d 500        P1 200.00 due 11-04
        v3  11-02 11:30 a1 third_party_message  -
        v4  11-03 09:00 a3 payment_collected    d 50  ph 1   field cash 150.00 receipt R-1
        v5  11-04 15:00 a1 promise_to_pay       d 10         P2 100.00 due 11-06
  BETO  v6  11-02 09:00 a4 access_denied        d 30
        v7  11-02 12:00 a4 refused_to_pay       d 40  ph 1
        v8  11-05 10:00 a2 promise_to_pay       d 60         P3 300.00 due 11-06
        v9  11-05 13:00 a4 dispute              -
  CARLA v10 11-03 08:00 a5 address_not_found    -
        v11 11-03 09:30 a6 promise_to_pay       d 100 ph 1   P4 plan 50.00 11-05, 50.00 11-10
        v12 11-06 09:00 a7 debtor_moved         d 200
        v13 11-06 10:00 a5 debtor_deceased      d 20
        v14 11-06 11:00 a7 already_paid         d 10
        v15 11-06 12:00 a7 negotiating          -
        v16 11-07 09:00 a7 promise_to_pay       -            P5 200.00 due 11-12
  plus one check-in without a disposition (not an attempt).

Payments:
  R-1 field 150.00 a3 11-03 (ANA); the creditor's import repeats R-1 on 11-05 (counted once)
  a2 300.00 11-05 imported: P1 (11-02, unpaid, window to 11-06) and P3 (11-05) are both
     open; it goes whole to the older P1 -> P1 kept late within grace, P3 broken
  a1 100.00 11-06 imported -> P2 kept on its due date
  a6  50.00 11-05 imported -> P4 installment 1 covered; installment 2 (11-10 + 2 = 11-12
     <= as_of) is not -> partially kept, 50.00 matched
  a2  80.00 11-09 imported: outside the period, and after P3's window (11-08): unmatched
  a5  40.00 11-08 imported
  P5 (due 11-12 + 2 = 11-14 > as_of): pending.
Imported payments belong to the collector the account was last assigned to by that day:
  a2 11-05 -> BETO (assigned 11-05), a1 -> ANA, a6 and a5 -> CARLA.

Assignments (P = on a published route plan):
  ANA   a1 11-02 P, a2 11-02 P, a3 11-03 P, a1 11-04 P         all attempted that day
  BETO  a4 11-02 P, a2 11-05 (not planned)                     both attempted
  CARLA a5 11-03 P, a6 11-03 P, a7 11-06 P (attempted), a5 11-07 P, a8 11-08 P (not)

GPS (accepted fixes' metres): ANA 11-02 1000 + 2500 (+ 9999 filtered out), BETO 11-05 4000.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.services.importing import import_payments

LIMA = ZoneInfo("America/Lima")
PERIOD = {"from": "2026-11-02", "to": "2026-11-09", "as_of": "2026-11-12"}


def day(d: int) -> date:
    return date(2026, 11, d)


def at(d: int, hhmm: str) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime(2026, 11, d, hours, minutes, tzinfo=LIMA)


@pytest.fixture()
def golden(factory: Any, field: Any, staff: Any) -> dict[str, Any]:
    norte, sur = field.zone("Norte"), field.zone("Sur")
    ana = factory.collector("ana", zones=[norte])
    beto = factory.collector("beto", zones=[norte])
    carla = factory.collector("carla", zones=[sur])
    acc = {
        n: factory.account(f"a{n}", zone_id=(norte if n <= 4 else sur).id, days_past_due=999,
                           overdue_balance="9999.00")
        for n in range(1, 9)
    }  # fmt: skip
    field.snapshot(
        day(1),
        {acc[1]: (20, "300.00"), acc[2]: (45, "500.00"), acc[3]: (75, "800.00"),
         acc[4]: (100, "1000.00"), acc[5]: (150, "2000.00"), acc[6]: (10, "100.00"),
         acc[7]: (35, "400.00"), acc[8]: (0, "0.00")},
    )  # fmt: skip
    field.snapshot(
        day(9),
        {acc[1]: (0, "0.00"), acc[2]: (50, "520.00"), acc[3]: (40, "420.00"),
         acc[4]: (130, "1300.00"), acc[5]: (180, "2100.00"), acc[6]: (40, "150.00"),
         acc[8]: (0, "0.00")},
    )  # fmt: skip

    plan = field.plan(day(2))
    for collector, n, d, planned in [
        (ana, 1, 2, True), (ana, 2, 2, True), (ana, 3, 3, True), (ana, 1, 4, True),
        (beto, 4, 2, True), (beto, 2, 5, False),
        (carla, 5, 3, True), (carla, 6, 3, True), (carla, 7, 6, True), (carla, 5, 7, True),
        (carla, 8, 8, True),
    ]:  # fmt: skip
        factory.assign(acc[n], collector, day(d), plan_id=plan.id if planned else None)

    v = field.visit
    v(ana, acc[1], at(2, "09:00"), "no_answer", 20, photos=2)
    v2 = v(ana, acc[2], at(2, "10:00"), "promise_to_pay", 500)
    v(ana, acc[1], at(2, "11:30"), "third_party_message")
    v4 = v(ana, acc[3], at(3, "09:00"), "payment_collected", 50, photos=1)
    v5 = v(ana, acc[1], at(4, "15:00"), "promise_to_pay", 10)
    v(beto, acc[4], at(2, "09:00"), "access_denied", 30)
    v(beto, acc[4], at(2, "12:00"), "refused_to_pay", 40, photos=1)
    v8 = v(beto, acc[2], at(5, "10:00"), "promise_to_pay", 60)
    v(beto, acc[4], at(5, "13:00"), "dispute")
    v(carla, acc[5], at(3, "08:00"), "address_not_found")
    v11 = v(carla, acc[6], at(3, "09:30"), "promise_to_pay", 100, photos=1)
    v(carla, acc[7], at(6, "09:00"), "debtor_moved", 200)
    v(carla, acc[5], at(6, "10:00"), "debtor_deceased", 20)
    v(carla, acc[7], at(6, "11:00"), "already_paid", 10)
    v(carla, acc[7], at(6, "12:00"), "negotiating")
    v16 = v(carla, acc[7], at(7, "09:00"), "promise_to_pay")
    # A check-in still waiting for its disposition is not an attempt (and sets no hours).
    v(carla, acc[8], at(8, "18:00"), None, 5)

    field.promise(v2, [(day(4), "200.00")])
    field.promise(v5, [(day(6), "100.00")])
    field.promise(v8, [(day(6), "300.00")])
    field.promise(v11, [(day(5), "50.00"), (day(10), "50.00")])
    field.promise(v16, [(day(12), "200.00")])

    field.payment(acc[3], at(3, "09:05"), "150.00", source="field", collector=ana, visit=v4,
                  receipt="R-1", method="cash")  # fmt: skip
    report = import_payments(
        b"external_id,amount,paid_at,method,receipt_number\n"
        b"a3,150.00,2026-11-05,transfer,R-1\n"
        b"a2,300.00,2026-11-05,transfer,\n"
        b"a1,100.00,2026-11-06,transfer,\n"
        b"a6,50.00,2026-11-05,transfer,\n"
        b"a2,80.00,2026-11-09,transfer,\n"
        b"a5,40.00,2026-11-08,transfer,\n",
        "pagos.csv",
    )
    assert (report.created, report.duplicates_of_field_payments, report.rejected) == (6, 1, 0)

    ana_phone, beto_phone = field.device(ana), field.device(beto)
    field.fix(ana_phone, at(2, "09:10"), 1000, zone=norte)
    field.fix(ana_phone, at(2, "09:40"), 2500, zone=norte)
    field.fix(ana_phone, at(2, "09:41"), 9999, filter_reason="speed_jump", zone=norte)
    field.fix(beto_phone, at(5, "10:30"), 4000, zone=norte)
    return {"ana": ana, "beto": beto, "carla": carla}


# Expected values per collector, from the table in the module docstring.
EXPECTED = {
    "ANA": {
        "attempts": 5, "connections": 4, "contacts": 4, "direct_contacts": 3, "promises": 2,
        "promises_due": 2, "promises_kept": 2, "promises_partially_kept": 0,
        "promises_broken": 0,
        "contact_rate": 4 / 5, "direct_contact_rate": 3 / 5, "promise_rate": 2 / 3,
        "kept_rate": 1.0,
        # P1 keeps the whole 300.00 matched to it; P2 100.00.
        "amount_promised": "300.00", "amount_kept": "400.00",
        "amount_collected_field": "150.00", "amount_recovered": "250.00",
        "recovery_rate": 250 / 1600, "accounts_assigned": 3, "penetration": 1.0,
        "intensity": 5 / 3,
        "field_hours": 2.5, "attempts_per_hour": 2.0,
        "km_travelled": 3.5, "km_per_attempt": 0.7, "plan_completion": 1.0,
        "geo_verified_rate": 3 / 4, "evidence_rate": 2 / 5,
    },
    "BETO": {
        "attempts": 4, "connections": 4, "contacts": 3, "direct_contacts": 3, "promises": 1,
        "promises_due": 1, "promises_kept": 0, "promises_partially_kept": 0,
        "promises_broken": 1,
        "contact_rate": 3 / 4, "direct_contact_rate": 3 / 4, "promise_rate": 1 / 3,
        "kept_rate": 0.0,
        "amount_promised": "300.00", "amount_kept": "0.00",
        "amount_collected_field": "0.00", "amount_recovered": "300.00",
        "recovery_rate": 300 / 1500, "accounts_assigned": 2, "penetration": 1.0,
        "intensity": 2.0,
        "field_hours": 6.0, "attempts_per_hour": 4 / 6,
        "km_travelled": 4.0, "km_per_attempt": 1.0, "plan_completion": 1.0,
        "geo_verified_rate": 1.0, "evidence_rate": 1 / 4,
    },
    "CARLA": {
        "attempts": 7, "connections": 6, "contacts": 6, "direct_contacts": 4, "promises": 2,
        "promises_due": 1, "promises_kept": 0, "promises_partially_kept": 1,
        "promises_broken": 0,
        "contact_rate": 6 / 7, "direct_contact_rate": 4 / 7, "promise_rate": 2 / 4,
        "kept_rate": 0.0,
        "amount_promised": "300.00", "amount_kept": "50.00",
        "amount_collected_field": "0.00", "amount_recovered": "90.00",
        "recovery_rate": 90 / 2500, "accounts_assigned": 4, "penetration": 3 / 4,
        "intensity": 7 / 4,
        "field_hours": 4.5, "attempts_per_hour": 7 / 4.5,
        "km_travelled": 0.0, "km_per_attempt": 0.0, "plan_completion": 3 / 5,
        "geo_verified_rate": 3 / 4, "evidence_rate": 1 / 7,
    },
}  # fmt: skip
# The total: distinct accounts a1..a8 (a2 was assigned to two collectors), a1..a7 attempted.
EXPECTED_TOTAL = {
    "attempts": 16, "connections": 14, "contacts": 13, "direct_contacts": 10, "promises": 5,
    "promises_due": 4, "promises_kept": 2, "promises_partially_kept": 1, "promises_broken": 1,
    "contact_rate": 13 / 16, "direct_contact_rate": 10 / 16, "promise_rate": 5 / 10,
    "kept_rate": 2 / 4,
    "amount_promised": "900.00", "amount_kept": "450.00",
    "amount_collected_field": "150.00", "amount_recovered": "640.00",
    "recovery_rate": 640 / 5100, "accounts_assigned": 8, "penetration": 7 / 8,
    "intensity": 16 / 8,
    "field_hours": 13.0, "attempts_per_hour": 16 / 13,
    "km_travelled": 7.5, "km_per_attempt": 7.5 / 16, "plan_completion": 8 / 10,
    "geo_verified_rate": 9 / 11, "evidence_rate": 4 / 16,  # fixes: 4 + 3 + 4
}  # fmt: skip


def check(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if isinstance(value, float):
            assert actual[name] == pytest.approx(value, abs=1e-4), name
        else:
            assert actual[name] == value, name


def test_golden_report_by_collector(golden: dict[str, Any], report: Any) -> None:
    doc = report("manager", **PERIOD, group_by="collector")
    assert doc["model_version"] == 1
    assert doc["group_by"] == ["collector"]
    rows = {r["collector"]: r for r in doc["rows"]}
    assert list(rows) == ["ANA", "BETO", "CARLA"]
    for code, expected in EXPECTED.items():
        check(rows[code], expected)
    check(doc["total"], EXPECTED_TOTAL)
    assert len(doc["total"]) == len(doc["columns"]) - 2  # every measure, no keys


def test_golden_total_without_groups(golden: dict[str, Any], report: Any) -> None:
    doc = report("manager", **PERIOD)
    assert doc["rows"] == []
    check(doc["total"], EXPECTED_TOTAL)


def test_golden_by_day_and_zone(golden: dict[str, Any], report: Any) -> None:
    by_day = report("manager", **PERIOD, group_by="day")
    attempts = {r["day"]: r["attempts"] for r in by_day["rows"]}
    # 11-02: v1 v2 v3 v6 v7; 11-03: v4 v10 v11; 11-04: v5; 11-05: v8 v9; 11-06: v12-v15; 11-07: v16
    assert attempts == {
        "2026-11-02": 5, "2026-11-03": 3, "2026-11-04": 1, "2026-11-05": 2,
        "2026-11-06": 4, "2026-11-07": 1, "2026-11-08": 0,
    }  # fmt: skip
    recovered = {r["day"]: r["amount_recovered"] for r in by_day["rows"]}
    assert recovered["2026-11-05"] == "350.00"  # a2 300.00 + a6 50.00 (R-1's repeat not counted)
    assert recovered["2026-11-08"] == "40.00"
    by_zone = report("manager", **PERIOD, group_by="zone")
    zones = {r["zone"]: r for r in by_zone["rows"]}
    assert zones["Norte"]["attempts"] == 9 and zones["Sur"]["attempts"] == 7
    assert zones["Norte"]["km_travelled"] == 7.5
    assert zones["Sur"]["amount_recovered"] == "90.00"


def test_golden_by_bucket_uses_the_start_snapshot(golden: dict[str, Any], report: Any) -> None:
    doc = report("manager", **PERIOD, group_by="bucket")
    rows = {r["bucket"]: r for r in doc["rows"]}
    # a1 and a6 are 1-30: v1 v3 v5 v11; a2 and a7 31-60: v2 v8 v12 v14 v15 v16.
    assert rows["1-30"]["attempts"] == 4
    assert rows["31-60"]["attempts"] == 6
    assert rows["61-90"]["attempts"] == 1
    assert rows["91-120"]["attempts"] == 3
    assert rows["121+"]["attempts"] == 2
    assert rows["current"]["accounts_assigned"] == 1  # a8
    assert rows["1-30"]["km_travelled"] is None  # fixes have no account
    assert doc["total"]["km_travelled"] == 7.5


def test_golden_effectiveness(golden: dict[str, Any], client: Any, auth_header: Any) -> None:
    response = client.get(
        "/api/v1/kpi/effectiveness",
        query_string={"start": "2026-11-01", "end": "2026-11-09"},
        headers=auth_header("manager"),
    )
    assert response.status_code == 200, response.get_json()
    buckets = {b["bucket"]: b for b in response.get_json()["buckets"]}
    first = buckets["1-30"]  # a1 -> current, a6 -> 31-60
    assert (first["accounts"], first["overdue_balance"]) == (2, "400.00")
    assert first["normalized"] == {"accounts": 1, "overdue_balance": "300.00", "share": 0.5}
    assert first["rolled"] == {"accounts": 1, "overdue_balance": "100.00", "share": 0.5}
    assert first["improved"]["share"] == first["contained"]["share"] == 0.0
    second = buckets["31-60"]  # a2 stays; a7 was not re-imported
    assert (second["accounts"], second["not_in_end_snapshot"]) == (1, 1)
    assert second["contained"]["share"] == 1.0
    assert buckets["61-90"]["improved"]["share"] == 1.0  # a3 75 -> 40
    assert buckets["91-120"]["rolled"]["share"] == 1.0  # a4 100 -> 130
    assert buckets["121+"]["contained"]["share"] == 1.0  # a5 150 -> 180


def test_golden_scorecards(golden: dict[str, Any], client: Any, auth_header: Any) -> None:
    response = client.get(
        "/api/v1/kpi/scorecards", query_string=PERIOD, headers=auth_header("manager")
    )
    assert response.status_code == 200, response.get_json()
    cards = {c["collector"]: c for c in response.get_json()["scorecards"]}
    # Productivity by attempts: CARLA 7, ANA 5, BETO 4. Effectiveness by amount recovered:
    # BETO 300, ANA 250, CARLA 90. Quality by geo-verified rate: BETO 1.0, then ANA and
    # CARLA tie at 0.75 (code order). Rank sums: ANA 2+2+2=6, BETO 3+1+1=5, CARLA 1+3+3=7.
    assert {c: cards[c]["rank"]["overall"] for c in cards} == {"BETO": 1, "ANA": 2, "CARLA": 3}
    assert cards["ANA"]["rank"] == {
        "overall": 2, "productivity": 2, "effectiveness": 2, "quality": 2, "of": 3
    }  # fmt: skip
    assert cards["CARLA"]["productivity"]["plan_completion"] == pytest.approx(0.6)
    assert cards["BETO"]["effectiveness"]["amount_recovered"] == "300.00"
    assert cards["ANA"]["quality"] == {"geo_verified_rate": 0.75, "evidence_rate": 0.4}

    own = client.get(
        "/api/v1/kpi/scorecards", query_string=PERIOD, headers=auth_header("carla")
    ).get_json()["scorecards"]
    assert [(c["collector"], c["rank"]["overall"]) for c in own] == [("CARLA", 3)]


def test_golden_collector_sees_only_own_rows(golden: dict[str, Any], report: Any) -> None:
    doc = report("beto", **PERIOD, group_by="collector,day")
    assert {r["collector"] for r in doc["rows"]} == {"BETO"}
    check(doc["total"], EXPECTED["BETO"])


def test_golden_csv_matches_json(golden: dict[str, Any], client: Any, auth_header: Any) -> None:
    response = client.get(
        "/api/v1/kpi/report",
        query_string={**PERIOD, "group_by": "collector"},
        headers={**auth_header("manager"), "Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["row_type"] for r in table] == ["group", "group", "group", "total"]
    assert [r["collector"] for r in table] == ["ANA", "BETO", "CARLA", ""]
    assert table[0]["amount_kept"] == "400.00"
    assert table[3]["attempts"] == "16"
    assert table[3]["kept_rate"] == "0.5"
    assert table[0]["promises_broken"] == "0"
    via_param = client.get(
        "/api/v1/kpi/report",
        query_string={**PERIOD, "group_by": "collector", "format": "csv"},
        headers=auth_header("manager"),
    )
    assert via_param.get_data(as_text=True) == response.get_data(as_text=True)
