"""Tiny hand-checkable days: doors on a straight street, one minute per block."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from routing.model import Break, CollectorShift, ProblemData, Visit

MINUTE = 60
HOUR = 3600
LineDay = Callable[..., ProblemData]


def build_line_day(
    positions: Sequence[float],
    values: Sequence[int] | None = None,
    windows: Sequence[tuple[tuple[int, int], ...]] | None = None,
    required: Sequence[bool] | None = None,
    collectors: int = 1,
    shift: tuple[int, int] = (8 * HOUR, 16 * HOUR),
    service_s: int = 10 * MINUTE,
    lunch: Break | None = None,
    max_visits: int | None = None,
    **_: Any,
) -> ProblemData:
    """Visits at ``positions`` blocks from the office (location 0); travel 1 min per block."""
    places = np.array([0.0, *positions])
    durations = (np.abs(places[:, None] - places[None, :]) * MINUTE).round().astype(np.int64)
    n = len(positions)
    visits = tuple(
        Visit(
            id=f"v{i + 1}",
            location=i + 1,
            service_s=service_s,
            value=values[i] if values else 100,
            windows=windows[i] if windows else (shift,),
            required=required[i] if required else False,
        )
        for i in range(n)
    )
    fleet = tuple(
        CollectorShift(
            id=f"c{k + 1}",
            start_location=0,
            end_location=0,
            shift_start_s=shift[0],
            shift_end_s=shift[1],
            max_visits=max_visits,
            lunch=lunch,
        )
        for k in range(collectors)
    )
    coordinates = np.column_stack([places, np.zeros_like(places)])
    return ProblemData(visits, fleet, durations * 10, (durations,), coordinates)


@pytest.fixture()
def line_day() -> LineDay:
    return build_line_day
