from datetime import UTC, datetime, timedelta

import pytest

from sync.clock import ClockReading, TimeFlag, correct_time

SERVER_NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
ACCOUNT_SINCE = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("skew", "flags"),
    [
        (timedelta(0), set()),
        (timedelta(days=3), {TimeFlag.FUTURE, TimeFlag.CLOCK_SKEW}),
        (timedelta(days=-365), {TimeFlag.BEFORE_ACCOUNT, TimeFlag.CLOCK_SKEW}),
    ],
)
def test_skewed_clock_is_corrected_and_flagged(skew: timedelta, flags: set[TimeFlag]) -> None:
    captured = SERVER_NOW - timedelta(hours=2)  # true capture time
    device_capture = captured + skew
    reading = ClockReading(device_time=SERVER_NOW + skew, server_time=SERVER_NOW)
    result = correct_time(device_capture, SERVER_NOW, reading, ACCOUNT_SINCE)
    assert result.corrected == captured
    assert result.device_time == device_capture
    assert set(result.flags) == flags


def test_without_reading_future_time_is_capped() -> None:
    result = correct_time(SERVER_NOW + timedelta(days=1), SERVER_NOW, None)
    assert result.corrected == SERVER_NOW
    assert result.flags == {TimeFlag.FUTURE}


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        correct_time(datetime(2026, 1, 1), SERVER_NOW, None)
