"""What a supervisor sees per collector: a status, progress against the plan, and alerts.

Everything here is computed from a small summary (latest fix, where the collector has been
standing since, today's planned stops), so the live view of a thousand collectors needs no
track scans.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tracking.geo import haversine_m
from tracking.pipeline import ShiftWindow
from tracking.position import Position


class CollectorStatus(StrEnum):
    MOVING = "moving"
    AT_VISIT = "at_visit"
    IDLE = "idle"
    NO_SIGNAL = "no_signal"
    OFF_SHIFT = "off_shift"


class AlertKind(StrEnum):
    IDLE_TOO_LONG = "idle_too_long"
    OUTSIDE_ZONE = "outside_zone"
    BEHIND_PLAN = "behind_plan"
    DEVICE_SILENT = "device_silent"
    MOCK_LOCATION = "mock_location"


@dataclass(frozen=True, slots=True)
class StatusSettings:
    """The N minutes of the status rules; defaults suit collectors on foot or motorbike."""

    moving_speed_mps: float = 0.5
    stationary_radius_m: float = 50.0
    visit_radius_m: float = 75.0
    idle_after: timedelta = timedelta(minutes=15)
    no_signal_after: timedelta = timedelta(minutes=10)
    idle_alert_after: timedelta = timedelta(minutes=30)
    silent_alert_after: timedelta = timedelta(minutes=20)
    behind_plan_after: timedelta = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Anchor:
    """The place a collector has been standing at since ``since`` (first fix there)."""

    lat: float
    lon: float
    since: datetime


def advance_anchor(anchor: Anchor | None, latest: Position, radius_m: float) -> Anchor:
    """Move the anchor when the new latest fix leaves its radius; keep it otherwise.

    Kept incrementally at ingestion so idle time never needs the track.
    """
    if (
        anchor is not None
        and haversine_m(anchor.lat, anchor.lon, latest.lat, latest.lon) <= radius_m
    ):
        return anchor
    return Anchor(latest.lat, latest.lon, latest.fix_time)


@dataclass(frozen=True, slots=True)
class PlannedStop:
    """A stop of today's published route: where, when expected, when (if) it was visited."""

    lat: float
    lon: float
    eta: datetime | None
    done_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """Today's plan reduced to what the rules read, so a database can compute it per collector
    with one GROUP BY instead of shipping every stop.

    The "last visit" is the one done latest; its drift is ``last_done_at - last_done_eta``.
    """

    planned: int = 0
    done: int = 0
    next_eta: datetime | None = None
    """Earliest ETA among stops not visited yet."""
    last_done_at: datetime | None = None
    last_done_eta: datetime | None = None
    nearest_stop_m: float | None = None
    """Distance from the latest fix to the nearest planned stop."""


def summarize_plan(stops: Sequence[PlannedStop], latest: Position | None) -> PlanSummary:
    """Reduce a list of stops (and the latest fix) to a :class:`PlanSummary`."""
    done = [stop for stop in stops if stop.done_at is not None]
    timed_done = [(stop.done_at, stop.eta) for stop in done if stop.done_at and stop.eta]
    pending_etas = [stop.eta for stop in stops if stop.done_at is None and stop.eta]
    last_done_at, last_done_eta = max(timed_done) if timed_done else (None, None)
    distances = (
        [haversine_m(stop.lat, stop.lon, latest.lat, latest.lon) for stop in stops]
        if latest is not None
        else []
    )
    return PlanSummary(
        planned=len(stops),
        done=len(done),
        next_eta=min(pending_etas, default=None),
        last_done_at=last_done_at,
        last_done_eta=last_done_eta,
        nearest_stop_m=min((d for d in distances if not math.isnan(d)), default=None),
    )


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    planned: int
    drift_min: float | None
    """Minutes behind the ETAs (negative: ahead); None without a plan."""


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    since: datetime
    detail: str


@dataclass(frozen=True, slots=True)
class Situation:
    """The summary the rules read for one collector at ``now``."""

    now: datetime
    shift: ShiftWindow | None
    latest: Position | None
    anchor: Anchor | None = None
    plan: PlanSummary = PlanSummary()
    assigned_zone_ids: Collection[int] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    status: CollectorStatus
    progress: Progress
    alerts: tuple[Alert, ...]
    idle_min: float | None


def progress(plan: PlanSummary, now: datetime) -> Progress:
    """Visits done / planned and the drift: how late the last visit was against its ETA, or
    how overdue the next one already is, whichever is worse. Stops without an ETA count
    for done / planned only."""
    drifts: list[timedelta] = []
    if plan.last_done_at is not None and plan.last_done_eta is not None:
        drifts.append(plan.last_done_at - plan.last_done_eta)
    if plan.next_eta is not None and now > plan.next_eta:
        drifts.append(now - plan.next_eta)
    drift = max(drifts).total_seconds() / 60.0 if drifts else None
    return Progress(done=plan.done, planned=plan.planned, drift_min=drift)


def assess(situation: Situation, settings: StatusSettings | None = None) -> Assessment:
    """Status, progress and alerts for one collector."""
    rules = settings or StatusSettings()
    now, latest, shift = situation.now, situation.latest, situation.shift
    plan = progress(situation.plan, now)
    in_shift = shift is not None and now in shift
    silent = latest is None or now - latest.fix_time > rules.no_signal_after
    stationary_for = (
        now - situation.anchor.since if situation.anchor is not None and not silent else None
    )
    moving = latest is not None and (latest.speed_mps or 0.0) >= rules.moving_speed_mps
    nearest = situation.plan.nearest_stop_m
    at_door = latest is not None and nearest is not None and nearest <= rules.visit_radius_m
    if not in_shift:
        status = CollectorStatus.OFF_SHIFT
    elif silent:
        status = CollectorStatus.NO_SIGNAL
    elif at_door and not moving:
        status = CollectorStatus.AT_VISIT
    elif not moving and stationary_for is not None and stationary_for > rules.idle_after:
        status = CollectorStatus.IDLE
    else:
        # A pause shorter than the idle threshold (a crossing, a queue) is still transit.
        status = CollectorStatus.MOVING
    idle_min = (
        stationary_for.total_seconds() / 60.0
        if status is CollectorStatus.IDLE and stationary_for
        else None
    )
    alerts = _alerts(situation, rules, plan, status, in_shift) if shift is not None else ()
    return Assessment(status=status, progress=plan, alerts=alerts, idle_min=idle_min)


def _alerts(
    situation: Situation,
    rules: StatusSettings,
    plan: Progress,
    status: CollectorStatus,
    in_shift: bool,
) -> tuple[Alert, ...]:
    now, latest, anchor, shift = situation.now, situation.latest, situation.anchor, situation.shift
    alerts: list[Alert] = []
    if latest is not None and latest.mock:
        alerts.append(Alert(AlertKind.MOCK_LOCATION, latest.fix_time, "mock location reported"))
    if not in_shift or shift is None:
        return tuple(alerts)
    last_heard = latest.fix_time if latest is not None else shift.start
    if now - last_heard > rules.silent_alert_after:
        minutes = round((now - last_heard).total_seconds() / 60)
        alerts.append(Alert(AlertKind.DEVICE_SILENT, last_heard, f"no fix for {minutes} min"))
    if (
        status is CollectorStatus.IDLE
        and anchor is not None
        and now - anchor.since > rules.idle_alert_after
    ):
        minutes = round((now - anchor.since).total_seconds() / 60)
        alerts.append(Alert(AlertKind.IDLE_TOO_LONG, anchor.since, f"idle for {minutes} min"))
    if (
        latest is not None
        and status is not CollectorStatus.NO_SIGNAL
        and situation.assigned_zone_ids
        and not set(latest.zone_ids) & set(situation.assigned_zone_ids)
    ):
        alerts.append(Alert(AlertKind.OUTSIDE_ZONE, latest.fix_time, "outside assigned zones"))
    behind = rules.behind_plan_after.total_seconds() / 60.0
    if plan.drift_min is not None and plan.drift_min > behind:
        alerts.append(Alert(AlertKind.BEHIND_PLAN, now, f"{round(plan.drift_min)} min behind plan"))
    return tuple(alerts)
