"""Field productivity reports on the shared KPI model (kpi/), aggregated by the database.

Every measure is a SQL GROUP BY over one event table (attempts, promises, payments,
assignments, GPS fixes); each source's groups come out ordered by the group keys and are
merged in one pass (a k-way merge), so a report streams with memory that does not grow with
its rows. The ratios and their null-for-zero-denominator rule come from ``kpi.measures``.

Attribution (what "the group's accounts" means), chosen so that every event lands in exactly
one group and the total row is the sum of its groups for counts and amounts:

* attempts, check-in hours, GPS distance: the visit's (fix's) collector and local day;
* promises: the collector and local day of the attempt that made them, judged as of ``as_of``;
* field payments: their collector and local day; imported payments: the collector the account
  was last assigned to on or before the payment's day (none when it never was);
* zone, portfolio and bucket are the account's; the bucket is its days-past-due bucket at the
  period's start (latest snapshot on or before ``from``, else the account's current values);
* accounts_assigned, penetration, plan completion and the recovery-rate denominator come from
  assignments; an assignment counts as attempted when its collector attempted the account on
  that day. These distinct counts are recomputed for the total row rather than added.
* GPS fixes have no account, so ``km_travelled`` is null in rows grouped by portfolio or bucket
  (the total row still has it).

Promise status needs per-promise payment matching (oldest open promise first), a sequential
rule SQL expresses only with recursive queries that differ between SQLite and PostgreSQL. It is
done in Python with ``kpi.status_spans`` when the account's promises or payments are written,
not when a report runs: each promise gets one row per status it takes as ``as_of`` moves on,
and a report joins the row holding its ``as_of`` (exact for any ``as_of``; see kpi/promises.py).

Reports whose keys are only collector and time (day, week, month) read rollups kept beside the
events (see "The materialised KPI state" below): attempts, photos, check-in hours and field
payments per collector-day; with both collector and day among the keys, the assignments too
(distinct accounts, plan completion, and the overdue balance at each account's latest snapshot
on or before the day, used where that is the snapshot at the period's start). Other keys, and
``build_report(..., rollups=False)``, read the event tables: assignment rows (one per group
and account) are then written once to a temporary table that serves both the grouped sums and
the total's distinct counts. The property tests hold both paths equal.
"""

from __future__ import annotations

import csv
import functools
import heapq
import io
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    Table,
    and_,
    bindparam,
    case,
    delete,
    event,
    exists,
    func,
    insert,
    inspect,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from kpi import (
    BUCKETS,
    MEASURE_NAMES,
    MODEL_VERSION,
    FunnelLevel,
    GroupKey,
    GroupTotals,
    Installment,
    Movement,
    Period,
    Promise,
    PromiseRules,
    PromiseStatus,
    Tally,
    compute_measures,
    dispositions_reaching,
    model_document,
    month_label,
    status_spans,
    summarize,
)
from kpi import Payment as PaymentEvent
from kpi.effectiveness import movement_of_ranks
from server.auth import current_collector, current_user
from server.errors import ProblemError
from server.extensions import db
from server.models import (
    Account,
    AccountSnapshot,
    AgencySettings,
    Assignment,
    Collector,
    CollectorDayActivity,
    CollectorDayAssignments,
    ImportedPaymentsDay,
    Payment,
    Photo,
    Portfolio,
    Position,
    PromiseInstallment,
    PromiseStatusSpan,
    PromiseToPay,
    Role,
    Visit,
    Zone,
)
from server.models.types import CENT, Money, utcnow
from server.services import audit
from server.services.settings import get_settings, local_date_of, local_midnight_utc

# ---------------------------------------------------------------------------------------------
# Dialect-specific date arithmetic. Keys are dates (a week is its Monday, a month its first
# day) so both databases and Python sort them the same way; labels are made in Python.


class week_start(FunctionElement[Any]):
    """The Monday of the ISO week holding a date."""

    type = Date()
    inherit_cache = True


class month_start(FunctionElement[Any]):
    """The first day of the month holding a date."""

    type = Date()
    inherit_cache = True


class seconds_between(FunctionElement[Any]):
    """Seconds from the first timestamp argument to the second."""

    type = Float()
    inherit_cache = True


def _args(element: FunctionElement[Any], compiler: Any, **kw: Any) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(week_start)
def _week_start_postgres(element: week_start, compiler: Any, **kw: Any) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"CAST(date_trunc('week', {day}) AS DATE)"


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler: Any, **kw: Any) -> str:
    (day,) = _args(element, compiler, **kw)
    # 'weekday 0' moves to the next Sunday (or stays on one); six days back is its Monday.
    return f"date({day}, 'weekday 0', '-6 days')"


@compiles(month_start)
def _month_start_postgres(element: month_start, compiler: Any, **kw: Any) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"CAST(date_trunc('month', {day}) AS DATE)"


@compiles(month_start, "sqlite")
def _month_start_sqlite(element: month_start, compiler: Any, **kw: Any) -> str:
    (day,) = _args(element, compiler, **kw)
    return f"date({day}, 'start of month')"


@compiles(seconds_between)
def _seconds_postgres(element: seconds_between, compiler: Any, **kw: Any) -> str:
    first, last = _args(element, compiler, **kw)
    return f"EXTRACT(EPOCH FROM ({last} - {first}))"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    first, last = _args(element, compiler, **kw)
    return f"((julianday({last}) - julianday({first})) * 86400.0)"


# ---------------------------------------------------------------------------------------------
# The temporary table the assignment pass writes to (per connection, never migrated).

_temp_metadata = MetaData()
_DATE_KEYS = (GroupKey.DAY, GroupKey.WEEK, GroupKey.MONTH)
assignment_rows = Table(
    "kpi_assignment_rows",
    _temp_metadata,
    # One column per possible group key; a report fills the ones it groups by.
    *[Column(key.value, Date if key in _DATE_KEYS else BigInteger) for key in GroupKey],
    Column("account_id", BigInteger, nullable=False),
    Column("attempted", Integer, nullable=False),
    Column("planned", Integer, nullable=False),
    Column("planned_attempted", Integer, nullable=False),
    Column("overdue", Money),
    prefixes=["TEMPORARY"],
)


# ---------------------------------------------------------------------------------------------
# Queries and results.


@dataclass(frozen=True)
class ReportQuery:
    """What a report covers: local days ``[from, to)``, promise judgement date, grouping.

    ``collector_id`` restricts every source to one collector (a collector's own view).
    """

    period: Period
    as_of: date
    group_by: tuple[GroupKey, ...]
    collector_id: int | None = None


@dataclass(frozen=True)
class ReportRow:
    """One group (or the total): its labelled keys and every measure of the model."""

    keys: dict[str, Any]
    measures: dict[str, Any]
    is_total: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**self.keys, **self.measures}


def key_columns(group_by: Iterable[GroupKey]) -> list[str]:
    """Column names of the group keys (ids beside the readable label where there is one)."""
    columns: list[str] = []
    for key in group_by:
        if key in (GroupKey.COLLECTOR, GroupKey.ZONE, GroupKey.PORTFOLIO):
            columns.append(f"{key.value}_id")
        columns.append(key.value)
    return columns


def report_columns(group_by: Iterable[GroupKey]) -> list[str]:
    """Every column of a report, in order: row type, group keys, then the measures."""
    return ["row_type", *key_columns(group_by), *MEASURE_NAMES]


# ---------------------------------------------------------------------------------------------
# Building blocks shared by the sources.

# SQLAlchemy's expression generics (InstrumentedAttribute vs ColumnElement vs Select[...])
# cost more annotations than they catch here; the SQL is exercised by the tests instead.
SqlExpr = Any
SqlSelect = Any
_SortKey = tuple[tuple[bool, Any], ...]
_Partial = dict[str, Any]


def _sort_key(values: Iterable[Any]) -> _SortKey:
    # Mirrors ORDER BY ... NULLS FIRST on every key.
    return tuple((v is not None, v if v is not None else 0) for v in values)


def _count_if(condition: SqlExpr) -> SqlExpr:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _sum_money(expr: SqlExpr) -> SqlExpr:
    return type_coerce(func.coalesce(func.sum(expr), 0), Money())


def _bucket_rank(days_past_due: SqlExpr) -> SqlExpr:
    """0 for current, then 1..5 following kpi.BUCKETS."""
    whens: list[tuple[SqlExpr, int]] = [(days_past_due <= 0, 0)]
    whens += [(days_past_due <= b.high, b.rank) for b in BUCKETS if b.high is not None]
    return case(*whens, else_=BUCKETS[-1].rank)


def _snapshot_on_or_before(day: date, after: date | None = None) -> Any:
    """Per account, the id of its latest snapshot dated ``(after, day]``."""
    conditions = [AccountSnapshot.as_of <= day]
    if after is not None:
        conditions.append(AccountSnapshot.as_of > after)
    latest_day = (
        select(
            AccountSnapshot.account_id.label("account_id"),
            func.max(AccountSnapshot.as_of).label("as_of"),
        )
        .where(*conditions)
        .group_by(AccountSnapshot.account_id)
        .subquery()
    )
    return (
        select(
            AccountSnapshot.account_id.label("account_id"),
            func.max(AccountSnapshot.id).label("snapshot_id"),
        )
        .join(
            latest_day,
            and_(
                AccountSnapshot.account_id == latest_day.c.account_id,
                AccountSnapshot.as_of == latest_day.c.as_of,
            ),
        )
        .group_by(AccountSnapshot.account_id)
        .subquery()
    )


def countable_payment(pay: Any = Payment) -> SqlExpr:
    """A payment that counts: not an import repeating a field receipt (in either order)."""
    field = aliased(Payment)
    repeated = exists().where(
        field.receipt_number == pay.receipt_number,
        field.source == "field",
        field.id != pay.id,
    )
    return and_(
        pay.counted.is_(True),
        or_(pay.source != "imported", pay.receipt_number.is_(None), ~repeated),
    )


@dataclass
class _Context:
    """Everything the sources share for one report."""

    query: ReportQuery
    rules: PromiseRules
    verify_radius_m: float
    # False: every measure from the event tables (the reference the rollups must equal).
    rollups: bool = True

    @property
    def start(self) -> date:
        return self.query.period.start

    @property
    def end(self) -> date:
        return self.query.period.end

    def needs_account(self, keys: Iterable[GroupKey]) -> bool:
        return any(k in (GroupKey.ZONE, GroupKey.PORTFOLIO, GroupKey.BUCKET) for k in keys)


class _AccountDims:
    """Zone, portfolio and start bucket of an account, joined only when a key needs them."""

    def __init__(self, ctx: _Context, keys: tuple[GroupKey, ...], with_overdue: bool = False):
        self.account = aliased(Account)
        self.snapshot = aliased(AccountSnapshot)
        self.needs_snapshot = GroupKey.BUCKET in keys or with_overdue
        self.needed = ctx.needs_account(keys) or with_overdue
        self.latest = _snapshot_on_or_before(ctx.start) if self.needs_snapshot else None

    def join(self, stmt: SqlSelect, account_id: SqlExpr) -> SqlSelect:
        if not self.needed:
            return stmt
        stmt = stmt.join(self.account, self.account.id == account_id)
        if self.latest is not None:
            stmt = stmt.outerjoin(self.latest, self.latest.c.account_id == self.account.id)
            stmt = stmt.outerjoin(self.snapshot, self.snapshot.id == self.latest.c.snapshot_id)
        return stmt

    def dims(self) -> dict[GroupKey, SqlExpr]:
        a, s = self.account, self.snapshot
        dims: dict[GroupKey, SqlExpr] = {
            GroupKey.ZONE: a.zone_id,
            GroupKey.PORTFOLIO: a.portfolio_id,
        }
        if self.needs_snapshot:
            dims[GroupKey.BUCKET] = _bucket_rank(func.coalesce(s.days_past_due, a.days_past_due))
        return dims

    def overdue_at_start(self) -> SqlExpr:
        return func.coalesce(self.snapshot.overdue_balance, self.account.overdue_balance)


def _time_dims(day: SqlExpr) -> dict[GroupKey, SqlExpr]:
    return {GroupKey.DAY: day, GroupKey.WEEK: week_start(day), GroupKey.MONTH: month_start(day)}


def _key_refs(count: int) -> list[SqlExpr]:
    # GROUP BY / ORDER BY the output labels: PostgreSQL would not match a repeated expression
    # that carries bound parameters (bucket bounds, the owner subquery) to its select item.
    return [literal_column(f"k{i}") for i in range(count)]


def _group_and_order(stmt: SqlSelect, count: int) -> SqlSelect:
    refs = _key_refs(count)
    if refs:
        stmt = stmt.group_by(*refs).order_by(*[r.asc().nulls_first() for r in refs])
    return stmt


def _grouped(
    stmt: SqlSelect, dims: Mapping[GroupKey, SqlExpr], keys: tuple[GroupKey, ...]
) -> SqlSelect:
    """Add the key columns k0..kn after the measures, GROUP BY and ORDER BY them (nulls first)."""
    stmt = stmt.add_columns(*[dims[k].label(f"k{i}") for i, k in enumerate(keys)])
    return _group_and_order(stmt, len(keys))


def _tune_for_reports() -> None:
    """PostgreSQL's JIT compiles these wide aggregate queries for seconds before running them
    in milliseconds; turn it off for the report's transaction only."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))
        # The per-account aggregates of a month (~100,000 groups) spill to disk at the 4 MB
        # default; keep them in memory for the report's transaction.
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))


def _core(stmt: SqlSelect) -> Any:
    """Run a column query on the session's connection, skipping the ORM's row processing
    (a report reads plain tuples; the ORM layer costs more than the query on big scans)."""
    return db.session.connection().execute(stmt)


def _stream(stmt: SqlSelect, keys: tuple[GroupKey, ...], names: list[str]) -> Iterator[Any]:
    """Yield (sort key, raw keys, partial totals) for each group row of ``stmt``."""
    n = len(keys)
    result = _core(stmt.execution_options(yield_per=2000))
    try:
        for row in result:
            values = tuple(row)
            measures, raw = values[: len(names)], values[len(names) : len(names) + n]
            yield _sort_key(raw), raw, dict(zip(names, measures, strict=True))
    finally:
        # Server-side cursors (PostgreSQL) must be closed even when a client stops reading.
        result.close()


def _select(**columns: SqlExpr) -> tuple[SqlSelect, list[str]]:
    return select(*[c.label(n) for n, c in columns.items()]), list(columns)


# ---------------------------------------------------------------------------------------------
# The sources. Each returns None when it cannot be attributed to the requested keys.


def _visits_source(ctx: _Context, keys: tuple[GroupKey, ...]) -> Iterator[Any]:
    """Funnel, geo, evidence and check-in hours from one scan of the period's attempts.

    The inner query groups by (keys, collector, day) so each collector-day's first and last
    check-in are at hand; the outer one adds those rows up per group.
    """
    v = Visit
    acc = _AccountDims(ctx, keys)

    def reaching(level: FunnelLevel) -> SqlExpr:
        return _count_if(v.disposition.in_(sorted(dispositions_reaching(level))))

    counts = {
        "attempts": func.count(),
        "connections": reaching(FunnelLevel.CONNECTION),
        "contacts": reaching(FunnelLevel.CONTACT),
        "direct_contacts": reaching(FunnelLevel.DIRECT_CONTACT),
        "promises": reaching(FunnelLevel.PROMISE),
        "attempts_with_position": _count_if(v.lat.is_not(None)),
        "attempts_geo_verified": _count_if(
            and_(v.lat.is_not(None), v.distance_m <= ctx.verify_radius_m)
        ),
        "attempts_with_photo": _count_if(exists().where(Photo.visit_id == v.id)),
    }
    dims = {GroupKey.COLLECTOR: v.collector_id, **_time_dims(v.local_date), **acc.dims()}
    inner = acc.join(
        select(
            *[expr.label(name) for name, expr in counts.items()],
            func.min(v.checked_in_at).label("first_at"),
            func.max(v.checked_in_at).label("last_at"),
            *[dims[k].label(f"k{i}") for i, k in enumerate(keys)],
        ).select_from(v),
        v.account_id,
    ).where(v.disposition.is_not(None), v.local_date >= ctx.start, v.local_date < ctx.end)
    if ctx.query.collector_id is not None:
        inner = inner.where(v.collector_id == ctx.query.collector_id)
    day_rows = inner.group_by(*_key_refs(len(keys)), v.collector_id, v.local_date).subquery()
    stmt, names = _select(
        **{name: func.coalesce(func.sum(day_rows.c[name]), 0) for name in counts},
        field_seconds=func.coalesce(
            func.sum(seconds_between(day_rows.c.first_at, day_rows.c.last_at)), 0
        ),
    )
    stmt = stmt.select_from(day_rows).add_columns(
        *[day_rows.c[f"k{i}"].label(f"k{i}") for i in range(len(keys))]
    )
    for sort_key, raw, partial in _stream(_group_and_order(stmt, len(keys)), keys, names):
        partial["field_seconds"] = round(float(partial["field_seconds"]))
        yield sort_key, raw, partial


def _promises_source(ctx: _Context, keys: tuple[GroupKey, ...]) -> Iterator[Any] | None:
    """Promises made in the period, judged as of ``as_of`` by the status span holding it."""
    p, span = PromiseToPay, PromiseStatusSpan
    acc = _AccountDims(ctx, keys)
    as_of = ctx.query.as_of

    def status_is(*statuses: PromiseStatus) -> SqlExpr:
        return span.status.in_([s.value for s in statuses])

    stmt, names = _select(
        promises_due=_count_if(span.status.is_not(None)),
        promises_kept=_count_if(status_is(PromiseStatus.KEPT)),
        promises_partially_kept=_count_if(status_is(PromiseStatus.PARTIALLY_KEPT)),
        promises_broken=_count_if(status_is(PromiseStatus.BROKEN)),
        amount_promised=_sum_money(p.amount),
        amount_kept=_sum_money(
            case(
                (status_is(PromiseStatus.KEPT, PromiseStatus.PARTIALLY_KEPT), span.amount_matched),
                else_=0,
            )
        ),
    )
    # No span holding as_of: pending. Promises made after as_of are not known yet.
    holding = and_(
        span.promise_id == p.id,
        span.judged_from <= as_of,
        or_(span.judged_until.is_(None), span.judged_until > as_of),
    )
    stmt = stmt.select_from(p).outerjoin(span, holding)
    stmt = acc.join(stmt, p.account_id).where(
        p.local_date >= ctx.start, p.local_date < ctx.end, p.local_date <= as_of
    )
    if ctx.query.collector_id is not None:
        stmt = stmt.where(p.collector_id == ctx.query.collector_id)
    dims = {GroupKey.COLLECTOR: p.collector_id, **_time_dims(p.local_date), **acc.dims()}
    return _stream(_grouped(stmt, dims, keys), keys, names)


def payment_owner(pay: Any = Payment) -> SqlExpr:
    """The collector a payment is attributed to (see the module docstring)."""
    last_assigned = (
        select(Assignment.collector_id)
        .where(
            Assignment.account_id == pay.account_id,
            Assignment.date <= pay.local_date,
            Assignment.status != "removed",
        )
        .order_by(Assignment.date.desc(), Assignment.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return case((pay.source == "field", pay.collector_id), else_=last_assigned)


def _payments_source(ctx: _Context, keys: tuple[GroupKey, ...]) -> Iterator[Any] | None:
    pay = Payment
    acc = _AccountDims(ctx, keys)
    owner = payment_owner(pay)
    stmt, names = _select(
        amount_collected_field=_sum_money(case((pay.source == "field", pay.amount), else_=0)),
        amount_recovered=_sum_money(pay.amount),
    )
    stmt = acc.join(stmt.select_from(pay), pay.account_id).where(
        pay.local_date >= ctx.start, pay.local_date < ctx.end, countable_payment(pay)
    )
    if ctx.query.collector_id is not None:
        stmt = stmt.where(owner == ctx.query.collector_id)
    dims = {GroupKey.COLLECTOR: owner, **_time_dims(pay.local_date), **acc.dims()}
    return _stream(_grouped(stmt, dims, keys), keys, names)


def _activity_source(ctx: _Context, keys: tuple[GroupKey, ...]) -> Iterator[Any]:
    """Attempts, hours and field payments from the collector-day rollup."""
    act = CollectorDayActivity
    counts = {name: func.coalesce(func.sum(act.__table__.c[name]), 0) for name in _ACTIVITY_COUNTS}
    stmt, names = _select(
        **counts,
        field_seconds=func.coalesce(func.sum(act.field_seconds), 0.0),
        amount_collected_field=_sum_money(act.amount_collected_field),
        amount_recovered=_sum_money(act.amount_collected_field),
    )
    stmt = stmt.select_from(act).where(act.local_date >= ctx.start, act.local_date < ctx.end)
    if ctx.query.collector_id is not None:
        stmt = stmt.where(act.collector_id == ctx.query.collector_id)
    dims = {GroupKey.COLLECTOR: act.collector_id, **_time_dims(act.local_date)}
    for sort_key, raw, partial in _stream(_grouped(stmt, dims, keys), keys, names):
        partial["field_seconds"] = round(float(partial["field_seconds"]))
        yield sort_key, raw, partial


def fill_assignment_rows(ctx: _Context, keys: tuple[GroupKey, ...]) -> None:
    """Write one row per (group, assigned account) to a temporary table.

    Joining each assigned account's overdue balance at period start is the costly part; doing
    it once here serves both the grouped sums and the total row's distinct counts, which are
    then plain scans of the temp table.
    """
    _temp_metadata.create_all(db.session.connection(), checkfirst=True)
    db.session.execute(delete(assignment_rows))
    a = Assignment
    acc = _AccountDims(ctx, keys, with_overdue=True)
    attempted = a.attempted.is_(True)
    planned = a.plan_id.is_not(None)
    dims = {GroupKey.COLLECTOR: a.collector_id, **_time_dims(a.date), **acc.dims()}
    per_account = acc.join(
        select(
            *[dims[k].label(f"k{i}") for i, k in enumerate(keys)],
            a.account_id,
            func.max(case((attempted, 1), else_=0)).label("attempted"),
            _count_if(planned).label("planned"),
            _count_if(and_(planned, attempted)).label("planned_attempted"),
            func.max(acc.overdue_at_start()).label("overdue"),
        ).select_from(a),
        a.account_id,
    ).where(a.date >= ctx.start, a.date < ctx.end, a.status != "removed")
    if ctx.query.collector_id is not None:
        per_account = per_account.where(a.collector_id == ctx.query.collector_id)
    per_account = per_account.group_by(*_key_refs(len(keys)), a.account_id)
    targets = [key.value for key in keys]
    targets += ["account_id", "attempted", "planned", "planned_attempted", "overdue"]
    db.session.execute(insert(assignment_rows).from_select(targets, per_account))


def _assignment_sums(rows: Any) -> dict[str, SqlExpr]:
    return {
        "accounts_assigned": func.count(),
        "accounts_attempted": func.coalesce(func.sum(rows.c.attempted), 0),
        "planned_stops": func.coalesce(func.sum(rows.c.planned), 0),
        "planned_stops_attempted": func.coalesce(func.sum(rows.c.planned_attempted), 0),
        "overdue_at_start": _sum_money(rows.c.overdue),
    }


def _assignments_source(ctx: _Context, keys: tuple[GroupKey, ...]) -> Iterator[Any]:
    """Distinct accounts assigned/attempted, planned stops and overdue balance at period start,
    per group, from the rows ``fill_assignment_rows`` wrote for the same keys."""
    rows = assignment_rows
    stmt, names = _select(**_assignment_sums(rows))
    stmt = stmt.select_from(rows).add_columns(
        *[rows.c[key.value].label(f"k{i}") for i, key in enumerate(keys)]
    )
    return _stream(_group_and_order(stmt, len(keys)), keys, names)


def _assignments_total() -> dict[str, Any]:
    """The same sums over distinct accounts, whatever groups the rows were written for."""
    rows = assignment_rows.c
    per_account = (
        select(
            func.max(rows.attempted).label("attempted"),
            func.sum(rows.planned).label("planned"),
            func.sum(rows.planned_attempted).label("planned_attempted"),
            func.max(rows.overdue).label("overdue"),
        )
        .group_by(rows.account_id)
        .subquery()
    )
    stmt, names = _select(**_assignment_sums(per_account))
    return dict(zip(names, _core(stmt.select_from(per_account)).one(), strict=True))


def _positions_source(ctx: _Context, keys: tuple[GroupKey, ...]) -> Iterator[Any] | None:
    if GroupKey.PORTFOLIO in keys or GroupKey.BUCKET in keys:
        return None
    pos = Position
    stmt, names = _select(distance_m=func.coalesce(func.sum(pos.distance_m), 0.0))
    # The fix-time bounds (a day of slack either side of the local days) let the database
    # use the (collector, fix_time) index; local_date then cuts exactly.
    stmt = stmt.select_from(pos).where(
        pos.filter_reason.is_(None),
        pos.fix_time >= local_midnight_utc(ctx.start - timedelta(days=1)),
        pos.fix_time < local_midnight_utc(ctx.end + timedelta(days=1)),
        pos.local_date >= ctx.start,
        pos.local_date < ctx.end,
    )
    if ctx.query.collector_id is not None:
        stmt = stmt.where(pos.collector_id == ctx.query.collector_id)
    dims = {GroupKey.COLLECTOR: pos.collector_id, GroupKey.ZONE: pos.zone_id}
    dims.update(_time_dims(pos.local_date))
    return _stream(_grouped(stmt, dims, keys), keys, names)


def _day_rollup(ctx: _Context, keys: Iterable[GroupKey]) -> bool:
    """Whether every group is one collector-day, so the assignment rollup's distinct counts
    are the group's."""
    chosen = set(keys)
    return ctx.rollups and {GroupKey.COLLECTOR, GroupKey.DAY} <= chosen <= _ROLLUP_KEYS


def _overdue_covered(ctx: _Context) -> SqlExpr:
    """Rollup rows whose overdue balance is the one at the report's start (see the model)."""
    t = CollectorDayAssignments
    latest_day = db.session.execute(
        select(func.max(AccountSnapshot.as_of)).where(AccountSnapshot.as_of <= ctx.start)
    ).scalar()
    return and_(t.overdue_as_of.is_not_distinct_from(latest_day), t.accounts_without_snapshot == 0)


def _assignment_days_source(ctx: _Context, keys: tuple[GroupKey, ...]) -> Iterator[Any]:
    """Assigned and attempted accounts, planned stops and (where it holds) the overdue balance
    at period start, from the collector-day assignment rollup."""
    t = CollectorDayAssignments
    covered = _overdue_covered(ctx)
    stmt, names = _select(
        accounts_assigned=func.coalesce(func.sum(t.accounts_assigned), 0),
        accounts_attempted=func.coalesce(func.sum(t.accounts_attempted), 0),
        planned_stops=func.coalesce(func.sum(t.planned_stops), 0),
        planned_stops_attempted=func.coalesce(func.sum(t.planned_stops_attempted), 0),
        overdue_at_start=_sum_money(case((covered, t.overdue_at_start), else_=0)),
    )
    stmt = stmt.select_from(t).where(t.local_date >= ctx.start, t.local_date < ctx.end)
    if ctx.query.collector_id is not None:
        stmt = stmt.where(t.collector_id == ctx.query.collector_id)
    dims = {GroupKey.COLLECTOR: t.collector_id, **_time_dims(t.local_date)}
    return _stream(_grouped(stmt, dims, keys), keys, names)


def _uncovered_overdue_source(ctx: _Context, keys: tuple[GroupKey, ...]) -> Iterator[Any] | None:
    """The overdue balance at period start of the collector-days the rollup cannot answer
    (a snapshot inside the period, or accounts without one), from the assignments."""
    t, a = CollectorDayAssignments, Assignment
    uncovered = select(t.local_date, t.collector_id).where(
        t.local_date >= ctx.start, t.local_date < ctx.end, ~_overdue_covered(ctx)
    )
    if ctx.query.collector_id is not None:
        uncovered = uncovered.where(t.collector_id == ctx.query.collector_id)
    if db.session.execute(uncovered.limit(1)).first() is None:
        return None
    acc = _AccountDims(ctx, keys, with_overdue=True)
    dims = {GroupKey.COLLECTOR: a.collector_id, **_time_dims(a.date)}
    per_account = (
        acc.join(
            select(
                *[dims[k].label(f"k{i}") for i, k in enumerate(keys)],
                func.max(acc.overdue_at_start()).label("overdue"),
            ).select_from(a),
            a.account_id,
        )
        .where(a.status != "removed", tuple_(a.date, a.collector_id).in_(uncovered))
        .group_by(*_key_refs(len(keys)), a.account_id)
        .subquery()
    )
    stmt, names = _select(overdue_at_start=_sum_money(per_account.c.overdue))
    stmt = stmt.select_from(per_account).add_columns(
        *[per_account.c[f"k{i}"].label(f"k{i}") for i in range(len(keys))]
    )
    return _stream(_group_and_order(stmt, len(keys)), keys, names)


def _assignments_period_total(ctx: _Context) -> dict[str, Any]:
    """Distinct accounts assigned and attempted in the period, planned stops, and the
    distinct accounts' overdue balance at period start, straight from the assignments."""
    a, snap, account = Assignment, aliased(AccountSnapshot), aliased(Account)
    planned = a.plan_id.is_not(None)
    per_account = select(
        a.account_id.label("account_id"),
        func.max(case((a.attempted.is_(True), 1), else_=0)).label("attempted"),
        _count_if(planned).label("planned"),
        _count_if(and_(planned, a.attempted.is_(True))).label("planned_attempted"),
    ).where(a.date >= ctx.start, a.date < ctx.end, a.status != "removed")
    if ctx.query.collector_id is not None:
        per_account = per_account.where(a.collector_id == ctx.query.collector_id)
    rows = per_account.group_by(a.account_id).subquery()
    source: Any
    if db.session.get_bind().dialect.name == "postgresql":
        # One sorted pass (DISTINCT ON) and hash joins beat 100,000 correlated lookups.
        latest = (
            select(snap.account_id, snap.overdue_balance)
            .where(snap.as_of <= ctx.start)
            .ext(distinct_on(snap.account_id))
            .order_by(snap.account_id, snap.as_of.desc(), snap.id.desc())
            .subquery()
        )
        source = rows.join(account, account.id == rows.c.account_id).outerjoin(
            latest, latest.c.account_id == rows.c.account_id
        )
        overdue = func.coalesce(latest.c.overdue_balance, account.overdue_balance)
    else:
        # SQLite joins by nested loops: one index lookup per account is the cheap plan.
        at_start = (
            select(_cents(snap.overdue_balance))
            .where(snap.account_id == rows.c.account_id, snap.as_of <= ctx.start)
            .order_by(snap.as_of.desc(), snap.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        current = (
            select(_cents(account.overdue_balance))
            .where(account.id == rows.c.account_id)
            .scalar_subquery()
        )
        source, overdue = rows, func.coalesce(at_start, current)
    stmt, names = _select(
        accounts_assigned=func.count(),
        accounts_attempted=func.coalesce(func.sum(rows.c.attempted), 0),
        planned_stops=func.coalesce(func.sum(rows.c.planned), 0),
        planned_stops_attempted=func.coalesce(func.sum(rows.c.planned_attempted), 0),
        overdue_at_start=_sum_money(overdue),
    )
    return dict(zip(names, _core(stmt.select_from(source)).one(), strict=True))


def _imported_payments_source(ctx: _Context, keys: tuple[GroupKey, ...]) -> Iterator[Any]:
    """Imported payments from their per-day sums by credited collector."""
    t = ImportedPaymentsDay
    stmt, names = _select(amount_recovered=_sum_money(t.amount_recovered))
    stmt = stmt.select_from(t).where(t.local_date >= ctx.start, t.local_date < ctx.end)
    if ctx.query.collector_id is not None:
        stmt = stmt.where(t.collector_id == ctx.query.collector_id)
    dims = {GroupKey.COLLECTOR: t.collector_id, **_time_dims(t.local_date)}
    return _stream(_grouped(stmt, dims, keys), keys, names)


_Source = Callable[[_Context, tuple[GroupKey, ...]], Iterator[Any] | None]
# Keys the collector-day rollup can answer: every group is a set of whole collector-days.
_ROLLUP_KEYS = frozenset({GroupKey.COLLECTOR, GroupKey.DAY, GroupKey.WEEK, GroupKey.MONTH})
_SOURCES: tuple[_Source, ...] = (
    _visits_source,
    _promises_source,
    _payments_source,
    _assignments_source,
    _positions_source,
)
_ROLLUP_SOURCES: tuple[_Source, ...] = (
    _activity_source,
    _promises_source,
    _imported_payments_source,
    _assignments_source,
    _positions_source,
)


_DAY_ROLLUP_SOURCES: tuple[_Source, ...] = (
    _activity_source,
    _promises_source,
    _imported_payments_source,
    _assignment_days_source,
    _uncovered_overdue_source,
    _positions_source,
)


def _sources(ctx: _Context, keys: Iterable[GroupKey]) -> tuple[_Source, ...]:
    """Rollup sources when every key is collector or time; the event tables otherwise."""
    if _day_rollup(ctx, keys):
        return _DAY_ROLLUP_SOURCES
    return _ROLLUP_SOURCES if ctx.rollups and set(keys) <= _ROLLUP_KEYS else _SOURCES


# ---------------------------------------------------------------------------------------------
# The materialised KPI state, kept as the events are written.
#
# * promise_status_spans: every status each promise takes as as_of moves on (kpi.status_spans),
#   so a report judges promises for any as_of with a join instead of matching in Python;
# * collector_day_activity: attempts, photos, check-in hours and field payments per collector
#   and local day, so reports grouped by collector and time add up a few rows per day;
# * assignments.attempted: whether the assignment's collector attempted the account that day;
# * collector_day_assignments: distinct accounts assigned and attempted, planned stops and the
#   overdue balance at the latest snapshot, per collector and local day;
# * imported_payments_days: imported payments that count, per local day and credited collector.
#
# An ORM flush that writes visits, photos, promises, payments, assignments, snapshots or the
# promise and geo-verification settings refreshes what it touched in the same transaction (see
# ``_refresh_after_flush``). Bulk Core writes do not pass through the ORM: their services call
# ``refresh_promise_spans`` and ``refresh_imported_days`` (payment imports),
# ``refresh_assignment_days`` (snapshot imports)
# or ``rebuild_kpi_state`` (demo seed, bulk loads). Bulk Core deletes are not followed; whoever
# issues them rebuilds. A refresh first locks the accounts' (collectors') rows, so that two
# transactions refreshing the same ones take turns and the later one sees the earlier's rows.


def _cents(column: Any) -> SqlExpr:
    """A Money column as its stored integer cents (skips a Decimal round trip per row)."""
    return type_coerce(column, BigInteger)


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


_CHUNK = 500
_SPAN_ROWS = 2000


@dataclass(frozen=True)
class _StateRules:
    """The settings the materialised state depends on."""

    promises: PromiseRules
    verify_radius_m: float


def _state_rules(conn: Connection) -> _StateRules:
    """Read on the given connection (the ORM session may be mid-flush)."""
    row = conn.execute(
        select(
            AgencySettings.grace_days,
            AgencySettings.kept_tolerance,
            AgencySettings.verify_radius_m,
        ).where(AgencySettings.id == 1)
    ).first()
    if row is None:
        return _StateRules(PromiseRules(), 150.0)
    return _StateRules(PromiseRules(row[0], Decimal(row[1])), float(row[2]))


def _lock(conn: Connection, model: Any, ids: Iterable[int]) -> None:
    """Row locks (PostgreSQL; SQLite has one writer at a time) in id order: no deadlocks."""
    wanted = sorted(set(ids))
    if wanted:
        conn.execute(
            select(model.id).where(model.id.in_(wanted)).order_by(model.id).with_for_update()
        ).all()


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def refresh_promise_spans(
    conn: Connection, account_ids: Iterable[int] | None = None, rules: PromiseRules | None = None
) -> int:
    """Rewrite the status spans of every promise of these accounts (None: all accounts).

    Reads the accounts' promises and usable payments ordered by account and judges one
    account at a time (memory holds one account's history and a chunk of spans). Returns the
    number of spans written.
    """
    rules = rules or _state_rules(conn).promises
    if account_ids is None:
        conn.execute(delete(PromiseStatusSpan))
        return _write_spans(conn, None, rules)
    written = 0
    for chunk in _chunks(set(account_ids)):
        _lock(conn, Account, chunk)
        of_accounts = select(PromiseToPay.id).where(PromiseToPay.account_id.in_(chunk))
        conn.execute(delete(PromiseStatusSpan).where(PromiseStatusSpan.promise_id.in_(of_accounts)))
        written += _write_spans(conn, chunk, rules)
    return written


def _write_spans(conn: Connection, account_ids: list[int] | None, rules: PromiseRules) -> int:
    p, inst = PromiseToPay, PromiseInstallment
    promise_query = (
        select(
            p.account_id,
            p.id,
            p.local_date,
            _cents(p.amount),
            p.last_due_date,
            inst.due_date,
            _cents(inst.amount),
        )
        .outerjoin(inst, inst.promise_id == p.id)
        .order_by(p.account_id, p.local_date, p.id, inst.seq)
    )
    reversal = aliased(Payment)
    # An uncorrelated NOT IN is evaluated once; a correlated NOT EXISTS would scan the
    # payments table per payment (reverses_id is rarely set and not indexed).
    reversed_ids = select(reversal.reverses_id).where(reversal.reverses_id.is_not(None))
    payment_query = (
        select(Payment.account_id, Payment.id, Payment.local_date, _cents(Payment.amount))
        .where(
            Payment.amount > 0,
            Payment.reverses_id.is_(None),
            Payment.id.not_in(reversed_ids),
            countable_payment(Payment),
        )
        .order_by(Payment.account_id, Payment.local_date, Payment.id)
    )
    if account_ids is not None:
        promise_query = promise_query.where(p.account_id.in_(account_ids))
        payment_query = payment_query.where(Payment.account_id.in_(account_ids))
    else:
        with_promise = select(p.account_id).distinct().scalar_subquery()
        payment_query = payment_query.where(Payment.account_id.in_(with_promise))
    promise_rows = conn.execute(promise_query.execution_options(yield_per=5000))
    payment_rows = conn.execute(payment_query.execution_options(yield_per=5000))
    payments_by_account = itertools.groupby(payment_rows, key=lambda r: r[0])
    pending_payments: tuple[int, list[Any]] | None = None

    def payments_of(account_id: int) -> list[PaymentEvent]:
        nonlocal pending_payments
        while True:
            if pending_payments is None:
                try:
                    acc_id, group = next(payments_by_account)
                except StopIteration:
                    return []
                pending_payments = (acc_id, list(group))
            acc_id, found = pending_payments
            if acc_id > account_id:
                return []
            pending_payments = None
            if acc_id == account_id:
                return [PaymentEvent(r[1], r[0], r[2], _money(r[3])) for r in found]

    written = 0
    chunk: list[dict[str, Any]] = []
    try:
        for account_id, rows in itertools.groupby(promise_rows, key=lambda r: r[0]):
            promises = [
                _promise_of(account_id, promise_id, list(parts))
                for promise_id, parts in itertools.groupby(rows, key=lambda r: r[1])
            ]
            for span in status_spans(promises, payments_of(account_id), rules):
                chunk.append(
                    {
                        "promise_id": span.promise.promise_id,
                        "judged_from": span.judged_from,
                        "judged_until": span.judged_until,
                        "status": span.status.value,
                        "amount_matched": span.amount_matched,
                    }
                )
            if len(chunk) >= _SPAN_ROWS:
                conn.execute(insert(PromiseStatusSpan), chunk)
                written += len(chunk)
                chunk = []
        if chunk:
            conn.execute(insert(PromiseStatusSpan), chunk)
            written += len(chunk)
    finally:
        promise_rows.close()
        payment_rows.close()
    return written


def _promise_of(account_id: int, promise_id: int, parts: list[Any]) -> Promise:
    """A kpi Promise from joined promise/installment rows (no installment rows: one amount)."""
    first = parts[0]
    if first[5] is None:
        installments: tuple[Installment, ...] = (Installment(first[4], _money(first[3])),)
    else:
        installments = tuple(Installment(r[5], _money(r[6])) for r in parts)
    return Promise(promise_id, account_id, first[2], installments)


def refresh_collector_days(
    conn: Connection,
    days: Iterable[tuple[date, int]] | None = None,
    verify_radius_m: float | None = None,
) -> None:
    """Rewrite the activity rollup of these (local day, collector id) pairs (None: all)."""
    radius = verify_radius_m if verify_radius_m is not None else _state_rules(conn).verify_radius_m
    act = CollectorDayActivity
    if days is None:
        conn.execute(delete(act))
        conn.execute(_collector_days_insert(False), {"radius": radius})
        return
    for chunk in _chunks(set(days)):
        _lock(conn, Collector, (collector for _, collector in chunk))
        conn.execute(_days_delete(act), {"days": chunk})
        conn.execute(_collector_days_insert(True), {"days": chunk, "radius": radius})


@functools.cache
def _days_delete(rollup: Any) -> Any:
    """DELETE of a per (local day, collector) rollup's rows for the bound ``days``."""
    return delete(rollup).where(
        tuple_(rollup.local_date, rollup.collector_id).in_(bindparam("days", expanding=True))
    )


@functools.cache
def _collector_days_insert(some_days: bool) -> Any:
    """INSERT … SELECT of the activity rollup, built once (a sync push refreshes on every
    request); ``days`` and ``radius`` are bound at execution."""
    v, pay = Visit, Payment
    radius = bindparam("radius", type_=Float())

    def reaching(level: FunnelLevel) -> SqlExpr:
        return _count_if(v.disposition.in_(sorted(dispositions_reaching(level))))

    zero: SqlExpr = literal_column("0")
    visits = select(
        v.local_date.label("local_date"),
        v.collector_id.label("collector_id"),
        func.count().label("attempts"),
        reaching(FunnelLevel.CONNECTION).label("connections"),
        reaching(FunnelLevel.CONTACT).label("contacts"),
        reaching(FunnelLevel.DIRECT_CONTACT).label("direct_contacts"),
        reaching(FunnelLevel.PROMISE).label("promises"),
        _count_if(v.lat.is_not(None)).label("attempts_with_position"),
        _count_if(and_(v.lat.is_not(None), v.distance_m <= radius)).label("attempts_geo_verified"),
        _count_if(exists().where(Photo.visit_id == v.id)).label("attempts_with_photo"),
        seconds_between(func.min(v.checked_in_at), func.max(v.checked_in_at)).label(
            "field_seconds"
        ),
        zero.label("amount_collected_field"),
    ).where(v.disposition.is_not(None))
    field_payments = select(
        pay.local_date.label("local_date"),
        pay.collector_id.label("collector_id"),
        *[zero.label(name) for name in _ACTIVITY_COUNTS],
        literal_column("0.0").label("field_seconds"),
        func.sum(_cents(pay.amount)).label("amount_collected_field"),
    ).where(pay.source == "field", pay.collector_id.is_not(None), countable_payment(pay))
    if some_days:
        days: Any = bindparam("days", expanding=True)
        visits = visits.where(tuple_(v.local_date, v.collector_id).in_(days))
        field_payments = field_payments.where(tuple_(pay.local_date, pay.collector_id).in_(days))
    both = union_all(
        visits.group_by(v.local_date, v.collector_id),
        field_payments.group_by(pay.local_date, pay.collector_id),
    ).subquery()
    columns = ["local_date", "collector_id", *_ACTIVITY_COUNTS, "field_seconds"]
    rows = select(
        both.c.local_date,
        both.c.collector_id,
        *[func.sum(both.c[name]) for name in [*_ACTIVITY_COUNTS, "field_seconds"]],
        func.sum(both.c.amount_collected_field),
    ).group_by(both.c.local_date, both.c.collector_id)
    return insert(CollectorDayActivity).from_select([*columns, "amount_collected_field"], rows)


_ACTIVITY_COUNTS = (
    "attempts",
    "connections",
    "contacts",
    "direct_contacts",
    "promises",
    "attempts_with_position",
    "attempts_geo_verified",
    "attempts_with_photo",
)


def refresh_attempted(
    conn: Connection, keys: Iterable[tuple[int, date, int]] | None = None
) -> None:
    """Recompute ``assignments.attempted`` for these (account, day, collector) keys (None: all)."""
    if keys is None:
        conn.execute(_attempted_update(False))
        return
    for chunk in _chunks(set(keys)):
        conn.execute(_attempted_update(True), {"keys": chunk})


@functools.cache
def _attempted_update(some_keys: bool) -> Any:
    a, v = Assignment, Visit
    attempted = exists().where(
        v.account_id == a.account_id,
        v.local_date == a.date,
        v.collector_id == a.collector_id,
        v.disposition.is_not(None),
    )
    stmt = update(a).values(attempted=attempted)
    if some_keys:
        keys: Any = bindparam("keys", expanding=True)
        stmt = stmt.where(tuple_(a.account_id, a.date, a.collector_id).in_(keys))
    return stmt


def refresh_assignment_days(
    conn: Connection,
    days: Iterable[tuple[date, int]] | None = None,
    *,
    since: date | None = None,
) -> None:
    """Rewrite the assignment rollup of these (local day, collector id) pairs, or of every day
    on or after ``since`` (a new snapshot changes the overdue of those days); neither: all."""
    t, a = CollectorDayAssignments, Assignment
    if days is None:
        if since is None:
            conn.execute(delete(t))
            _insert_assignment_days(conn, [])
        else:
            conn.execute(delete(t).where(t.local_date >= since))
            _insert_assignment_days(conn, [a.date >= since])
        return
    for chunk in _chunks(set(days)):
        _lock(conn, Collector, (collector for _, collector in chunk))
        conn.execute(_days_delete(t), {"days": chunk})
        conn.execute(_assignment_days_insert(), {"days": chunk})


@functools.cache
def _assignment_days_insert() -> Any:
    """The rollup of some (day, collector) pairs, built once; ``days`` bound at execution."""
    a = Assignment
    return _assignment_days_select(
        [tuple_(a.date, a.collector_id).in_(bindparam("days", expanding=True))]
    )


def _insert_assignment_days(conn: Connection, where: list[SqlExpr]) -> None:
    conn.execute(_assignment_days_select(where))


def _assignment_days_select(where: list[SqlExpr]) -> Any:
    a, snap = Assignment, aliased(AccountSnapshot)
    planned = a.plan_id.is_not(None)
    per_account = (
        select(
            a.date.label("day"),
            a.collector_id.label("collector_id"),
            a.account_id.label("account_id"),
            func.max(case((a.attempted.is_(True), 1), else_=0)).label("attempted"),
            _count_if(planned).label("planned"),
            _count_if(and_(planned, a.attempted.is_(True))).label("planned_attempted"),
        )
        .where(a.status != "removed", *where)
        .group_by(a.date, a.collector_id, a.account_id)
        .subquery()
    )
    # The latest snapshot on or before the day is also the latest on or before any report
    # start with the same latest snapshot date (no snapshot in between).
    overdue = (
        select(_cents(snap.overdue_balance))
        .where(snap.account_id == per_account.c.account_id, snap.as_of <= per_account.c.day)
        .order_by(snap.as_of.desc(), snap.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = select(*per_account.c, overdue.label("overdue")).subquery()
    latest_day = (
        select(func.max(AccountSnapshot.as_of))
        .where(AccountSnapshot.as_of <= rows.c.day)
        .scalar_subquery()
    )
    stmt = select(
        rows.c.day,
        rows.c.collector_id,
        func.count(),
        func.sum(rows.c.attempted),
        func.sum(rows.c.planned),
        func.sum(rows.c.planned_attempted),
        latest_day,
        func.coalesce(func.sum(rows.c.overdue), 0),
        _count_if(rows.c.overdue.is_(None)),
    ).group_by(rows.c.day, rows.c.collector_id)
    targets = [
        "local_date",
        "collector_id",
        "accounts_assigned",
        "accounts_attempted",
        "planned_stops",
        "planned_stops_attempted",
        "overdue_as_of",
        "overdue_at_start",
        "accounts_without_snapshot",
    ]
    return insert(CollectorDayAssignments).from_select(targets, stmt)


def refresh_imported_days(conn: Connection, days: Iterable[date] | None = None) -> None:
    """Rewrite the imported-payment sums of these local days (None: all days)."""
    t, pay = ImportedPaymentsDay, Payment
    owner = payment_owner(pay)
    rows = (
        select(pay.local_date, owner.label("owner_id"), func.sum(_cents(pay.amount)))
        .where(pay.source != "field", countable_payment(pay))
        # By the output label: PostgreSQL would not match the repeated owner subquery.
        .group_by(pay.local_date, literal_column("owner_id"))
    )
    targets = ["local_date", "collector_id", "amount_recovered"]
    if days is None:
        conn.execute(delete(t))
        conn.execute(insert(t).from_select(targets, rows))
        return
    for chunk in _chunks(set(days)):
        conn.execute(delete(t).where(t.local_date.in_(chunk)))
        conn.execute(insert(t).from_select(targets, rows.where(pay.local_date.in_(chunk))))


def rebuild_kpi_state(conn: Connection | None = None) -> None:
    """Rewrite all of the materialised KPI state (after bulk writes or a settings change)."""
    conn = conn or db.session.connection()
    rules = _state_rules(conn)
    refresh_promise_spans(conn, None, rules.promises)
    refresh_collector_days(conn, None, rules.verify_radius_m)
    refresh_attempted(conn, None)
    refresh_assignment_days(conn)
    refresh_imported_days(conn)


_STATE_SETTINGS = ("grace_days", "kept_tolerance", "verify_radius_m")


def _refresh_after_flush(session: Session, _context: Any) -> None:
    """Refresh the KPI state for what this flush wrote (new, changed or deleted rows)."""
    touched = [*session.new, *session.dirty, *session.deleted]
    accounts: set[int] = set()
    promise_ids: set[int] = set()
    receipts: set[str] = set()
    days: set[tuple[date, int]] = set()
    visit_ids: set[int] = set()
    keys: set[tuple[int, date, int]] = set()
    snapshots_since: date | None = None
    imported_days: set[date] = set()
    reassigned: set[tuple[int, date]] = set()
    rebuild = False
    for obj in touched:
        if isinstance(obj, PromiseToPay | Payment):
            accounts.add(obj.account_id)
        if isinstance(obj, Payment):
            if obj.receipt_number:
                receipts.add(obj.receipt_number)
            if obj.source == "field" and obj.collector_id is not None:
                days.add((obj.local_date, obj.collector_id))
            elif obj.source != "field":
                imported_days.add(obj.local_date)
        elif isinstance(obj, PromiseInstallment):
            promise_ids.add(obj.promise_id)
        elif isinstance(obj, Visit):
            days.add((obj.local_date, obj.collector_id))
            keys.add((obj.account_id, obj.local_date, obj.collector_id))
        elif isinstance(obj, Photo) and obj.visit_id is not None:
            visit_ids.add(obj.visit_id)
        elif isinstance(obj, Assignment):
            keys.add((obj.account_id, obj.date, obj.collector_id))
            reassigned.add((obj.account_id, obj.date))
        elif isinstance(obj, AccountSnapshot):
            if snapshots_since is None or obj.as_of < snapshots_since:
                snapshots_since = obj.as_of
        elif isinstance(obj, AgencySettings) and obj in session.dirty:
            # A new settings row only writes the defaults the state was built with.
            changed: Any = inspect(obj).attrs
            rebuild = rebuild or any(changed[n].history.has_changes() for n in _STATE_SETTINGS)
    if (
        not (
            accounts or promise_ids or days or visit_ids or keys or snapshots_since or imported_days
        )
        and not rebuild
    ):
        return
    conn = session.connection()
    if rebuild:
        rebuild_kpi_state(conn)
        return
    for chunk in _chunks(promise_ids):
        found = select(PromiseToPay.account_id).where(PromiseToPay.id.in_(chunk))
        accounts.update(conn.execute(found).scalars())
    for chunk in _chunks(receipts):
        # An import repeating a field receipt stops counting once the field payment exists.
        repeats = select(Payment.account_id, Payment.local_date, Payment.source).where(
            Payment.receipt_number.in_(chunk)
        )
        for account_id, day, source in conn.execute(repeats):
            accounts.add(account_id)
            if source != "field":
                imported_days.add(day)
    # A new or changed assignment can change whom the account's later imports credit.
    earliest: dict[int, date] = {}
    for account_id, day in reassigned:
        earliest[account_id] = min(day, earliest.get(account_id, day))
    for chunk in _chunks(earliest):
        imports = select(Payment.account_id, Payment.local_date).where(
            Payment.account_id.in_(chunk), Payment.source != "field"
        )
        imported_days.update(d for a, d in conn.execute(imports) if d >= earliest[a])
    for chunk in _chunks(visit_ids):
        pairs = select(Visit.local_date, Visit.collector_id).where(Visit.id.in_(chunk))
        days.update((d, c) for d, c in conn.execute(pairs))
    if accounts:
        refresh_promise_spans(conn, accounts)
    if days:
        refresh_collector_days(conn, days)
    if keys:
        refresh_attempted(conn, keys)
        refresh_assignment_days(conn, {(day, collector) for _, day, collector in keys})
    if snapshots_since is not None:
        refresh_assignment_days(conn, since=snapshots_since)
    if imported_days:
        refresh_imported_days(conn, imported_days)


event.listen(Session, "after_flush", _refresh_after_flush)


# ---------------------------------------------------------------------------------------------
# Assembling the report.


class _Labels:
    """Readable labels for collector, zone and portfolio ids (small dimension tables)."""

    def __init__(self) -> None:
        # Result objects have .keys(), so dict() would treat them as mappings: unpack rows.
        self.collectors = {
            i: c for i, c in db.session.execute(select(Collector.id, Collector.code))
        }
        self.zones = {i: n for i, n in db.session.execute(select(Zone.id, Zone.name))}
        self.portfolios = {
            i: c for i, c in db.session.execute(select(Portfolio.id, Portfolio.code))
        }

    def keys(self, group_by: tuple[GroupKey, ...], raw: tuple[Any, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in zip(group_by, raw, strict=True):
            if key is GroupKey.COLLECTOR:
                out["collector_id"] = value
                out["collector"] = self.collectors.get(value)
            elif key is GroupKey.ZONE:
                out["zone_id"] = value
                out["zone"] = self.zones.get(value)
            elif key is GroupKey.PORTFOLIO:
                out["portfolio_id"] = value
                out["portfolio"] = self.portfolios.get(value)
            elif key is GroupKey.BUCKET:
                out["bucket"] = None if value is None else _bucket_label(int(value))
            elif key is GroupKey.MONTH:
                out["month"] = None if value is None else month_label(_as_date(value))
            else:
                out[key.value] = None if value is None else _as_date(value).isoformat()
        return out


def _bucket_label(rank: int) -> str:
    return "current" if rank == 0 else BUCKETS[rank - 1].name


def _as_date(value: Any) -> date:
    # SQLite hands back computed dates as text.
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


_TOTAL_TYPES: dict[str, Callable[[Any], Any]] = {
    f.name: {"Decimal": Decimal, "float": float}.get(str(f.type), int) for f in fields(GroupTotals)
}


def _totals(partial: Mapping[str, Any]) -> GroupTotals:
    values: dict[str, Any] = {}
    for name, raw in partial.items():
        convert = _TOTAL_TYPES.get(name)
        if convert is not None and raw is not None:
            # PostgreSQL sums bigints to numeric: counts come back as Decimal too.
            values[name] = convert(raw)
    return GroupTotals(**values)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """Round floats for people (hours, km, rates); money stays exact, in cents."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, float):
            value = round(value, 4)
        elif isinstance(value, Decimal):
            value = value.quantize(CENT)
        out[name] = value
    return out


def _context(query: ReportQuery, rollups: bool = True) -> _Context:
    settings = get_settings()
    rules = PromiseRules(settings.grace_days, Decimal(settings.kept_tolerance))
    return _Context(query, rules, float(settings.verify_radius_m), rollups)


def build_report(query: ReportQuery, *, rollups: bool = True) -> Iterator[ReportRow]:
    """Stream the report's group rows in key order, then its total row.

    Every source streams its ordered groups and they are merged row by row. ``rollups=False``
    reads the event tables only (the tests' and the benchmark's reference); the promise status
    spans are used either way.
    """
    ctx = _context(query, rollups)
    _tune_for_reports()
    if not _day_rollup(ctx, query.group_by):
        fill_assignment_rows(ctx, query.group_by)
    labels = _Labels()
    keys = query.group_by
    no_km = GroupKey.PORTFOLIO in keys or GroupKey.BUCKET in keys
    running: dict[str, Any] = {}
    if keys:
        streams = [s for s in (src(ctx, keys) for src in _sources(ctx, keys)) if s is not None]
        merged = heapq.merge(*streams, key=lambda item: item[0])
        for _, items in itertools.groupby(merged, key=lambda item: item[0]):
            group = list(items)
            partial: dict[str, Any] = {}
            for _, _, part in group:
                _add_into(partial, part)
            totals = _totals(partial)
            _add_into(running, partial)
            measures = compute_measures(totals)
            if no_km:
                measures["km_travelled"] = measures["km_per_attempt"] = None
            yield ReportRow(labels.keys(keys, group[0][1]), _present(measures))
    yield ReportRow(
        dict.fromkeys(key_columns(keys)),
        _present(compute_measures(_total_row(ctx, running, keys=keys, no_km=no_km))),
        is_total=True,
    )


def _add_into(partial: dict[str, Any], part: Mapping[str, Any]) -> None:
    """Add one source's sums for a group (two sources may share a measure, e.g. payments)."""
    for name, value in part.items():
        partial[name] = value if partial.get(name) is None else partial[name] + value


def _total_row(
    ctx: _Context, running: dict[str, Any], *, keys: tuple[GroupKey, ...], no_km: bool
) -> GroupTotals:
    """The total: sums of the groups, with distinct counts (and km if ungrouped) re-queried."""
    grouped = bool(keys)
    needed: list[_Source] = [s for s in _sources(ctx, ()) if s is not _assignments_source]
    if grouped:
        needed = [_positions_source] if no_km else []
    partial = dict(running) if grouped else {}
    for source in needed:
        stream = source(ctx, ())
        for _, _, part in stream or ():
            _add_into(partial, part)
    partial.update(
        _assignments_period_total(ctx) if _day_rollup(ctx, keys) else _assignments_total()
    )
    return _totals(partial)


def report_csv(rows: Iterable[ReportRow], group_by: tuple[GroupKey, ...]) -> Iterator[str]:
    """The report as CSV text chunks, one line at a time, with the model's column names."""
    columns = report_columns(group_by)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush() -> str:
        line = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return line

    writer.writerow(columns)
    yield flush()
    for row in rows:
        values = {"row_type": "total" if row.is_total else "group", **row.as_dict()}
        writer.writerow(["" if values.get(c) is None else values[c] for c in columns])
        yield flush()


# ---------------------------------------------------------------------------------------------
# Effectiveness over time (§5): two snapshots, one GROUP BY over (start bucket, end bucket).


def build_effectiveness(start: date, end: date) -> dict[str, Any]:
    """Where the accounts delinquent at ``start`` stood at ``end``, per starting bucket.

    Each account is read from its latest snapshot on or before ``start`` and its latest one
    after that and on or before ``end``; accounts with no such later snapshot (withdrawn,
    not re-imported) are reported as ``not_in_end_snapshot`` and left out of the shares.
    """
    _tune_for_reports()
    first, last = aliased(AccountSnapshot), aliased(AccountSnapshot)
    start_ids = _snapshot_on_or_before(start)
    end_ids = _snapshot_on_or_before(end, after=start)
    start_rank = _bucket_rank(first.days_past_due)
    end_rank = case((last.id.is_(None), -1), else_=_bucket_rank(last.days_past_due))
    stmt = (
        select(
            start_rank.label("k0"),
            end_rank.label("k1"),
            func.count().label("accounts"),
            _sum_money(first.overdue_balance).label("balance"),
        )
        .select_from(start_ids)
        .join(first, first.id == start_ids.c.snapshot_id)
        .outerjoin(end_ids, end_ids.c.account_id == start_ids.c.account_id)
        .outerjoin(last, last.id == end_ids.c.snapshot_id)
        .where(first.days_past_due > 0)
    )
    stmt = _group_and_order(stmt, 2)
    cells: list[tuple[str, Movement, Tally]] = []
    missing: dict[str, Tally] = {b.name: Tally() for b in BUCKETS}
    for rank_start, rank_end, accounts, balance in db.session.execute(stmt):
        name = BUCKETS[int(rank_start) - 1].name
        tally = Tally(int(accounts), balance)
        if int(rank_end) < 0:
            missing[name] = missing[name] + tally
        else:
            cells.append((name, movement_of_ranks(int(rank_start), int(rank_end)), tally))
    buckets = []
    for row in summarize(cells):
        buckets.append(
            {
                "bucket": row.bucket,
                "accounts": row.accounts,
                "overdue_balance": row.balance,
                "not_in_end_snapshot": missing[row.bucket].accounts,
                **{
                    move.value: {
                        "accounts": row.tallies[move].accounts,
                        "overdue_balance": row.tallies[move].balance,
                        "share": None if (s := row.share(move)) is None else round(s, 6),
                    }
                    for move in Movement
                },
            }
        )
    return {"start": start, "end": end, "buckets": buckets}


# ---------------------------------------------------------------------------------------------
# Collector scorecards: four lenses and a rank among peers.

SCORECARD_LENSES: dict[str, tuple[str, ...]] = {
    "productivity": ("attempts", "attempts_per_hour", "km_per_attempt", "plan_completion"),
    "effectiveness": ("direct_contact_rate", "promise_rate", "kept_rate", "amount_recovered"),
    "quality": ("geo_verified_rate", "evidence_rate"),
}
# The measure each lens is ranked by (higher is better); the overall rank orders collectors
# by the mean of their three lens ranks.
LENS_RANKED_BY = {
    "productivity": "attempts",
    "effectiveness": "amount_recovered",
    "quality": "geo_verified_rate",
}


def build_scorecards(period: Period, as_of: date) -> list[dict[str, Any]]:
    """One scorecard per collector with activity in the period, ranked among all of them."""
    query = ReportQuery(period, as_of, (GroupKey.COLLECTOR,))
    rows = [r for r in build_report(query) if not r.is_total and r.keys["collector_id"]]
    cards = [
        {
            "collector_id": r.keys["collector_id"],
            "collector": r.keys["collector"],
            **{lens: {m: r.measures[m] for m in names} for lens, names in SCORECARD_LENSES.items()},
        }
        for r in rows
    ]
    lens_ranks: dict[str, dict[int, int]] = {}
    for lens, measure in LENS_RANKED_BY.items():

        def best_first(card: dict[str, Any], lens: str = lens, m: str = measure) -> Any:
            # Nulls rank last; ties keep collector-code order, so ranks are stable.
            value = card[lens][m]
            return (value is None, -(value or 0), card["collector"] or "")

        ordered = sorted(cards, key=best_first)
        lens_ranks[lens] = {c["collector_id"]: i + 1 for i, c in enumerate(ordered)}
    overall = sorted(
        cards,
        key=lambda c: (
            sum(lens_ranks[lens][c["collector_id"]] for lens in LENS_RANKED_BY),
            c["collector"] or "",
        ),
    )
    for position, card in enumerate(overall, start=1):
        card["rank"] = {
            "overall": position,
            **{lens: lens_ranks[lens][card["collector_id"]] for lens in LENS_RANKED_BY},
            "of": len(cards),
        }
    return overall


# ---------------------------------------------------------------------------------------------
# Use cases behind the /api/v1/kpi views.


def _viewer_collector_id() -> int | None:
    """None for staff (they see every collector); a collector's own id for a collector."""
    user = current_user()
    if user.role != Role.COLLECTOR:
        return None
    collector = current_collector()
    if collector is None:
        raise ProblemError(403, "Forbidden", "This collector user has no collector record.")
    return int(collector.id)


def _query_from(args: Mapping[str, Any], group_by: tuple[GroupKey, ...]) -> ReportQuery:
    as_of = args.get("as_of") or local_date_of(utcnow())
    return ReportQuery(Period(args["from_"], args["to"]), as_of, group_by, _viewer_collector_id())


def kpi_model() -> dict[str, Any]:
    """The model document with this agency's promise settings."""
    settings = get_settings()
    return model_document(PromiseRules(settings.grace_days, Decimal(settings.kept_tolerance)))


def report_document(args: Mapping[str, Any]) -> dict[str, Any]:
    """The report as one JSON document (rows are bounded by the number of groups)."""
    query = _query_from(args, args.get("group_by", ()))
    rows = list(build_report(query))
    return {
        "model_version": MODEL_VERSION,
        "from_": query.period.start,
        "to": query.period.end,
        "as_of": query.as_of,
        "group_by": [k.value for k in query.group_by],
        "columns": [*key_columns(query.group_by), *MEASURE_NAMES],
        "rows": [r.as_dict() for r in rows if not r.is_total],
        "total": rows[-1].measures,
    }


def report_csv_stream(args: Mapping[str, Any]) -> Iterator[str]:
    """The report as streamed CSV lines; the query runs as the response is sent."""
    query = _query_from(args, args.get("group_by", ()))
    audit.record(
        "export",
        "kpi_report",
        None,
        group_by=list(args.get("group_by", ())),
        period=[str(args.get("from")), str(args.get("to"))],
    )
    db.session.commit()
    return report_csv(build_report(query), query.group_by)


def effectiveness_document(args: Mapping[str, Any]) -> dict[str, Any]:
    return build_effectiveness(args["start"], args["end"])


def scorecards_document(args: Mapping[str, Any]) -> dict[str, Any]:
    """Scorecards ranked among all collectors; a collector receives only their own."""
    query = _query_from(args, (GroupKey.COLLECTOR,))
    cards = build_scorecards(query.period, query.as_of)
    if query.collector_id is not None:
        cards = [c for c in cards if c["collector_id"] == query.collector_id]
    return {
        "from_": query.period.start,
        "to": query.period.end,
        "as_of": query.as_of,
        "ranked_by": LENS_RANKED_BY,
        "scorecards": cards,
    }
