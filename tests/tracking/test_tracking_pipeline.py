"""The pipeline's handlers one by one, then batches resent, shuffled and late."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tracking import (
    DiscardReason,
    FilterReason,
    Outcome,
    PipelineContext,
    PipelineSettings,
    Position,
    ShiftWindow,
    TrackState,
    ZoneIndex,
    run_pipeline,
)

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
LAT, LON = -12.0464, -77.0428
STEP_DEG = 0.001  # 111.2 m of latitude


def fix(
    minutes_ago: float, *, north_steps: float = 0.0, accuracy_m: float = 5.0, valid: bool = True
) -> Position:
    return Position(
        fix_time=NOW - timedelta(minutes=minutes_ago),
        lat=LAT + north_steps * STEP_DEG,
        lon=LON,
        accuracy_m=accuracy_m,
        valid=valid,
    )


def only(positions: list[Position], context: PipelineContext | None = None) -> Outcome:
    results = run_pipeline(positions, context or PipelineContext(now=NOW))
    return results[-1].outcome


@pytest.mark.parametrize(
    ("position", "reason"),
    [
        (fix(1, north_steps=200_000), FilterReason.INVALID),  # latitude beyond 90
        (Position(fix_time=NOW, lat=float("nan"), lon=LON), FilterReason.INVALID),
        (fix(1, valid=False), FilterReason.INVALID),
        (Position(fix_time=NOW, lat=0.0, lon=0.0), FilterReason.ZERO),
        (fix(-6), FilterReason.FUTURE),
        (fix(1, accuracy_m=101.0), FilterReason.ACCURACY),
    ],
    ids=["out-of-range", "nan", "device-invalid", "zero", "future", "accuracy"],
)
def test_each_filter_stores_the_fix_with_its_reason(
    position: Position, reason: FilterReason
) -> None:
    [result] = run_pipeline([position], PipelineContext(now=NOW))
    assert result.outcome is Outcome.FILTERED
    assert result.position.filter_reason is reason
    assert result.position.server_time == NOW


def test_thresholds_are_inclusive_where_the_fix_is_still_good() -> None:
    settings = PipelineSettings(max_accuracy_m=100.0)
    context = PipelineContext(now=NOW, settings=settings)
    results = run_pipeline([fix(2, accuracy_m=100.0), fix(-4)], context)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED]


def test_speed_jump_from_previous_accepted_fix_is_filtered() -> None:
    # 10 km north in 60 s is 166 m/s; 111 m in 60 s is a walk.
    results = run_pipeline(
        [fix(3), fix(2, north_steps=1), fix(1, north_steps=91)], PipelineContext(now=NOW)
    )
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.FILTERED]
    assert results[2].position.filter_reason is FilterReason.SPEED_JUMP
    assert results[1].position.distance_m == pytest.approx(111.195, abs=0.01)
    assert results[2].position.distance_m == 0.0  # filtered fixes measure nothing


def test_after_a_jump_the_next_fix_is_judged_against_the_last_good_one() -> None:
    results = run_pipeline(
        [fix(3), fix(2, north_steps=500), fix(1, north_steps=1)], PipelineContext(now=NOW)
    )
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.FILTERED, Outcome.ACCEPTED]
    assert results[2].position.distance_m == pytest.approx(111.195, abs=0.01)


def test_accuracy_radii_absorb_jitter_between_close_fixes() -> None:
    a = Position(fix_time=NOW, lat=LAT, lon=LON, accuracy_m=40.0)
    b = Position(fix_time=NOW + timedelta(seconds=1), lat=LAT + 0.0006, lon=LON, accuracy_m=40.0)
    assert only([a, b]) is Outcome.ACCEPTED  # 67 m apart, 80 m of combined uncertainty


def test_resent_batch_stores_nothing_twice() -> None:
    batch = [fix(m, north_steps=10 - m) for m in range(10, 0, -1)]
    state = TrackState()
    first = run_pipeline(batch, PipelineContext(now=NOW, state=state))
    again = run_pipeline(batch, PipelineContext(now=NOW, state=state))
    assert all(r.outcome is Outcome.ACCEPTED for r in first)
    assert {r.discard_reason for r in again} == {DiscardReason.DUPLICATE}


def test_duplicate_inside_one_batch_and_of_a_filtered_fix() -> None:
    filtered = fix(5, accuracy_m=500.0)
    results = run_pipeline([filtered, fix(3), filtered, fix(3)], PipelineContext(now=NOW))
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == sorted(
        [Outcome.FILTERED, Outcome.DISCARDED, Outcome.ACCEPTED, Outcome.DISCARDED]
    )


def test_duplicate_of_an_already_stored_fix_time_is_discarded() -> None:
    state = TrackState(stored_fix_times=[NOW - timedelta(minutes=1)])
    [result] = run_pipeline([fix(1, north_steps=3)], PipelineContext(now=NOW, state=state))
    assert result.discard_reason is DiscardReason.DUPLICATE


def test_shuffled_batch_gives_the_same_result_as_the_sorted_one() -> None:
    walk = [fix(60 - m, north_steps=m * 0.5) for m in range(60)]
    walk[30] = fix(30, north_steps=400)  # one jump in the middle
    shuffled = walk[:]
    random.Random(7).shuffle(shuffled)
    in_order = run_pipeline(walk, PipelineContext(now=NOW))
    mixed = run_pipeline(shuffled, PipelineContext(now=NOW))
    assert [(r.position, r.outcome) for r in mixed] == [(r.position, r.outcome) for r in in_order]
    assert sum(r.outcome is Outcome.FILTERED for r in mixed) == 1


def test_late_old_fix_is_measured_from_its_predecessor_in_time() -> None:
    state = TrackState(accepted=[fix(10), fix(2, north_steps=8)])
    [late] = run_pipeline([fix(9, north_steps=1)], PipelineContext(now=NOW, state=state))
    assert late.outcome is Outcome.ACCEPTED
    assert late.position.distance_m == pytest.approx(111.195, abs=0.01)
    assert state.previous_accepted(NOW - timedelta(minutes=5)) == late.position


def test_fix_outside_shift_is_discarded_not_stored() -> None:
    shift = ShiftWindow(NOW - timedelta(hours=8), NOW - timedelta(minutes=30))
    state = TrackState()
    context = PipelineContext(now=NOW, state=state, shifts=[shift])
    results = run_pipeline([fix(31), fix(30), fix(10, accuracy_m=1000.0)], context)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.DISCARDED, Outcome.DISCARDED]
    assert {r.discard_reason for r in results[1:]} == {DiscardReason.OFF_SHIFT}
    assert not state.stored(NOW - timedelta(minutes=10))


def test_no_shift_today_means_nothing_is_stored() -> None:
    assert only([fix(1)], PipelineContext(now=NOW, shifts=[])) is Outcome.DISCARDED


def test_zone_membership_uses_dispatcher_polygons() -> None:
    square = {
        "type": "Polygon",
        "coordinates": [
            [
                [-77.05, -12.05],
                [-77.04, -12.05],
                [-77.04, -12.04],
                [-77.05, -12.04],
                [-77.05, -12.05],
            ]
        ],
    }
    other = {
        "type": "Polygon",
        "coordinates": [
            [[-77.1, -12.1], [-77.09, -12.1], [-77.09, -12.09], [-77.1, -12.09], [-77.1, -12.1]]
        ],
    }
    zones = ZoneIndex({7: square, 9: other})
    results = run_pipeline([fix(2), fix(1, north_steps=20)], PipelineContext(now=NOW, zones=zones))
    assert results[0].position.zone_ids == (7,)
    assert results[1].position.zone_ids == ()
    assert zones.containing(-12.05, -77.045) == (7,)  # on the border counts as inside


def test_self_intersecting_zone_is_refused() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    with pytest.raises(ValueError, match="zone 3"):
        ZoneIndex({3: bowtie})
