import datetime as dt

import pytest

from routing.contact_hours import (
    HOUR_S as HOUR,
)
from routing.contact_hours import (
    MEXICO,
    PERU,
    UNITED_STATES,
    custom_policy,
    intersect_windows,
    visit_windows,
)

MONDAY = dt.date(2026, 11, 30)


def test_peru_allows_7_to_20_on_weekdays_only() -> None:
    assert PERU.windows_on(MONDAY) == ((7 * HOUR, 20 * HOUR),)
    assert PERU.windows_on(dt.date(2026, 11, 28)) == ()  # Saturday
    assert PERU.windows_on(dt.date(2026, 11, 29)) == ()  # Sunday
    assert "Saturday" in (PERU.reason_closed(dt.date(2026, 11, 28)) or "")


@pytest.mark.parametrize(
    "holiday", [dt.date(2026, 7, 28), dt.date(2026, 12, 25), dt.date(2026, 12, 8)]
)
def test_peru_public_holidays_allow_no_visit(holiday: dt.date) -> None:
    assert holiday.weekday() < 5
    assert PERU.windows_on(holiday) == ()
    assert PERU.reason_closed(holiday) == "PE: public holiday"


def test_next_contact_day_skips_weekends_and_holidays() -> None:
    friday = dt.date(2026, 11, 27)
    assert PERU.next_contact_day(friday) == MONDAY
    # Monday 2026-12-07; the 8th (Inmaculada Concepción) and the 9th (Batalla de Ayacucho)
    # are public holidays in Peru.
    assert PERU.next_contact_day(dt.date(2026, 12, 7)) == dt.date(2026, 12, 10)
    assert MEXICO.next_contact_day(friday) == dt.date(2026, 11, 28)
    assert custom_policy("never", [(0, 0)], weekdays=[]).next_contact_day(friday) is None


def test_mexico_and_united_states_hours() -> None:
    saturday = dt.date(2026, 11, 28)
    assert MEXICO.windows_on(saturday) == ((7 * HOUR, 22 * HOUR),)
    assert UNITED_STATES.windows_on(saturday) == ((8 * HOUR, 21 * HOUR),)


def test_custom_policy_and_bad_hours() -> None:
    policy = custom_policy(
        "AGENCY", [(9 * HOUR, 13 * HOUR), (15 * HOUR, 18 * HOUR)], weekdays=[0, 1, 2]
    )
    assert policy.windows_on(MONDAY) == ((9 * HOUR, 13 * HOUR), (15 * HOUR, 18 * HOUR))
    assert policy.windows_on(MONDAY + dt.timedelta(days=3)) == ()
    with pytest.raises(ValueError):
        custom_policy("BAD", [(20 * HOUR, 7 * HOUR)])


def test_intersection_of_window_lists() -> None:
    assert intersect_windows([(0, 10), (20, 30)], [(5, 25)]) == ((5, 10), (20, 25))
    assert intersect_windows([(0, 10)], [(11, 20)]) == ()


def test_visit_windows_are_preferred_legal_and_shift_with_service_inside_legal_hours() -> None:
    legal = PERU.windows_on(MONDAY)
    windows = visit_windows(
        [(6 * HOUR, 9 * HOUR), (19 * HOUR, 21 * HOUR)], legal, (8 * HOUR, 22 * HOUR), 1200
    )
    # 06:00-09:00 loses the hour before 07:00 and before the shift; the evening window must
    # leave 20 minutes of service before 20:00.
    assert windows == ((8 * HOUR, 9 * HOUR), (19 * HOUR, 20 * HOUR - 1200))
    assert visit_windows(None, legal, (8 * HOUR, 17 * HOUR)) == ((8 * HOUR, 17 * HOUR),)
    assert visit_windows(None, (), (8 * HOUR, 17 * HOUR)) == ()
