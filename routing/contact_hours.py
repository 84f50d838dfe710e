"""Legal contact hours as data, and the windows a visit may start in.

A jurisdiction is a record, not code: daily hours, the weekdays contact is allowed, and
whether public holidays (from the ``holidays`` package) forbid it. A visit's windows are its
preferred windows intersected with legal hours and with the collector's shift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import holidays

from routing.model import Window

HOUR_S = 3600
ALL_WEEKDAYS = frozenset(range(7))
MONDAY_TO_FRIDAY = frozenset(range(5))


@dataclass(frozen=True, slots=True)
class ContactHoursPolicy:
    """When a debtor may be visited, in local time.

    ``weekdays`` uses ``date.weekday()`` numbering (Monday = 0). ``holiday_country`` is an ISO
    code understood by the ``holidays`` package, or ``None`` when holidays do not matter.
    """

    code: str
    daily_windows: tuple[Window, ...]
    weekdays: frozenset[int] = ALL_WEEKDAYS
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        for start_s, end_s in self.daily_windows:
            if not 0 <= start_s <= end_s <= 24 * HOUR_S:
                raise ValueError(f"{self.code}: daily window ({start_s}, {end_s}) is invalid")
        if not self.weekdays <= ALL_WEEKDAYS:
            raise ValueError(f"{self.code}: weekdays must be 0..6")

    def is_holiday(self, day: dt.date) -> bool:
        if self.holiday_country is None:
            return False
        calendar = holidays.country_holidays(
            self.holiday_country, subdiv=self.holiday_subdivision, years=day.year
        )
        return day in calendar

    def windows_on(self, day: dt.date) -> tuple[Window, ...]:
        """Legal windows on ``day``; empty when no contact is allowed at all."""
        if day.weekday() not in self.weekdays or self.is_holiday(day):
            return ()
        return self.daily_windows

    def next_contact_day(self, after: dt.date, within_days: int = 31) -> dt.date | None:
        """The first day after ``after`` with any legal window (Friday's next is Monday in
        Peru), or ``None`` if there is none within ``within_days``."""
        for offset in range(1, within_days + 1):
            day = after + dt.timedelta(days=offset)
            if self.windows_on(day):
                return day
        return None

    def reason_closed(self, day: dt.date) -> str | None:
        """Why no contact is allowed on ``day``, or ``None`` if it is."""
        if day.weekday() not in self.weekdays:
            return f"{self.code}: no visits on {day.strftime('%A')}"
        if self.is_holiday(day):
            return f"{self.code}: public holiday"
        return None


PERU = ContactHoursPolicy(
    code="PE",
    daily_windows=((7 * HOUR_S, 20 * HOUR_S),),
    weekdays=MONDAY_TO_FRIDAY,
    holiday_country="PE",
    source="Ley 29571 (Código de Protección y Defensa del Consumidor), art. 62",
)
MEXICO = ContactHoursPolicy(
    code="MX",
    daily_windows=((7 * HOUR_S, 22 * HOUR_S),),
    source="CONDUSEF, Disposiciones de carácter general en materia de despachos de cobranza",
)
UNITED_STATES = ContactHoursPolicy(
    code="US",
    daily_windows=((8 * HOUR_S, 21 * HOUR_S),),
    source="FDCPA, 15 U.S.C. 1692c(a)(1)",
)

POLICIES: dict[str, ContactHoursPolicy] = {p.code: p for p in (PERU, MEXICO, UNITED_STATES)}


def custom_policy(
    code: str,
    daily_windows: Sequence[Window],
    weekdays: Iterable[int] = ALL_WEEKDAYS,
    holiday_country: str | None = None,
) -> ContactHoursPolicy:
    """An agency's own rules (stricter than the law, or another jurisdiction)."""
    return ContactHoursPolicy(code, tuple(daily_windows), frozenset(weekdays), holiday_country)


def intersect_windows(a: Sequence[Window], b: Sequence[Window]) -> tuple[Window, ...]:
    """The intersection of two sorted, disjoint window lists."""
    result: list[Window] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start <= end:
            result.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(result)


def visit_windows(
    preferred: Sequence[Window] | None,
    legal: Sequence[Window],
    shift: Window,
    service_s: int = 0,
) -> tuple[Window, ...]:
    """Start windows for a visit: preferred ∩ legal ∩ shift.

    No preferred windows means "any time". The whole service must happen inside legal hours,
    so each legal window's end is pulled in by the service time.
    """
    legal_starts = tuple(
        (start, end - service_s) for start, end in legal if end - service_s >= start
    )
    windows = intersect_windows(legal_starts, [shift])
    if preferred:
        windows = intersect_windows(windows, sorted(preferred))
    return windows
