"""Groups and periods (§6 of kpi-model.md).

Periods are half-open ``[start, end)`` ranges of agency-local calendar days. Week groups are
labelled by their Monday (ISO weeks), month groups by ``YYYY-MM``: plain strings that sort
in time order in JSON and CSV alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class GroupKey(StrEnum):
    """A dimension a report can be grouped by; combinable."""

    COLLECTOR = "collector"
    ZONE = "zone"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    PORTFOLIO = "portfolio"
    BUCKET = "bucket"


def parse_group_by(text: str) -> tuple[GroupKey, ...]:
    """Parse ``"collector,day"``; order is kept, blanks and repeats dropped.

    Unknown keys raise ``ValueError`` naming them. An empty text means the total only.
    """
    keys: list[GroupKey] = []
    unknown: list[str] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        try:
            key = GroupKey(name)
        except ValueError:
            unknown.append(name)
            continue
        if key not in keys:
            keys.append(key)
    if unknown:
        allowed = ", ".join(k.value for k in GroupKey)
        raise ValueError(f"unknown group key(s) {', '.join(unknown)}; allowed: {allowed}")
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class Period:
    """The half-open range of local days ``[start, end)`` a report covers."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a period must end after it starts ([from, to) is half-open)")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end

    @property
    def days(self) -> int:
        """Number of days in the period."""
        return (self.end - self.start).days

    def each_day(self) -> Iterator[date]:
        """Every day of the period in order."""
        for offset in range(self.days):
            yield self.start + timedelta(days=offset)


def week_label(day: date) -> str:
    """Label of the ISO week holding ``day``: the date of its Monday."""
    return (day - timedelta(days=day.weekday())).isoformat()


def month_label(day: date) -> str:
    """Label of the month holding ``day``: ``YYYY-MM``."""
    return f"{day.year:04d}-{day.month:02d}"
