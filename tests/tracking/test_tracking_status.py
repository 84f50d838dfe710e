"""Collector status, plan progress and field alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracking import (
    AlertKind,
    Anchor,
    CollectorStatus,
    PlannedStop,
    Position,
    ShiftWindow,
    Situation,
    StatusSettings,
    advance_anchor,
    assess,
    summarize_plan,
)

NOW = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
SHIFT = ShiftWindow(NOW - timedelta(hours=4), NOW + timedelta(hours=4))
LAT, LON = -12.0464, -77.0428
DOOR = PlannedStop(LAT + 0.0003, LON, eta=NOW - timedelta(minutes=5))  # 33 m away


def latest(minutes_ago: float = 1, *, speed: float = 0.0, **extra: object) -> Position:
    return Position(
        fix_time=NOW - timedelta(minutes=minutes_ago),
        lat=LAT,
        lon=LON,
        speed_mps=speed,
        **extra,  # type: ignore[arg-type]
    )


def situation(**overrides: object) -> Situation:
    fields: dict[str, object] = {
        "now": NOW,
        "shift": SHIFT,
        "latest": latest(),
        "anchor": Anchor(LAT, LON, NOW - timedelta(minutes=3)),
        "assigned_zone_ids": (),
    }
    stops = overrides.pop("stops", ())
    fields.update(overrides)
    latest_fix = fields["latest"]
    fields["plan"] = summarize_plan(stops, latest_fix)  # type: ignore[arg-type]
    return Situation(**fields)  # type: ignore[arg-type]


def kinds(s: Situation) -> set[AlertKind]:
    return {alert.kind for alert in assess(s).alerts}


def test_moving_when_speed_says_so_or_pause_is_short() -> None:
    assert assess(situation(latest=latest(speed=1.3))).status is CollectorStatus.MOVING
    assert assess(situation()).status is CollectorStatus.MOVING  # 3 min pause


def test_at_visit_near_a_planned_door() -> None:
    long_stay = Anchor(LAT, LON, NOW - timedelta(minutes=40))
    result = assess(situation(stops=(DOOR,), anchor=long_stay))
    assert result.status is CollectorStatus.AT_VISIT
    assert AlertKind.IDLE_TOO_LONG not in {a.kind for a in result.alerts}


def test_idle_after_threshold_and_alert_after_longer_threshold() -> None:
    sixteen = situation(anchor=Anchor(LAT, LON, NOW - timedelta(minutes=16)))
    result = assess(sixteen)
    assert result.status is CollectorStatus.IDLE
    assert result.idle_min == pytest.approx(16)
    assert AlertKind.IDLE_TOO_LONG not in kinds(sixteen)
    assert AlertKind.IDLE_TOO_LONG in kinds(
        situation(anchor=Anchor(LAT, LON, NOW - timedelta(minutes=31)))
    )


def test_no_signal_and_device_silent() -> None:
    quiet = situation(latest=latest(11))
    assert assess(quiet).status is CollectorStatus.NO_SIGNAL
    assert AlertKind.DEVICE_SILENT not in kinds(quiet)
    assert AlertKind.DEVICE_SILENT in kinds(situation(latest=latest(21)))
    never_heard = situation(latest=None, anchor=None)
    assert assess(never_heard).status is CollectorStatus.NO_SIGNAL
    assert AlertKind.DEVICE_SILENT in kinds(never_heard)  # silent since the shift began


def test_off_shift_raises_no_shift_alerts() -> None:
    evening = situation(now=SHIFT.end + timedelta(minutes=30), anchor=Anchor(LAT, LON, SHIFT.start))
    assert assess(evening).status is CollectorStatus.OFF_SHIFT
    assert kinds(evening) == set()
    assert assess(situation(shift=None)).status is CollectorStatus.OFF_SHIFT


def test_outside_assigned_zone() -> None:
    assert AlertKind.OUTSIDE_ZONE in kinds(situation(assigned_zone_ids=(3,)))
    inside = situation(latest=latest(zone_ids=(3,)), assigned_zone_ids=(3, 4))
    assert AlertKind.OUTSIDE_ZONE not in kinds(inside)
    assert AlertKind.OUTSIDE_ZONE not in kinds(situation())  # no zones assigned, no rule


def test_mock_location_alert() -> None:
    alerts = assess(situation(latest=latest(mock=True))).alerts
    assert [a.kind for a in alerts] == [AlertKind.MOCK_LOCATION]


def test_progress_and_behind_plan() -> None:
    stops = (
        PlannedStop(
            LAT, LON, eta=NOW - timedelta(hours=2), done_at=NOW - timedelta(hours=2, minutes=10)
        ),
        PlannedStop(LAT, LON, eta=NOW - timedelta(hours=1), done_at=NOW - timedelta(minutes=50)),
        PlannedStop(LAT, LON, eta=NOW - timedelta(minutes=31)),
        PlannedStop(LAT, LON, eta=NOW + timedelta(minutes=30)),
    )
    result = assess(situation(stops=stops, latest=latest(speed=1.0)))
    assert (result.progress.done, result.progress.planned) == (2, 4)
    assert result.progress.drift_min == pytest.approx(31)  # the third stop is 31 min overdue
    assert AlertKind.BEHIND_PLAN in {a.kind for a in result.alerts}


def test_ahead_of_plan_is_negative_drift() -> None:
    stops = (
        PlannedStop(LAT, LON, eta=NOW - timedelta(minutes=10), done_at=NOW - timedelta(minutes=25)),
        PlannedStop(LAT, LON, eta=NOW + timedelta(minutes=30)),
    )
    result = assess(situation(stops=stops))
    assert result.progress.drift_min == pytest.approx(-15)
    assert assess(situation()).progress.drift_min is None


def test_custom_thresholds() -> None:
    strict = StatusSettings(idle_after=timedelta(minutes=2))
    assert assess(situation(), strict).status is CollectorStatus.IDLE


def test_anchor_moves_only_when_the_collector_leaves_its_radius() -> None:
    start = Anchor(LAT, LON, NOW - timedelta(minutes=20))
    near = Position(fix_time=NOW, lat=LAT + 0.0004, lon=LON)  # 44 m
    far = Position(fix_time=NOW, lat=LAT + 0.0005, lon=LON)  # 56 m
    assert advance_anchor(start, near, 50.0) is start
    assert advance_anchor(start, far, 50.0) == Anchor(far.lat, far.lon, NOW)
    assert advance_anchor(None, near, 50.0).since == NOW
