"""KPI report speed and memory on a generated field operation.

1,000,000 attempts over 100,000 accounts, 200 collectors and 90 days (with their
assignments, promises, payments, photos, GPS fixes and three portfolio snapshots), bulk
loaded straight through the DB-API (executemany on SQLite, COPY on PostgreSQL). Measured,
median of --repeat runs, through the same service functions the API calls:

* the report for one month grouped by collector and day (every measure), read from the
  rollups the services keep (promise status spans, collector-day activity and assignments),
  beside two peers: the same report from the event tables (``rollups=False``, the tests'
  reference), and the funnel alone computed by loading the month's attempt rows into Python
  (what "not in the database" costs);
* the previous approach's promise pass (the month's accounts' promises judged in Python with
  kpi.judge_account at report time), now done once per write, and the one-off backfill of
  the rollups for the bulk-loaded events (what ``rebuild_kpi_state`` costs);
* the CSV export of that report: peak traced Python memory (tracemalloc) while streaming,
  for a 1-week, 1-month and 3-month export, to show it does not grow with the rows;
* effectiveness over the 100,000 accounts between two snapshots.

Run:
    .venv/bin/python bench/kpi.py                       # SQLite (temporary file)
    scripts/with_postgres.sh sh -c '.venv/bin/python bench/kpi.py \\
        --database-url sqlite --database-url "$TEST_DATABASE_URL"'   # both, one table
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade
from sqlalchemy import select, text

from kpi import Disposition, GroupKey, Period
from server import create_app
from server.extensions import db
from server.models import (
    Collector,
    Device,
    Portfolio,
    PortfolioImport,
    PromiseToPay,
    RoutePlan,
    User,
    Visit,
    Zone,
)
from server.services.reporting import (
    ReportQuery,
    build_effectiveness,
    build_report,
    rebuild_kpi_state,
    refresh_promise_spans,
    report_csv,
)

LIMA = ZoneInfo("America/Lima")
FIRST_DAY = date(2026, 8, 3)
MONTH = Period(date(2026, 9, 1), date(2026, 10, 1))
AS_OF = date(2026, 10, 31)
# Roughly what collection teams see at the door.
DISPOSITION_WEIGHTS = {
    Disposition.ADDRESS_NOT_FOUND: 6,
    Disposition.NO_ANSWER: 30,
    Disposition.ACCESS_DENIED: 5,
    Disposition.THIRD_PARTY_MESSAGE: 15,
    Disposition.DEBTOR_MOVED: 3,
    Disposition.DEBTOR_DECEASED: 1,
    Disposition.REFUSED_TO_PAY: 6,
    Disposition.DISPUTE: 3,
    Disposition.NEGOTIATING: 8,
    Disposition.ALREADY_PAID: 3,
    Disposition.PROMISE_TO_PAY: 12,
    Disposition.PAYMENT_COLLECTED: 8,
}


class Loader:
    """Bulk rows into a table with the fastest plain path of each database."""

    def __init__(self) -> None:
        self.postgres = db.engine.dialect.name == "postgresql"

    def value(self, v: Any) -> Any:
        # SQLite stores what SQLAlchemy would: text dates/times (UTC, naive), cents as ints.
        if not self.postgres and isinstance(v, datetime):
            return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if not self.postgres and isinstance(v, date):
            return v.isoformat()
        return v

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        raw = db.engine.raw_connection()
        count = 0
        try:
            cursor = raw.cursor()
            if self.postgres:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            else:
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                chunk: list[tuple[Any, ...]] = []
                for row in rows:
                    chunk.append(tuple(self.value(v) for v in row))
                    if len(chunk) == 50_000:
                        cursor.executemany(sql, chunk)
                        count += len(chunk)
                        chunk = []
                if chunk:
                    cursor.executemany(sql, chunk)
                    count += len(chunk)
            raw.commit()
        finally:
            raw.close()
        return count


def generate(attempts: int, accounts: int, collectors: int, days: int, seed: int) -> dict[str, int]:
    """Fill an empty, migrated database; returns row counts per table."""
    rng = random.Random(seed)
    loader = Loader()
    now = datetime.now(UTC)
    zones = [
        Zone(name=f"Zona {z}", geometry={"type": "Polygon", "coordinates": []}) for z in range(10)
    ]
    portfolios = [Portfolio(code=f"P{p}", name=f"Cartera {p}") for p in range(3)]
    users = [
        User(username=f"c{c:03d}", full_name=f"Gestor {c}", role="collector", password_hash="x")
        for c in range(collectors)
    ]
    db.session.add_all([*zones, *portfolios, *users])
    db.session.flush()
    team = [
        Collector(user_id=u.id, code=f"C{c:03d}", full_name=u.full_name, start_lat=-12.0,
                  start_lon=-77.0, end_lat=-12.0, end_lon=-77.0)
        for c, u in enumerate(users)
    ]  # fmt: skip
    plan = RoutePlan(date=FIRST_DAY, status="published")
    db.session.add_all([*team, plan])
    db.session.flush()
    devices = [
        Device(id=f"dev-{c.id:05d}", collector_id=c.id, credential_hash=f"h{c.id:063d}",
               tracking_id=f"t{c.id}")
        for c in team
    ]  # fmt: skip
    snapshot_days = [FIRST_DAY - timedelta(days=1), MONTH.start - timedelta(days=1), MONTH.end]
    imports = [PortfolioImport(kind="accounts", as_of=d, file_format="csv") for d in snapshot_days]
    db.session.add_all([*devices, *imports])
    db.session.commit()
    zone_ids, collector_ids = [z.id for z in zones], [c.id for c in team]
    plan_id = plan.id

    counts: dict[str, int] = {}
    dpd = [rng.choice((0, 5, 20, 45, 75, 100, 150, 300)) for _ in range(accounts)]
    overdue = [rng.randint(10_00, 5_000_00) if d else 0 for d in dpd]
    counts["accounts"] = loader.load(
        "accounts",
        ["id", "portfolio_id", "external_id", "debtor_name", "phones", "address",
         "geocode_status", "currency", "balance", "overdue_balance", "days_past_due",
         "preferred_windows", "active", "created_at", "updated_at", "zone_id", "lat", "lon"],
        ((i + 1, portfolios[i % 3].id, f"A{i:07d}", "Deudor", "[]", "", "ok", "PEN",
          overdue[i] * 2, overdue[i], dpd[i], "[]", True, now, now,
          zone_ids[i % len(zone_ids)], -12.0, -77.0) for i in range(accounts)),
    )  # fmt: skip

    def snapshot_rows() -> Iterator[tuple[Any, ...]]:
        for imp, day in zip(imports, snapshot_days, strict=True):
            for i in range(accounts):
                moved = max(0, dpd[i] + rng.choice((-60, -30, 0, 0, 30, 30)))
                yield imp.id, i + 1, day, overdue[i] * 2, overdue[i], moved

    counts["account_snapshots"] = loader.load(
        "account_snapshots",
        ["import_id", "account_id", "as_of", "balance", "overdue_balance", "days_past_due"],
        snapshot_rows(),
    )

    per_collector = accounts // collectors
    dispositions = list(DISPOSITION_WEIGHTS)
    weights = list(DISPOSITION_WEIGHTS.values())
    visits: list[tuple[int, int, int, int, str]] = []  # collector, account, day, minute, disp
    for _ in range(attempts):
        c = rng.randrange(collectors)
        account = c + collectors * rng.randrange(per_collector) + 1
        visits.append(
            (c, account, rng.randrange(days), rng.randrange(8 * 60, 19 * 60),
             rng.choices(dispositions, weights)[0].value)
        )  # fmt: skip
    visits.sort(key=lambda v: (v[0], v[2], v[3]))

    def at(day: int, minute: int) -> datetime:
        local = datetime.combine(FIRST_DAY + timedelta(days=day), datetime.min.time(), LIMA)
        return (local + timedelta(minutes=minute)).astimezone(UTC)

    counts["visits"] = loader.load(
        "visits",
        ["id", "client_uuid", "account_id", "collector_id", "disposition", "checked_in_at",
         "received_at", "local_date", "lat", "lon", "distance_m", "geo_status", "flags",
         "created_at"],
        ((n + 1, f"{n:036d}", a, collector_ids[c], disp, at(d, m), at(d, m),
          FIRST_DAY + timedelta(days=d), -12.0, -77.0, float((n * 37) % 400), "verified",
          "[]", now) for n, (c, a, d, m, disp) in enumerate(visits)),
    )  # fmt: skip
    counts["photos"] = loader.load(
        "photos",
        ["account_id", "visit_id", "sha256", "size_bytes", "mime", "kind", "created_at"],
        ((a, n + 1, "0" * 64, 1000, "image/jpeg", "facade", now)
         for n, (_, a, _, _, _) in enumerate(visits) if n % 5 == 0),
    )  # fmt: skip
    seen: set[tuple[int, int, int]] = set()

    def assignment_rows() -> Iterator[tuple[Any, ...]]:
        for c, a, d, _, _ in visits:
            if (c, a, d) not in seen:
                seen.add((c, a, d))
                yield (
                    a,
                    collector_ids[c],
                    FIRST_DAY + timedelta(days=d),
                    plan_id,
                    "done",
                    False,
                    now,
                    now,
                )
        for _ in range(len(visits) // 10):  # planned stops nobody reached
            c, d = rng.randrange(collectors), rng.randrange(days)
            a = c + collectors * rng.randrange(per_collector) + 1
            if (c, a, d) not in seen:
                seen.add((c, a, d))
                yield (
                    a,
                    collector_ids[c],
                    FIRST_DAY + timedelta(days=d),
                    plan_id,
                    "active",
                    False,
                    now,
                    now,
                )

    counts["assignments"] = loader.load(
        "assignments",
        ["account_id", "collector_id", "date", "plan_id", "status", "locked", "created_at",
         "updated_at"],
        assignment_rows(),
    )  # fmt: skip
    seen.clear()

    promises: list[tuple[Any, ...]] = []
    installments: list[tuple[Any, ...]] = []
    payments: list[tuple[Any, ...]] = []
    for n, (c, a, d, m, disp) in enumerate(visits):
        day = FIRST_DAY + timedelta(days=d)
        if disp == "promise_to_pay":
            pid = len(promises) + 1
            amount = rng.randint(50_00, 800_00)
            due = day + timedelta(days=rng.randint(1, 10))
            last_due = due
            if pid % 5 == 0:  # an installment plan of three
                part = amount // 3
                for k in range(3):
                    installments.append((pid, k + 1, due + timedelta(days=14 * k), part))
                last_due, amount = due + timedelta(days=28), part * 3
            promises.append((pid, n + 1, a, collector_ids[c], at(d, m), day, "PEN", amount,
                             due, last_due))  # fmt: skip
            fate = rng.random()
            if fate < 0.7:  # paid (in full or in part, on time or a bit late)
                paid = amount if fate < 0.5 else amount // 2
                when = due + timedelta(days=rng.randint(-1, 3))
                payments.append((a, None, "imported", paid, "transfer", None,
                                 datetime.combine(when, datetime.min.time(), LIMA) + timedelta(hours=12),
                                 when, True))  # fmt: skip
        elif disp == "payment_collected":
            receipt = f"R{n:09d}"
            amount = rng.randint(20_00, 500_00)
            payments.append((a, collector_ids[c], "field", amount, "cash", receipt, at(d, m), day,
                             True))  # fmt: skip
            if n % 3 == 0:  # the creditor's import repeats it a few days later
                later = day + timedelta(days=3)
                payments.append((a, None, "imported", amount, "transfer", receipt,
                                 datetime.combine(later, datetime.min.time(), LIMA), later, False))  # fmt: skip
    counts["promises"] = loader.load(
        "promises",
        ["id", "visit_id", "account_id", "collector_id", "created_at", "local_date", "currency",
         "amount", "first_due_date", "last_due_date"],
        promises,
    )  # fmt: skip
    counts["promise_installments"] = loader.load(
        "promise_installments", ["promise_id", "seq", "due_date", "amount"], installments
    )
    counts["payments"] = loader.load(
        "payments",
        ["account_id", "collector_id", "source", "amount", "method", "receipt_number", "paid_at",
         "local_date", "counted", "currency", "created_at"],
        ((*p, "PEN", now) for p in payments),
    )  # fmt: skip

    def fixes() -> Iterator[tuple[Any, ...]]:
        for c in range(collectors):
            for d in range(days):
                for k in range(20):
                    moment = at(d, 8 * 60 + 30 * k)
                    yield (devices[c].id, collector_ids[c], moment, moment,
                           FIRST_DAY + timedelta(days=d), -12.0, -77.0, False, 350.0,
                           zone_ids[c % len(zone_ids)])  # fmt: skip

    counts["positions"] = loader.load(
        "positions",
        ["device_id", "collector_id", "fix_time", "server_time", "local_date", "lat", "lon",
         "mock", "distance_m", "zone_id"],
        fixes(),
    )  # fmt: skip
    if loader.postgres:
        for table in counts:
            db.session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                     f"(SELECT coalesce(max(id), 1) FROM {table}))")
            )  # fmt: skip
        db.session.execute(text("ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
    db.session.commit()
    return counts


def median_time(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    return median_times(run, repeat)[::2]


def median_times(run: Callable[[], Any], repeat: int) -> tuple[float, Any, float]:
    """Median wall time, last result, median CPU time of this process (on SQLite the
    database works in-process, so that is all the work; it shows through a busy machine)."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        db.session.rollback()
    return statistics.median(times), result, statistics.median(cpu)


def month_report(rollups: bool = True) -> int:
    query = ReportQuery(MONTH, AS_OF, (GroupKey.COLLECTOR, GroupKey.DAY))
    return sum(1 for _ in build_report(query, rollups=rollups))


def peer_promises_judged_in_python() -> int:
    """The previous report's promise pass: every promise of the accounts with a promise in
    the month judged per account in Python (kpi), as each report used to do."""
    accounts = db.session.execute(
        select(PromiseToPay.account_id)
        .where(PromiseToPay.local_date >= MONTH.start, PromiseToPay.local_date < MONTH.end)
        .distinct()
    ).scalars()
    return refresh_promise_spans(db.session.connection(), list(accounts))


def peer_funnel_in_python() -> int:
    """The funnel alone, by loading the month's attempts into Python and counting there."""
    counts: Counter[tuple[int, date, str]] = Counter()
    rows = db.session.execute(
        select(Visit.collector_id, Visit.local_date, Visit.disposition).where(
            Visit.local_date >= MONTH.start, Visit.local_date < MONTH.end
        )
    )
    for row in rows:
        counts[tuple(row)] += 1  # type: ignore[index]
    return len({(c, d) for c, d, _ in counts})


def csv_peak(period: Period) -> tuple[int, int]:
    """(rows, peak traced bytes) while streaming the CSV of a collector x day report."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    lines = 0
    for _chunk in report_csv(
        build_report(ReportQuery(period, AS_OF, (GroupKey.COLLECTOR, GroupKey.DAY))),
        (GroupKey.COLLECTOR, GroupKey.DAY),
    ):
        lines += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    db.session.rollback()
    return lines - 1, peak


def materialized_peak(period: Period) -> tuple[int, int]:
    """Peer of the CSV export: the same report first collected into a list of row dicts."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    rows = [
        row.as_dict()
        for row in build_report(ReportQuery(period, AS_OF, (GroupKey.COLLECTOR, GroupKey.DAY)))
    ]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    db.session.rollback()
    return len(rows) - 1, peak


def bench(url: str, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        if url == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": tmp,
                          "SECRET_KEY": "bench"})  # fmt: skip
        name = "PostgreSQL" if url.startswith("postgres") else "SQLite"
        with app.app_context():
            if name == "PostgreSQL":
                db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                db.session.commit()
            upgrade()
            start = time.perf_counter()
            counts = generate(args.attempts, args.accounts, args.collectors, args.days, args.seed)
            load_s = time.perf_counter() - start
            rows_total = sum(counts.values())
            print(f"{name}: loaded {rows_total:,} rows in {load_s:.1f} s "
                  f"({counts['visits']:,} attempts, {counts['promises']:,} promises, "
                  f"{counts['payments']:,} payments)", flush=True)  # fmt: skip
            start = time.perf_counter()
            rebuild_kpi_state()
            db.session.commit()
            backfill_s = time.perf_counter() - start
            load = os.getloadavg()[0]
            report_s, groups, report_cpu = median_times(month_report, args.repeat)
            events_s, _ = median_time(lambda: month_report(rollups=False), args.repeat)
            judge_s, _ = median_time(peer_promises_judged_in_python, args.repeat)
            peer_s, _ = median_time(peer_funnel_in_python, args.repeat)
            load = max(load, os.getloadavg()[0])
            eff_s, _ = median_time(lambda: build_effectiveness(MONTH.start, MONTH.end), args.repeat)
            week = Period(MONTH.start, MONTH.start + timedelta(days=7))
            quarter = Period(FIRST_DAY, FIRST_DAY + timedelta(days=args.days))
            peaks = [(label, *csv_peak(p)) for label, p in
                     (("1 week", week), ("1 month", MONTH), ("90 days", quarter))]  # fmt: skip
            peer_rows, peer_peak = materialized_peak(quarter)
            db.session.remove()
            db.engine.dispose()
    out = [
        (name, f"report 1 month by collector,day ({groups - 1:,} groups)", f"{report_s:.2f} s"),
        (name, "  the same, CPU time of this process", f"{report_cpu:.2f} s"),
        (name, "peer: same report from the event tables", f"{events_s:.2f} s"),
        (name, "peer: previous promise pass, judged in Python", f"{judge_s:.2f} s"),
        (name, "peer: funnel only, rows loaded into Python", f"{peer_s:.2f} s"),
        (name, "one-off: rollups for the bulk-loaded events", f"{backfill_s:.1f} s"),
        (name, "load average (1 min) while measuring, max", f"{load:.2f}"),
        (name, f"effectiveness over {args.accounts:,} accounts", f"{eff_s:.2f} s"),
    ]
    for label, rows, peak in peaks:
        out.append((name, f"CSV export {label} ({rows:,} rows): peak traced memory",
                    f"{peak / 1024:.0f} KiB"))  # fmt: skip
    out.append((name, f"peer: 90 days collected in a list ({peer_rows:,} rows): peak",
                f"{peer_peak / 1024:.0f} KiB"))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--collectors", type=int, default=200)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--database-url", action="append", dest="urls",
                        help="'sqlite' (a temporary file) or a PostgreSQL URL; repeatable")  # fmt: skip
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    for url in args.urls or ["sqlite"]:
        rows += bench(url, args)
    width = max(len(r[1]) for r in rows)
    print(f"\n{'database':<11} {'measurement':<{width}} {'median':>10}")
    for database, what, value in rows:
        print(f"{database:<11} {what:<{width}} {value:>10}")


if __name__ == "__main__":
    main()
