"""Live tracking use cases: ingest positions, the live view and stream, tracks, alerts, purge.

The judging of fixes lives in the plain ``tracking`` package; this module feeds it the
device's stored history and the collector's shift and zones, stores what it returns and
announces changes on the stream.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time as time_module
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

import numpy as np
import redis
from flask import current_app
from sqlalchemy import (
    Select,
    Text,
    case,
    delete,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import CursorResult, Result

import tracking
from server.auth import hash_device_credential
from server.errors import ProblemError
from server.extensions import db
from server.models import (
    Account,
    Assignment,
    Collector,
    CollectorLocation,
    Device,
    FieldAlert,
    Photo,
    User,
    Visit,
    Zone,
    collector_zones,
)
from server.models import Position as PositionRow
from server.models.types import utcnow
from server.services.position_intake import (
    CollectorState,
    DeviceRef,
    PositionIntake,
)
from server.services.settings import get_settings
from tracking.geo import EARTH_RADIUS_M

log = logging.getLogger(__name__)

STREAM_CHANNEL = "tracking:events"
PUBLISH_LINGER_S = 0.02
"""How long the Redis publisher gathers events before sending them in one message: far
below what a map can show, and it turns hundreds of round trips a second into a few."""
MAX_BATCH = 1000


# --------------------------------------------------------------------------------------------
# The stream: in-process fan-out, or Redis pub/sub when several processes serve the API.


class Subscription:
    """One SSE client's queue; bounded so a stalled browser cannot eat the server's memory."""

    def __init__(self, hub: StreamHub) -> None:
        self._hub = hub
        self.queue: queue.Queue[str] = queue.Queue(maxsize=1000)

    def get(self, timeout: float) -> str | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._hub.unsubscribe(self)


class StreamHub:
    """Fans position and alert events out to subscribers.

    Without Redis, a publish reaches this process's subscribers only. With Redis, every
    publish goes to one channel and each process's listener thread fans it out locally, so a
    fix ingested by one server process reaches a map connected to another.
    """

    def __init__(self, redis_url: str | None) -> None:
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self._redis: Any = None
        self._listener: threading.Thread | None = None
        self._listening = threading.Event()
        self._outbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._publisher: threading.Thread | None = None
        self._closed = threading.Event()
        if redis_url:
            self._redis = redis.Redis.from_url(redis_url)

    def close(self) -> None:
        """Stop the Redis threads (events still queued are dropped); for tests and shutdown."""
        self._closed.set()
        self._outbox.put("")  # wakes the publisher, which sees the hub closed

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Announce an event; with Redis it is handed to this process's publisher thread.

        The request that stored a fix does not wait for Redis: at hundreds of fixes per
        second a round trip per request cost more than the rest of the request. The
        publisher waits a moment for more events and sends them, in order, as one Redis
        message (one line each), so every process's listener also wakes once per group.
        """
        message = json.dumps({"event": event, "data": data}, default=str)
        if self._redis is None:
            self._fan_out(message)
            return
        self._outbox.put(message)
        if self._publisher is None or not self._publisher.is_alive():
            with self._lock:
                if self._publisher is None or not self._publisher.is_alive():
                    self._publisher = threading.Thread(
                        target=self._publish_queued, name="tracking-stream-publish", daemon=True
                    )
                    self._publisher.start()

    def _publish_queued(self) -> None:
        while True:
            messages = [self._outbox.get()]
            time_module.sleep(PUBLISH_LINGER_S)
            if self._closed.is_set():
                return
            while len(messages) < 500:
                try:
                    messages.append(self._outbox.get_nowait())
                except queue.Empty:
                    break
            try:
                # JSON text never holds a raw newline, so lines separate the events.
                self._redis.publish(STREAM_CHANNEL, "\n".join(messages))
            except Exception:  # the stream is best effort; the fixes are already stored
                log.warning("tracking stream: Redis publish failed", exc_info=True)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        with self._lock:
            self._subscribers.add(subscription)
        if self._redis is not None:
            self._ensure_listener()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    def _fan_out(self, message: str) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            try:
                subscription.queue.put_nowait(message)
            except queue.Full:
                log.info("tracking stream: a slow subscriber missed an event")

    def _ensure_listener(self) -> None:
        with self._lock:
            if self._listener is None or not self._listener.is_alive():
                self._listening.clear()
                self._listener = threading.Thread(
                    target=self._listen, name="tracking-stream-redis", daemon=True
                )
                self._listener.start()
        # Return only once Redis confirmed the subscription, so no event published after
        # subscribe() returns can be missed.
        self._listening.wait(timeout=5)

    def _listen(self) -> None:
        """Relay Redis messages to local subscribers until the hub is closed, resubscribing
        after a lost connection (events published meanwhile are missed)."""
        while not self._closed.is_set():
            try:
                pubsub = self._redis.pubsub()
                pubsub.subscribe(STREAM_CHANNEL)
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._listening.set()
                    elif message["type"] == "message":
                        data = message["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        for line in text.split("\n"):
                            self._fan_out(line)
                pubsub.close()
            except redis.RedisError:
                log.warning("tracking stream: Redis connection lost; resubscribing", exc_info=True)
                time_module.sleep(1.0)


def stream_hub() -> StreamHub:
    """The current app's hub, created on first use from ``REDIS_URL``."""
    hub: StreamHub | None = current_app.extensions.get("tracking_stream")
    if hub is None:
        hub = StreamHub(current_app.config.get("REDIS_URL"))
        current_app.extensions["tracking_stream"] = hub
    return hub


def sse_events(subscription: Subscription, *, heartbeat_s: float = 15.0) -> Iterator[str]:
    """Server-Sent Events text for a subscription; comments keep proxies from timing out."""
    yield "retry: 3000\n: connected\n\n"
    try:
        while True:
            message = subscription.get(timeout=heartbeat_s)
            if message is None:
                yield ": keep-alive\n\n"
                continue
            event = json.loads(message)
            yield f"event: {event['event']}\ndata: {json.dumps(event['data'])}\n\n"
    finally:
        subscription.close()


# --------------------------------------------------------------------------------------------
# Agency time: shifts and local days.


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def shift_window(start_min: int, end_min: int, day: date, tz: ZoneInfo) -> tracking.ShiftWindow:
    """A shift given in minutes from local midnight, on a local day, as UTC instants."""
    midnight = datetime.combine(day, time(0), tzinfo=tz)
    return tracking.ShiftWindow(
        start=(midnight + timedelta(minutes=start_min)).astimezone(UTC),
        end=(midnight + timedelta(minutes=end_min)).astimezone(UTC),
    )


def _shift_windows(
    profile: CollectorState, tz: ZoneInfo, moments: Iterable[datetime]
) -> list[tracking.ShiftWindow]:
    days = {moment.astimezone(tz).date() for moment in moments}
    return [
        shift_window(profile.shift_start_min, profile.shift_end_min, day, tz)
        for day in sorted(days)
    ]


def _app_cache(name: str) -> dict[Any, Any]:
    """A per-app dictionary (never shared between apps, e.g. in tests)."""
    cache: dict[Any, Any] = current_app.extensions.setdefault(name, {})
    return cache


def _zone_index(versions: str | None) -> tracking.ZoneIndex | None:
    """The collector's assigned zones, indexed once per version of those zones."""
    if not versions:
        return None
    key = tuple(sorted(versions.split(",")))
    cache = _app_cache("tracking_zone_indexes")
    index: tracking.ZoneIndex | None = cache.get(key)
    if index is None:
        if len(cache) > 512:
            cache.clear()
        zone_ids = [int(version.partition("@")[0]) for version in key]
        geometries = db.session.execute(
            select(Zone.id, Zone.geometry).where(Zone.id.in_(zone_ids))
        ).all()
        db.session.commit()  # no connection idles in a transaction while the fixes are stored
        index = tracking.ZoneIndex(dict(geometries))
        cache[key] = index
    return index


# --------------------------------------------------------------------------------------------
# Ingestion: the pipeline between a device's fixes and the engine's position intake.


@dataclass(frozen=True, slots=True)
class IngestResult:
    received: int
    accepted: int
    filtered: int
    duplicates: int
    off_shift: int

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "filtered": self.filtered,
            "duplicates": self.duplicates,
            "off_shift": self.off_shift,
        }


def device_by_tracking_id(intake: PositionIntake, tracking_id: str) -> DeviceRef | None:
    """The active device an OsmAnd-protocol app identifies with ``id``/``device_id``, when
    its collector is active (a deactivated collector's devices are unknown)."""
    if not tracking_id or len(tracking_id) > 64:
        return None
    device = intake.device("tracking_id", tracking_id)
    return device if device is not None and device.user_active else None


def device_by_credential(intake: PositionIntake, credential_hash: str) -> DeviceRef | None:
    """The active device a handheld's bearer credential names, with its user's role and
    state, so a position batch authenticates and finds its device in one statement."""
    return intake.device("credential_hash", credential_hash)


def device_by_basic_auth(intake: PositionIntake, username: str, password: str) -> DeviceRef | None:
    """OwnTracks' HTTP Basic: user name = device id, password = the device credential; the
    device's collector must be active, as for our handheld's bearer credential."""
    device = intake.device("credential_hash", hash_device_credential(password))
    if device is None or device.id != username or not device.user_active:
        return None
    return device


LAST_SEEN_EVERY = timedelta(seconds=60)


def _collector_state(device: DeviceRef) -> CollectorState:
    """The collector's state, read with the device."""
    if device.collector is None:
        raise ProblemError(409, "Device without collector", "The device has no collector.")
    return device.collector


def ingest_positions(
    intake: PositionIntake,
    device: DeviceRef,
    fixes: Sequence[tracking.Position],
    *,
    now: datetime | None = None,
) -> IngestResult:
    """Run a device's fixes through the pipeline, store them once, update the live state.

    Fixes outside the collector's shift and fixes already stored are acknowledged and
    counted but not written; filtered fixes are written with their reason. Besides the
    device lookup (which also read the collector's shift, zones and live state) the intake
    reads the stored history around the fixes and then writes, all or nothing, the new
    fixes, the collector's live-state row (the live view reads that row instead of scanning
    positions) and, at most once a minute, the device's seen stamp.
    """
    now = now or utcnow()
    if not fixes:
        return IngestResult(0, 0, 0, 0, 0)
    profile = _collector_state(device)
    tz = ZoneInfo(profile.timezone) if profile.timezone else _tz()
    zones = _zone_index(profile.zone_versions)
    context = tracking.PipelineContext(
        now=now,
        state=intake.history(device.id, fixes),
        shifts=_shift_windows(profile, tz, (fix.fix_time for fix in fixes)),
        zones=zones,
    )
    results = tracking.run_pipeline(fixes, context)
    stored = [r.position for r in results if r.outcome is not tracking.Outcome.DISCARDED]
    accepted = [p for p in stored if p.accepted]
    moved = _advance_location(profile, zones is not None, device, accepted) if accepted else None
    seen = device.last_seen_at is None or now - device.last_seen_at > LAST_SEEN_EVERY
    intake.save(device, stored, tz, moved.row if moved else None, now if seen else None)
    if moved is not None:
        stream_hub().publish("position", moved.event)
        if moved.urgent:
            refresh_alerts(now=now, collector_ids=[profile.collector_id])
    discarded = [r for r in results if r.outcome is tracking.Outcome.DISCARDED]
    return IngestResult(
        received=len(results),
        accepted=len(accepted),
        filtered=len(stored) - len(accepted),
        duplicates=sum(r.discard_reason is tracking.DiscardReason.DUPLICATE for r in discarded),
        off_shift=sum(r.discard_reason is tracking.DiscardReason.OFF_SHIFT for r in discarded),
    )


@dataclass(frozen=True, slots=True)
class _Move:
    """The collector's live row moved to a newer fix: the row, its stream event, and whether
    the alerts must be re-evaluated at once (a mock location, or a zone border crossed)."""

    row: dict[str, Any]
    event: dict[str, Any]
    urgent: bool


def _advance_location(
    profile: CollectorState,
    has_zones: bool,
    device: DeviceRef,
    accepted: Sequence[tracking.Position],
) -> _Move | None:
    """Latest by fix time, not by arrival: an old fix arriving late never moves the marker.

    The scheduler re-evaluates the time-driven alerts. None when nothing newer arrived.
    """
    location = profile.location
    newer = sorted(
        (p for p in accepted if location is None or p.fix_time > location.fix_time),
        key=lambda p: p.fix_time,
    )
    if not newer:
        return None
    radius = tracking.StatusSettings().stationary_radius_m
    latest = newer[-1]
    anchor = (
        location.anchor
        if location is not None
        else tracking.Anchor(newer[0].lat, newer[0].lon, newer[0].fix_time)
    )
    for fix in newer:
        anchor = tracking.advance_anchor(anchor, fix, radius)
    row = {
        "collector_id": profile.collector_id,
        "device_id": device.id,
        "fix_time": latest.fix_time,
        "server_time": latest.server_time or utcnow(),
        "lat": latest.lat,
        "lon": latest.lon,
        "accuracy_m": latest.accuracy_m,
        "speed_mps": latest.speed_mps,
        "heading": latest.heading_deg,
        "battery": latest.battery_pct,
        "provider": (latest.provider or "")[:16] or None,
        "mock": latest.mock,
        "zone_ids": list(latest.zone_ids),
        "anchor_lat": anchor.lat,
        "anchor_lon": anchor.lon,
        "anchor_since": anchor.since,
    }
    crossed = has_zones and (location is None or tuple(location.zone_ids or ()) != latest.zone_ids)
    event = {
        "collector_id": profile.collector_id,
        "username": profile.username,
        "lat": latest.lat,
        "lon": latest.lon,
        "fix_time": latest.fix_time.isoformat(),
        "accuracy_m": latest.accuracy_m,
        "speed_mps": latest.speed_mps,
        "heading": latest.heading_deg,
        "battery": latest.battery_pct,
        "mock": latest.mock,
    }
    return _Move(row, event, latest.mock or crossed)


# --------------------------------------------------------------------------------------------
# Live view and alerts share one assessment of every collector.


@dataclass(slots=True)
class _CollectorView:
    collector_id: int
    username: str
    row: _LiveRow
    assessment: tracking.Assessment


METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0


@dataclass(frozen=True, slots=True)
class _PlannedStops:
    """One collector's located stops of the day, as coordinate arrays."""

    version: tuple[int, datetime | None]
    loaded_at: float
    lat: np.ndarray
    lon: np.ndarray


STOPS_TTL_S = 300.0
"""Stop coordinates are re-read when the collector's assignments change, and at least this
often (a re-geocoded address)."""
STOPS_REFRESH_PER_CALL = 100
"""How many collectors whose stops merely aged past the TTL one live call re-reads (oldest
first). Re-reading all thousand at once made every fifth minute's call take 63-67 ms of CPU
instead of 35-40 ms; a hundred cost about 5 ms (in-process, 20 stops each)."""


PLAN_RECHECK_S = 15.0
"""Today's progress of every collector is re-read when the day's fingerprint moves, and at
least this often: an assignment change whose ``updated_at`` was taken before another's but
committed after it leaves the latest ``updated_at`` where it was."""


class _ProgressRow(NamedTuple):
    """One collector's row of :func:`_progress_query` (a tuple: cheap to read a thousand)."""

    collector_id: int
    planned: int
    done: int | None
    next_eta: datetime | None
    last_done_at: datetime | None
    last_done_eta: datetime | None
    changed_at: datetime | None


@dataclass(frozen=True, slots=True)
class _DayProgress:
    """Every collector's progress rows for one day, as read at a fingerprint of the day."""

    fingerprint: tuple[Any, ...]
    read_at: float
    rows: dict[int, _ProgressRow]


def _progress_query(day: date) -> Select[Any]:
    """Per collector: assignments planned and done, next ETA, last visit and its ETA."""
    done_at = (
        select(Visit.assignment_id, func.min(Visit.checked_in_at).label("done_at"))
        .where(Visit.local_date == day, Visit.assignment_id.is_not(None))
        .group_by(Visit.assignment_id)
        .subquery()
    )
    is_done = or_(done_at.c.done_at.is_not(None), Assignment.status == "done")
    finished = func.coalesce(
        done_at.c.done_at, case((Assignment.status == "done", Assignment.updated_at))
    )
    return (
        select(
            Assignment.collector_id,
            func.count().label("planned"),
            func.sum(case((is_done, 1), else_=0)).label("done"),
            func.min(case((not_(is_done), Assignment.eta))).label("next_eta"),
            func.max(finished).label("last_done_at"),
            func.max(case((is_done, Assignment.eta))).label("last_done_eta"),
            func.max(Assignment.updated_at).label("changed_at"),
        )
        .outerjoin(done_at, done_at.c.assignment_id == Assignment.id)
        .where(Assignment.date == day, Assignment.status != "removed")
        .group_by(Assignment.collector_id)
    )


def _day_fingerprint(day: date) -> Select[Any]:
    """What the day's progress is computed from, read from two indexes in one round trip.

    Visits are only ever added, so their count moves with each one (a visit done); every
    change to an assignment (publication, reassignment, status) moves its ``updated_at``,
    and an added or removed one the count.
    """
    return select(
        select(func.count()).where(Assignment.date == day).scalar_subquery(),
        select(func.max(Assignment.updated_at)).where(Assignment.date == day).scalar_subquery(),
        select(func.count()).where(Visit.local_date == day).scalar_subquery(),
    )


def _progress_by_collector(result: Result[Any]) -> dict[int, _ProgressRow]:
    if tuple(result.keys()) != _ProgressRow._fields:
        raise RuntimeError("the progress query and _ProgressRow disagree")
    return {row[0]: _ProgressRow._make(row) for row in result.all()}


def _progress_rows(day: date, collector_ids: Sequence[int] | None) -> dict[int, _ProgressRow]:
    """Each collector's progress row for ``day``.

    The GROUP BY over the day's assignments is most of the live view's database time, and
    its answer changes only when a visit is done or the plan changes: for the whole team it
    is kept per day and re-read when the day's fingerprint moves (or after
    ``PLAN_RECHECK_S``). A few collectors (alerts after one device's batch) are read
    directly.
    """
    conn = db.session.connection()
    if collector_ids is not None:
        query = _progress_query(day).where(Assignment.collector_id.in_(collector_ids))
        return _progress_by_collector(conn.execute(query))
    cache: dict[date, _DayProgress] = _app_cache("tracking_day_progress")
    # The fingerprint first: rows read after it are at least as new, so a change between the
    # two reads is seen again on the next call rather than lost.
    fingerprint = tuple(conn.execute(_day_fingerprint(day)).one())
    clock = time_module.monotonic()
    entry = cache.get(day)
    if entry is None or entry.fingerprint != fingerprint or clock - entry.read_at > PLAN_RECHECK_S:
        rows = _progress_by_collector(conn.execute(_progress_query(day)))
        entry = cache[day] = _DayProgress(fingerprint, clock, rows)
        for old in sorted(cache)[:-2]:  # keep today and yesterday only
            del cache[old]
    return entry.rows


def _plan_summaries(
    day: date, collector_ids: Sequence[int] | None, locations: dict[int, tuple[float, float]]
) -> dict[int, tracking.PlanSummary]:
    """Today's plan per collector: progress from the database (see ``_progress_rows``), the
    nearest stop from cached stop coordinates.

    Stop coordinates only change with the assignments, so they are kept per collector and
    day until the collector's assignment count or latest ``updated_at`` moves; the join of
    every stop with its account is the expensive part of the query and is skipped. The
    nearest stop uses an equirectangular distance (exact to centimetres at door scale).
    """
    rows = _progress_rows(day, collector_ids)
    stops = _planned_stops(
        day, {collector_id: (row.planned, row.changed_at) for collector_id, row in rows.items()}
    )
    nearest = _nearest_stops_m(stops, locations)
    return {
        collector_id: tracking.PlanSummary(
            planned=row.planned,
            done=int(row.done or 0),
            next_eta=row.next_eta,
            last_done_at=row.last_done_at,
            last_done_eta=row.last_done_eta,
            nearest_stop_m=nearest.get(collector_id),
        )
        for collector_id, row in rows.items()
    }


def _nearest_stops_m(
    stops: dict[int, _PlannedStops], locations: dict[int, tuple[float, float]]
) -> dict[int, float]:
    """Metres from each located collector to the nearest of their stops, for everyone at once:
    one array of every stop, one minimum per collector's segment of it."""
    ids = [cid for cid in locations if cid in stops and stops[cid].lat.size]
    if not ids:
        return {}
    counts = np.array([stops[cid].lat.size for cid in ids])
    here = np.array([locations[cid] for cid in ids], dtype=float)
    k = np.repeat(np.cos(np.radians(here[:, 0])) ** 2, counts)
    d_lat = np.concatenate([stops[cid].lat for cid in ids]) - np.repeat(here[:, 0], counts)
    d_lon = np.concatenate([stops[cid].lon for cid in ids]) - np.repeat(here[:, 1], counts)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    nearest_sq_deg = np.minimum.reduceat(d_lat * d_lat + d_lon * d_lon * k, starts)
    return dict(zip(ids, (np.sqrt(nearest_sq_deg) * METRES_PER_DEGREE).tolist(), strict=True))


def _planned_stops(
    day: date, versions: dict[int, tuple[int, datetime | None]]
) -> dict[int, _PlannedStops]:
    """Each collector's stop coordinates for ``day``: re-read at once for collectors whose
    assignments changed, a slice per call for those that only aged."""
    cache: dict[int, _PlannedStops] = _app_cache("tracking_planned_stops").setdefault(day, {})
    if len(_app_cache("tracking_planned_stops")) > 2:  # keep today and yesterday only
        for old in sorted(_app_cache("tracking_planned_stops"))[:-2]:
            del _app_cache("tracking_planned_stops")[old]
    clock = time_module.monotonic()
    stale = []
    aged = []
    for collector_id, version in versions.items():
        entry = cache.get(collector_id)
        if entry is None or entry.version != version:
            stale.append(collector_id)
        elif clock - entry.loaded_at > STOPS_TTL_S:
            aged.append((entry.loaded_at, collector_id))
    stale.extend(collector_id for _, collector_id in sorted(aged)[:STOPS_REFRESH_PER_CALL])
    if stale:
        coordinates: dict[int, tuple[list[float], list[float]]] = {
            collector_id: ([], []) for collector_id in stale
        }
        query = (
            select(Assignment.collector_id, Account.lat, Account.lon)
            .join(Account, Account.id == Assignment.account_id)
            .where(Assignment.date == day, Assignment.status != "removed")
        )
        if len(stale) < len(versions) or len(stale) < 500:
            query = query.where(Assignment.collector_id.in_(stale))
        for collector_id, lat, lon in db.session.connection().execute(query):
            if collector_id in coordinates and lat is not None and lon is not None:
                coordinates[collector_id][0].append(lat)
                coordinates[collector_id][1].append(lon)
        for collector_id, (lats, lons) in coordinates.items():
            cache[collector_id] = _PlannedStops(
                versions[collector_id],
                clock,
                np.array(lats, dtype=float),
                np.array(lons, dtype=float),
            )
    return cache


def _status_settings() -> tracking.StatusSettings:
    settings = get_settings()
    return tracking.StatusSettings(
        idle_alert_after=timedelta(minutes=settings.idle_alert_min),
        silent_alert_after=timedelta(minutes=settings.silent_alert_min),
        behind_plan_after=timedelta(minutes=settings.behind_plan_alert_min),
    )


class _LiveRow(NamedTuple):
    """A collector's row of the live query: identity, shift, last sync and the latest fix's
    columns (all None before the first fix).

    A plain named tuple: the loop reads some twenty fields of a thousand rows, and a
    SQLAlchemy Row's attribute lookup costs ten times a tuple's.
    """

    id: int
    code: str
    full_name: str
    shift_start_min: int
    shift_end_min: int
    username: str
    last_sync_at: datetime | None
    fix_time: datetime | None
    server_time: datetime | None
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    speed_mps: float | None
    heading: float | None
    battery: float | None
    mock: bool | None
    zone_ids_json: str | None
    """As text, decoded only for collectors with assigned zones: the outside-zone rule is
    the only reader, and decoding a thousand JSON lists per call is not free."""
    anchor_lat: float | None
    anchor_lon: float | None
    anchor_since: datetime | None


def _live_query() -> Select[*tuple[Any, ...]]:
    """Every active collector with the columns of :class:`_LiveRow`, in its order."""
    # Correlated, so each collector's devices are read through the index; a grouped subquery
    # over every device costs twice as much on SQLite.
    last_sync = (
        select(func.max(Device.last_sync_at))
        .where(Device.collector_id == Collector.id, Device.revoked_at.is_(None))
        .correlate(Collector)
        .scalar_subquery()
    )
    location = CollectorLocation
    return (
        select(
            Collector.id,
            Collector.code,
            Collector.full_name,
            Collector.shift_start_min,
            Collector.shift_end_min,
            User.username,
            last_sync.label("last_sync_at"),
            location.fix_time,
            location.server_time,
            location.lat,
            location.lon,
            location.accuracy_m,
            location.speed_mps,
            location.heading,
            location.battery,
            location.mock,
            sql_cast(location.zone_ids, Text).label("zone_ids_json"),
            location.anchor_lat,
            location.anchor_lon,
            location.anchor_since,
        )
        .join(User, User.id == Collector.user_id)
        .outerjoin(location, location.collector_id == Collector.id)
        .where(Collector.active.is_(True))
        .order_by(Collector.id)
    )


def _latest_position(row: _LiveRow, assigned_zone_ids: Sequence[int]) -> tracking.Position | None:
    """The row's latest fix; None before the first."""
    if row.fix_time is None or row.lat is None or row.lon is None:
        return None
    zone_ids: tuple[int, ...] = ()
    if assigned_zone_ids and row.zone_ids_json:
        zone_ids = tuple(json.loads(row.zone_ids_json) or ())
    return tracking.Position(
        fix_time=row.fix_time,
        lat=row.lat,
        lon=row.lon,
        accuracy_m=row.accuracy_m,
        speed_mps=row.speed_mps,
        heading_deg=row.heading,
        battery_pct=row.battery,
        mock=bool(row.mock),
        zone_ids=zone_ids,
    )


def _anchor(row: _LiveRow) -> tracking.Anchor | None:
    if row.anchor_lat is None or row.anchor_lon is None or row.anchor_since is None:
        return None
    return tracking.Anchor(row.anchor_lat, row.anchor_lon, row.anchor_since)


_NO_PLAN = tracking.PlanSummary()


def _collector_views(
    now: datetime, collector_ids: Sequence[int] | None = None
) -> list[_CollectorView]:
    """Every active collector assessed at ``now`` from a handful of set-based queries."""
    tz = _tz()
    today = now.astimezone(tz).date()
    query = _live_query()
    zones_query = select(collector_zones.c.collector_id, collector_zones.c.zone_id)
    if collector_ids is not None:
        query = query.where(Collector.id.in_(collector_ids))
        zones_query = zones_query.where(collector_zones.c.collector_id.in_(collector_ids))
    # Core on the session's connection: a thousand rows skip the ORM's result machinery.
    conn = db.session.connection()
    result = conn.execute(query)
    if tuple(result.keys()) != _LiveRow._fields:
        raise RuntimeError("the live query and _LiveRow disagree")
    rows = [_LiveRow._make(row) for row in result.all()]  # one fetch, not one per row
    zones: dict[int, list[int]] = {}
    for collector_id, zone_id in conn.execute(zones_query):
        zones.setdefault(collector_id, []).append(zone_id)
    locations = {
        row.id: (row.lat, row.lon) for row in rows if row.lat is not None and row.lon is not None
    }
    plans = _plan_summaries(today, collector_ids, locations)
    rules = _status_settings()
    shifts: dict[tuple[int, int], tracking.ShiftWindow] = {}
    views = []
    for row in rows:
        hours = (row.shift_start_min, row.shift_end_min)
        shift = shifts.get(hours)
        if shift is None:  # most collectors share a few shifts
            shift = shifts[hours] = shift_window(*hours, today, tz)
        assigned = zones.get(row.id, ())
        latest = _latest_position(row, assigned)
        situation = tracking.Situation(
            now=now,
            shift=shift,
            latest=latest,
            anchor=_anchor(row) if latest is not None else None,
            plan=plans.get(row.id, _NO_PLAN),
            assigned_zone_ids=assigned,
        )
        views.append(
            _CollectorView(
                collector_id=row.id,
                username=row.username,
                row=row,
                assessment=tracking.assess(situation, rules),
            )
        )
    return views


def _feature(view: _CollectorView) -> dict[str, Any]:
    """One collector as a GeoJSON Feature, built as literals, a thousand per call.

    Times and enums are left as objects: the encoder writes them (ISO 8601, the enum's
    value) faster than Python can format them one by one.
    """
    row, assessment = view.row, view.assessment
    progress = assessment.progress
    idle_min, drift_min = assessment.idle_min, progress.drift_min
    return {
        "type": "Feature",
        "id": row.id,
        "geometry": (
            None if row.fix_time is None else {"type": "Point", "coordinates": [row.lon, row.lat]}
        ),
        "properties": {
            "collector_id": row.id,
            "username": row.username,
            "code": row.code,
            "full_name": row.full_name,
            "status": assessment.status,
            "idle_min": None if idle_min is None else round(idle_min, 1),
            "visits_done": progress.done,
            "visits_planned": progress.planned,
            "drift_min": None if drift_min is None else round(drift_min),
            "alerts": [alert.kind for alert in assessment.alerts],
            "last_sync_at": row.last_sync_at,
            # A collector without a fix yet has the same properties, empty (NULL columns of
            # the outer join).
            "fix_time": row.fix_time,
            "server_time": row.server_time,
            "accuracy_m": row.accuracy_m,
            "speed_mps": row.speed_mps,
            "heading": row.heading,
            "battery": row.battery,
            "mock": bool(row.mock),
        },
    }


def live_view(*, now: datetime | None = None) -> dict[str, Any]:
    """Every active collector's latest fix (by fix time), status and progress as GeoJSON.

    Datetimes (aware, UTC) and status enums are left for the JSON encoder (see
    ``server.api.common.json_response``), which the view calls once for the whole document.
    """
    now = now or utcnow()
    features = [_feature(view) for view in _collector_views(now)]
    return {"type": "FeatureCollection", "generated_at": now, "features": features}


_TRACKING_ALERT_KINDS = [kind.value for kind in tracking.AlertKind]
"""The kinds judged from positions; other field alerts (cash in hand) have their own check."""


def refresh_alerts(
    *, now: datetime | None = None, collector_ids: Sequence[int] | None = None
) -> list[FieldAlert]:
    """Open alerts that now hold, resolve those that no longer do; announce both."""
    now = now or utcnow()
    views = _collector_views(now, collector_ids)
    scope = [view.collector_id for view in views]
    open_alerts = db.session.execute(
        select(FieldAlert).where(
            FieldAlert.resolved_at.is_(None),
            FieldAlert.collector_id.in_(scope),
            FieldAlert.kind.in_(_TRACKING_ALERT_KINDS),
        )
    ).scalars()
    current = {(alert.collector_id, alert.kind): alert for alert in open_alerts}
    raised: list[FieldAlert] = []
    resolved: list[FieldAlert] = []
    holding: set[tuple[int, str]] = set()
    for view in views:
        for alert in view.assessment.alerts:
            key = (view.collector_id, alert.kind.value)
            holding.add(key)
            if key in current:
                continue
            row = FieldAlert(
                collector_id=view.collector_id,
                kind=alert.kind.value,
                raised_at=now,
                details={"detail": alert.detail, "since": alert.since.isoformat()},
            )
            db.session.add(row)
            raised.append(row)
    for key, row in current.items():
        if key not in holding:
            row.resolved_at = now
            resolved.append(row)
    db.session.commit()
    hub = stream_hub()
    usernames = {view.collector_id: view.username for view in views}
    for row in raised:
        hub.publish("alert", alert_dict(row, usernames.get(row.collector_id)))
    for row in resolved:
        hub.publish("alert_resolved", alert_dict(row, usernames.get(row.collector_id)))
    return raised


def alert_dict(alert: FieldAlert, username: str | None = None) -> dict[str, Any]:
    details = alert.details or {}
    return {
        "id": alert.id,
        "collector_id": alert.collector_id,
        "username": username,
        "kind": alert.kind,
        "detail": details.get("detail"),
        "since": details.get("since"),
        "raised_at": alert.raised_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def list_alerts(
    *, include_resolved: bool = False, collector_id: int | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Field alerts, re-evaluated first so time-driven ones (idle, silent) are current."""
    refresh_alerts(now=now)
    query = (
        select(FieldAlert, User.username)
        .join(Collector, Collector.id == FieldAlert.collector_id)
        .join(User, User.id == Collector.user_id)
        .order_by(FieldAlert.raised_at.desc(), FieldAlert.id.desc())
    )
    if not include_resolved:
        query = query.where(FieldAlert.resolved_at.is_(None))
    if collector_id is not None:
        query = query.where(FieldAlert.collector_id == collector_id)
    return [alert_dict(alert, username) for alert, username in db.session.execute(query)]


# --------------------------------------------------------------------------------------------
# History.


def collector_track(collector_id: int, day: date) -> tuple[Collector, list[tracking.Position]]:
    """A collector's accepted fixes of one agency-local day, in fix-time order."""
    collector = db.session.get(Collector, collector_id)
    if collector is None:
        raise ProblemError(404, "Not Found", "No such collector.")
    rows = db.session.execute(
        select(PositionRow)
        .where(
            PositionRow.collector_id == collector_id,
            PositionRow.local_date == day,
            PositionRow.filter_reason.is_(None),
        )
        .order_by(PositionRow.fix_time)
    ).scalars()
    fixes = [
        tracking.Position(
            fix_time=row.fix_time,
            lat=row.lat,
            lon=row.lon,
            accuracy_m=row.accuracy_m,
            speed_mps=row.speed_mps,
            heading_deg=row.heading,
            altitude_m=row.altitude_m,
        )
        for row in rows
    ]
    return collector, fixes


def track_geojson(collector_id: int, day: date) -> dict[str, Any]:
    """The day as a LineString plus detected stops, with the distance of the filtered track."""
    collector, fixes = collector_track(collector_id, day)
    stops = tracking.detect_stops(fixes)
    return tracking.track_geojson(
        fixes,
        stops,
        collector_id=collector.id,
        username=collector.user.username if collector.user else None,
        date=day.isoformat(),
    )


def track_gpx(collector_id: int, day: date) -> str:
    collector, fixes = collector_track(collector_id, day)
    username = collector.user.username if collector.user else collector.code
    return tracking.track_gpx(fixes, tracking.detect_stops(fixes), name=f"{username} {day}")


# --------------------------------------------------------------------------------------------
# Geo-verified photos.


def verify_photo_location(photo: Photo, image: Path) -> None:
    """Compare a stored photo's EXIF GPS with its account's location and keep the verdict.

    Called when the bytes are stored (tus upload finished) and when a photo's metadata
    arrives for bytes already stored, whichever comes last. A photo without EXIF GPS is
    ``no_fix``; the flags sit beside the check-in's own verification of the visit.
    """
    account = db.session.get(Account, photo.account_id)
    target = (
        (account.lat, account.lon)
        if account is not None and account.lat is not None and account.lon is not None
        else None
    )
    point = tracking.photo_gps(image.read_bytes())
    verdict = tracking.verify_location(
        point, target, radius_m=float(get_settings().verify_radius_m)
    )
    photo.exif_lat, photo.exif_lon = point if point is not None else (None, None)
    photo.geo_status = verdict.status.value
    photo.geo_distance_m = None if verdict.distance_m is None else round(verdict.distance_m, 1)


# --------------------------------------------------------------------------------------------
# Retention.


def purge_positions(*, now: datetime | None = None, retention_days: int | None = None) -> int:
    """Delete positions older than the retention period (agency setting, default 90 days).

    One collector at a time, through the (collector, fix time) index: no index on time alone
    is kept for this nightly job, and short transactions never hold ingestion back for long.
    """
    now = now or utcnow()
    days = retention_days if retention_days is not None else get_settings().position_retention_days
    if days < 1:
        raise ValueError("retention must be at least one day")
    cutoff = now - timedelta(days=days)
    total = 0
    for collector_id in db.session.execute(select(Collector.id)).scalars().all():
        deleted = cast(
            CursorResult[Any],
            db.session.execute(
                delete(PositionRow).where(
                    PositionRow.collector_id == collector_id, PositionRow.fix_time < cutoff
                )
            ),
        )
        db.session.commit()
        total += int(deleted.rowcount or 0)
    return total


def ingest_batch(intake: PositionIntake, device: DeviceRef, body: object) -> IngestResult:
    """Our handheld's batch ``{"positions": [...]}``, decoded by the plain decoder.

    The decoder validates every fix (units, unknown fields, times) and reports problems by
    index; it is several times faster than a nested marshmallow load of the same batch,
    which matters at thousands of fixes per second.
    """
    if not isinstance(body, dict) or set(body) != {"positions"}:
        raise ProblemError(
            422,
            "Unprocessable Content",
            'The body must be {"positions": [...]}.',
            errors={"positions": ["Required; no other members."]},
        )
    fixes = body["positions"]
    if not isinstance(fixes, list) or not 1 <= len(fixes) <= MAX_BATCH:
        raise ProblemError(
            422,
            "Unprocessable Content",
            f"positions must hold 1 to {MAX_BATCH} fixes.",
            errors={"positions": [f"Between 1 and {MAX_BATCH} fixes."]},
        )
    now = utcnow()
    try:
        positions = tracking.decode_batch(fixes, server_time=now)
    except tracking.DecodeError as error:
        errors = {f"positions.{field}": [reason] for field, reason in error.errors.items()}
        raise ProblemError(422, "Unprocessable Content", str(error), errors=errors) from error
    return ingest_positions(intake, device, positions, now=now)
