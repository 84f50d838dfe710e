"""Where position ingestion reads and writes: the device, its stored track, the new fixes.

Ingestion is the server's busiest path (thousands of fixes a second), so its storage is
written once per engine behind one small interface, :class:`PositionIntake`:

* SQLite, the embedded default: SQLAlchemy Core on the session's connection, a few
  statements in one transaction. The database runs in-process, so a statement costs no
  round trip.
* PostgreSQL: a pooled connection in autocommit, driven through psycopg directly, in three
  round trips a request: the device, its stored history, and one statement that writes the
  fixes, the collector's live row and the device's seen stamp together. One statement is
  atomic on its own, so there is no BEGIN and no COMMIT to wait for. SQLAlchemy's
  per-statement work and the transaction's round trips cost about a third of a batch's
  CPU in the server there.

Both read the same Core statements (compiled once for PostgreSQL) and answer the same
records, so the pipeline and the live state above them do not know which engine is below.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol, cast
from zoneinfo import ZoneInfo

import orjson
import psycopg
from sqlalchemy import (
    String,
    Table,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Dialect

import tracking
from server.extensions import db
from server.models import (
    AgencySettings,
    Collector,
    CollectorLocation,
    Device,
    User,
    Zone,
    collector_zones,
)
from server.models import Position as PositionRow
from server.models.types import UTCDateTime

HISTORY_MARGIN = timedelta(hours=1)
"""How far back the previous accepted fix is looked for (jump filter and distance)."""

DeviceKey = Literal["tracking_id", "credential_hash"]


@dataclass(frozen=True, slots=True)
class LiveLocation:
    """The collector's live-state row as ingestion last left it (``anchor``: where the
    collector has been standing since when)."""

    fix_time: datetime
    zone_ids: list[int] | None
    anchor: tracking.Anchor


@dataclass(frozen=True, slots=True)
class CollectorState:
    """What ingestion needs of the device's collector, read in the same statement as the
    device on every request, so a shift, zone or time-zone edit applies to the next fix."""

    collector_id: int
    username: str | None
    shift_start_min: int
    shift_end_min: int
    zone_versions: str | None
    timezone: str | None
    location: LiveLocation | None


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """An active device read as plain columns (no ORM object), with its collector's state."""

    id: str
    collector_id: int
    last_seen_at: datetime | None
    collector: CollectorState | None = None
    role: str | None = None
    user_active: bool = False


class PositionIntake(Protocol):
    """Storage for one request's ingestion; opened by :func:`open_intake`."""

    def device(self, column: DeviceKey, key: str) -> DeviceRef | None:
        """The active (not revoked) device with this key, with its collector's state."""
        ...

    def history(self, device_id: str, fixes: Sequence[tracking.Position]) -> tracking.TrackState:
        """Stored fixes inside the batch's time span and the last accepted fix before it."""
        ...

    def save(
        self,
        device: DeviceRef,
        fixes: Sequence[tracking.Position],
        tz: ZoneInfo,
        location: Mapping[str, Any] | None,
        seen_at: datetime | None,
    ) -> None:
        """Store the fixes (skipping any another request stored meanwhile), move the
        collector's live row forward to ``location`` (never back) and stamp the device as
        seen, all or nothing."""
        ...


@contextmanager
def open_intake() -> Iterator[PositionIntake]:
    """The intake of the app's engine, for one request."""
    if db.engine.dialect.name == "sqlite":
        yield _SqliteIntake()
        return
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        intake = _PostgresIntake(connection)
        try:
            yield intake
        except psycopg.OperationalError:
            if intake.lost:
                # SQLAlchemy never saw the failure, so do what it does on a disconnect:
                # drop this connection and the pool's others (a restarted server killed
                # them all) rather than hand them to the next requests.
                connection.invalidate()
                db.engine.dispose()
            raise


# --------------------------------------------------------------------------------------------
# The statements, built once. Constructing a select per request costs more CPU than running
# it on an index.

_POSITIONS = cast(Table, PositionRow.__table__)
_LOCATIONS = cast(Table, CollectorLocation.__table__)
_DEVICES = cast(Table, Device.__table__)

_AGENCY_TIMEZONE = select(AgencySettings.timezone).where(AgencySettings.id == 1).scalar_subquery()

_DEVICE_KEYS = {
    "tracking_id": Device.tracking_id,
    "credential_hash": Device.credential_hash,
}


def _zone_versions(dialect: str) -> Any:
    """The collector's assigned zones as "id@updated_at,...", read with the device: any change
    of the assignment or of a zone's shape changes this text, so it keys the zone index.

    The dialect's own aggregate with a literal separator: the generic ``aggregate_strings``
    renders its separator at every execution, which cost more than the rest of the lookup.
    """
    aggregate = func.group_concat if dialect == "sqlite" else func.string_agg
    version = sql_cast(Zone.id, String) + literal_column("'@'") + sql_cast(Zone.updated_at, String)
    return (
        select(aggregate(version, literal_column("','")))
        .join(collector_zones, collector_zones.c.zone_id == Zone.id)
        .where(collector_zones.c.collector_id == Device.collector_id)
        .scalar_subquery()
    )


class _DeviceRow(NamedTuple):
    """The columns of :func:`_device_statement`, in its order."""

    id: str
    collector_id: int
    last_seen_at: datetime | None
    shift_start_min: int | None
    shift_end_min: int | None
    username: str | None
    role: str | None
    active: bool | None
    zone_versions: str | None
    timezone: str | None
    location_fix_time: datetime | None
    zone_ids: list[int] | None
    anchor_lat: float | None
    anchor_lon: float | None
    anchor_since: datetime | None


@functools.cache
def _device_statement(dialect: str, column: DeviceKey) -> Any:
    """One statement for the device, its user's role and state, its collector's shift and
    zones, the agency's time zone and the collector's live row."""
    return (
        select(
            Device.id,
            Device.collector_id,
            Device.last_seen_at,
            Collector.shift_start_min,
            Collector.shift_end_min,
            User.username,
            User.role,
            User.active,
            _zone_versions(dialect).label("zone_versions"),
            _AGENCY_TIMEZONE.label("timezone"),
            CollectorLocation.fix_time.label("location_fix_time"),
            CollectorLocation.zone_ids,
            CollectorLocation.anchor_lat,
            CollectorLocation.anchor_lon,
            CollectorLocation.anchor_since,
        )
        .outerjoin(Collector, Collector.id == Device.collector_id)
        .outerjoin(User, User.id == Collector.user_id)
        .outerjoin(CollectorLocation, CollectorLocation.collector_id == Device.collector_id)
        .where(_DEVICE_KEYS[column] == bindparam("key"), Device.revoked_at.is_(None))
    )


def _device_ref(row: _DeviceRow) -> DeviceRef:
    collector = None
    if row.shift_start_min is not None and row.shift_end_min is not None:
        location = None
        if (
            row.location_fix_time is not None
            and row.anchor_lat is not None
            and row.anchor_lon is not None
            and row.anchor_since is not None
        ):
            anchor = tracking.Anchor(row.anchor_lat, row.anchor_lon, row.anchor_since)
            location = LiveLocation(row.location_fix_time, row.zone_ids, anchor)
        collector = CollectorState(
            row.collector_id,
            row.username,
            row.shift_start_min,
            row.shift_end_min,
            row.zone_versions,
            row.timezone,
            location,
        )
    return DeviceRef(
        row.id, row.collector_id, row.last_seen_at, collector, row.role, bool(row.active)
    )


_HISTORY_COLUMNS = (
    _POSITIONS.c.fix_time,
    _POSITIONS.c.lat,
    _POSITIONS.c.lon,
    _POSITIONS.c.accuracy_m,
    _POSITIONS.c.filter_reason,
)
_ACCEPTED_BEFORE = (
    select(*_HISTORY_COLUMNS)
    .where(
        _POSITIONS.c.device_id == bindparam("device_id"),
        _POSITIONS.c.fix_time < bindparam("first", type_=UTCDateTime()),
        _POSITIONS.c.fix_time >= bindparam("since", type_=UTCDateTime()),
        _POSITIONS.c.filter_reason.is_(None),
    )
    .order_by(_POSITIONS.c.fix_time.desc())
    .limit(1)
    .subquery()
)
_HISTORY = union_all(
    select(*_HISTORY_COLUMNS).where(
        _POSITIONS.c.device_id == bindparam("device_id"),
        _POSITIONS.c.fix_time >= bindparam("first", type_=UTCDateTime()),
        _POSITIONS.c.fix_time <= bindparam("last", type_=UTCDateTime()),
    ),
    select(_ACCEPTED_BEFORE),
)
"""In one round trip: every stored fix inside the batch's time span, and the last accepted fix
before it."""


class _HistoryRow(NamedTuple):
    fix_time: datetime
    lat: float
    lon: float
    accuracy_m: float | None
    filter_reason: str | None


def _history_parameters(device_id: str, fixes: Sequence[tracking.Position]) -> dict[str, Any]:
    first = min(fix.fix_time for fix in fixes)
    last = max(fix.fix_time for fix in fixes)
    return {"device_id": device_id, "first": first, "last": last, "since": first - HISTORY_MARGIN}


def _track_state(rows: Sequence[_HistoryRow]) -> tracking.TrackState:
    return tracking.TrackState(
        stored_fix_times=[row.fix_time for row in rows],
        accepted=[
            tracking.Position(
                fix_time=row.fix_time, lat=row.lat, lon=row.lon, accuracy_m=row.accuracy_m
            )
            for row in rows
            if row.filter_reason is None
        ],
    )


POSITION_COLUMNS = (
    "device_id",
    "collector_id",
    "fix_time",
    "device_time",
    "server_time",
    "local_date",
    "lat",
    "lon",
    "accuracy_m",
    "speed_mps",
    "heading",
    "altitude_m",
    "battery",
    "provider",
    "mock",
    "attributes",
    "filter_reason",
    "distance_m",
    "zone_id",
)
"""The columns ingestion writes, in the order of :func:`_position_values`."""

LOCATION_COLUMNS = (
    "collector_id",
    "device_id",
    "fix_time",
    "server_time",
    "lat",
    "lon",
    "accuracy_m",
    "speed_mps",
    "heading",
    "battery",
    "provider",
    "mock",
    "zone_ids",
    "anchor_lat",
    "anchor_lon",
    "anchor_since",
)
"""The live row's columns: the keys of ``location`` in :meth:`PositionIntake.save`."""


class _StoredForms(NamedTuple):
    """How one engine's driver takes the values the column types would have produced."""

    time: Callable[[datetime | None], Any]
    day: Callable[[date], Any]
    attributes: Callable[[dict[str, Any]], Any]


def _position_values(
    device: DeviceRef,
    fix: tracking.Position,
    tz: ZoneInfo,
    forms: _StoredForms,
    server_time: Any,
) -> tuple[Any, ...]:
    """One fix as the values of :data:`POSITION_COLUMNS`, in the engine's stored forms; the
    batch's shared server time is converted once, by the caller."""
    fix_time = forms.time(fix.fix_time)
    return (
        device.id,
        device.collector_id,
        fix_time,
        fix_time if fix.device_time == fix.fix_time else forms.time(fix.device_time),
        server_time,
        forms.day(fix.fix_time.astimezone(tz).date()),
        fix.lat,
        fix.lon,
        fix.accuracy_m,
        fix.speed_mps,
        fix.heading_deg,
        fix.altitude_m,
        fix.battery_pct,
        (fix.provider or "")[:16] or None,
        fix.mock,
        forms.attributes(dict(fix.attributes)) if fix.attributes else None,
        fix.filter_reason.value if fix.filter_reason else None,
        fix.distance_m if fix.accepted else None,
        fix.zone_ids[0] if fix.zone_ids else None,
    )


# --------------------------------------------------------------------------------------------
# SQLite: Core in the session's transaction.


def _sqlite_time(moment: datetime | None) -> str | None:
    """UTC as SQLAlchemy's SQLite DATETIME stores it (microseconds always written), so
    rows inserted here compare and read back exactly like rows inserted through the ORM."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:  # decoders already give UTC: skip the conversion then
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


_SQLITE_FORMS = _StoredForms(_sqlite_time, date.isoformat, json.dumps)
"""Text times and dates, JSON text: what SQLAlchemy's SQLite types store."""

_TOUCH_DEVICE = (
    update(_DEVICES)
    .where(_DEVICES.c.id == bindparam("device_id"))
    .values(last_seen_at=bindparam("seen_at", type_=UTCDateTime()))
)
_SQLITE_POSITIONS = (
    f"INSERT INTO {_POSITIONS.name} ({', '.join(POSITION_COLUMNS)}) "
    f"VALUES ({', '.join(['?'] * len(POSITION_COLUMNS))}) "
    "ON CONFLICT (device_id, fix_time) DO NOTHING"
)
"""Positions as plain SQL for the driver's ``executemany``: a fix another request stored
meanwhile is skipped (unique device + fix time)."""


def _sqlite_upsert_location() -> Any:
    """The live row is created or moved forward, never back, so two requests racing with
    fixes of different ages leave the newer one."""
    location = sqlite.insert(_LOCATIONS)
    return location.on_conflict_do_update(
        index_elements=["collector_id"],
        set_={name: location.excluded[name] for name in LOCATION_COLUMNS[1:]},
        where=_LOCATIONS.c.fix_time < location.excluded.fix_time,
    )


_SQLITE_UPSERT_LOCATION = _sqlite_upsert_location()


class _SqliteIntake:
    """Core statements on the session's connection; :meth:`save` commits the session."""

    def device(self, column: DeviceKey, key: str) -> DeviceRef | None:
        statement = _device_statement("sqlite", column)
        row = db.session.connection().execute(statement, {"key": key}).first()
        return None if row is None else _device_ref(cast(_DeviceRow, row))

    def history(self, device_id: str, fixes: Sequence[tracking.Position]) -> tracking.TrackState:
        rows = db.session.connection().execute(_HISTORY, _history_parameters(device_id, fixes))
        return _track_state(cast(Sequence[_HistoryRow], rows.all()))

    def save(
        self,
        device: DeviceRef,
        fixes: Sequence[tracking.Position],
        tz: ZoneInfo,
        location: Mapping[str, Any] | None,
        seen_at: datetime | None,
    ) -> None:
        conn = db.session.connection()
        if fixes:
            conn.exec_driver_sql(_SQLITE_POSITIONS, _sqlite_rows(device, fixes, tz))
        if location is not None:
            conn.execute(_SQLITE_UPSERT_LOCATION, dict(location))
        if seen_at is not None:
            conn.execute(_TOUCH_DEVICE, {"device_id": device.id, "seen_at": seen_at})
        db.session.commit()


def _sqlite_rows(device: DeviceRef, fixes: Sequence[tracking.Position], tz: ZoneInfo) -> Any:
    """The rows handed straight to the driver, in SQLite's stored forms.

    SQLAlchemy's per-row parameter processing (type coercion of 19 columns) cost more CPU
    than the insert itself. A single row (an OsmAnd or OwnTracks fix) is a plain execute.
    """
    # A batch shares one server time: converted once, not once per fix.
    server_times = {moment: _sqlite_time(moment) for moment in {fix.server_time for fix in fixes}}
    rows = [
        _position_values(device, fix, tz, _SQLITE_FORMS, server_times[fix.server_time])
        for fix in fixes
    ]
    return rows[0] if len(rows) == 1 else rows


# --------------------------------------------------------------------------------------------
# PostgreSQL: psycopg in autocommit, one write statement.


@functools.cache
def _postgres_sql(statement: Any, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """A Core statement compiled for psycopg once: the SQL and its constant parameters."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)


@functools.cache
def _postgres_write(fixes: bool, location: bool, seen: bool) -> str:
    """One statement for everything a request writes. Data-modifying WITH clauses always run
    to completion, read or not, and the statement commits as a whole in autocommit.

    The fixes arrive as one JSON array of objects named like the columns: parsed by the
    server in one call, where psycopg's ``executemany`` spent twice the client CPU on
    per-row parameters.
    """
    columns = ", ".join(POSITION_COLUMNS)
    clauses = []
    if fixes:
        clauses.append(
            f"stored AS (INSERT INTO {_POSITIONS.name} ({columns}) SELECT {columns} "
            f"FROM json_populate_recordset(NULL::{_POSITIONS.name}, %(fixes)s::json) "
            "ON CONFLICT (device_id, fix_time) DO NOTHING)"
        )
    if location:
        values = ", ".join(
            f"%({name})s::json" if name == "zone_ids" else f"%({name})s"
            for name in LOCATION_COLUMNS
        )
        moved = ", ".join(f"{name} = EXCLUDED.{name}" for name in LOCATION_COLUMNS[1:])
        clauses.append(
            f"live AS (INSERT INTO {_LOCATIONS.name} ({', '.join(LOCATION_COLUMNS)}) "
            f"VALUES ({values}) ON CONFLICT (collector_id) DO UPDATE SET {moved} "
            f"WHERE {_LOCATIONS.name}.fix_time < EXCLUDED.fix_time)"
        )
    if seen:
        clauses.append(
            f"seen AS (UPDATE {_DEVICES.name} SET last_seen_at = %(seen_at)s "
            "WHERE id = %(device_id)s)"
        )
    return f"WITH {', '.join(clauses)} SELECT 1"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _utc(moment)


def _as_is(value: Any) -> Any:
    return value


_POSTGRES_FORMS = _StoredForms(_utc_or_none, _as_is, _as_is)
"""UTC times, dates and objects as they are: the JSON array carries them to the server."""


class _PostgresIntake:
    """Raw psycopg on one pooled connection in autocommit (see the module's docstring)."""

    def __init__(self, connection: Connection) -> None:
        self._driver = cast(psycopg.Connection[Any], connection.connection.driver_connection)
        self._cursor = self._driver.cursor()
        self._dialect = connection.dialect

    @property
    def lost(self) -> bool:
        """The connection to the server is gone (not merely a statement that failed)."""
        return self._driver.broken or self._driver.closed

    def device(self, column: DeviceKey, key: str) -> DeviceRef | None:
        sql, constants = _postgres_sql(_device_statement("postgresql", column), self._dialect)
        found = self._cursor.execute(sql, {**constants, "key": key}).fetchone()
        if found is None:
            return None
        row = _DeviceRow(*found)
        return _device_ref(
            row._replace(
                last_seen_at=row.last_seen_at and _utc(row.last_seen_at),
                location_fix_time=row.location_fix_time and _utc(row.location_fix_time),
                anchor_since=row.anchor_since and _utc(row.anchor_since),
            )
        )

    def history(self, device_id: str, fixes: Sequence[tracking.Position]) -> tracking.TrackState:
        sql, constants = _postgres_sql(_HISTORY, self._dialect)
        found = self._cursor.execute(
            sql, {**constants, **_history_parameters(device_id, fixes)}
        ).fetchall()
        return _track_state([_HistoryRow(_utc(row[0]), *row[1:]) for row in found])

    def save(
        self,
        device: DeviceRef,
        fixes: Sequence[tracking.Position],
        tz: ZoneInfo,
        location: Mapping[str, Any] | None,
        seen_at: datetime | None,
    ) -> None:
        if not fixes and location is None and seen_at is None:
            return
        parameters: dict[str, Any] = {"device_id": device.id, "seen_at": seen_at}
        if fixes:
            rows = []
            for fix in fixes:
                values = _position_values(device, fix, tz, _POSTGRES_FORMS, fix.server_time)
                rows.append(dict(zip(POSITION_COLUMNS, values, strict=True)))
            # The decoders refused coordinates that are not finite: JSON has no NaN.
            parameters["fixes"] = orjson.dumps(rows).decode()
        if location is not None:
            parameters.update(location)
            parameters["zone_ids"] = orjson.dumps(location["zone_ids"]).decode()
        sql = _postgres_write(bool(fixes), location is not None, seen_at is not None)
        self._cursor.execute(sql, parameters)
