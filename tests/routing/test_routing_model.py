from dataclasses import replace

import numpy as np
import pytest

from routing.model import Break, CollectorShift, ProblemData, Visit


def _data(visits: tuple[Visit, ...], collectors: tuple[CollectorShift, ...]) -> ProblemData:
    matrix = np.zeros((3, 3), dtype=np.int64)
    return ProblemData(visits, collectors, matrix, (matrix,), np.zeros((3, 2)))


VISIT = Visit("a", 1, 600, 10, ((0, 100),))
COLLECTOR = CollectorShift("c", 0, 0, 0, 1000)


def test_a_valid_day_is_indexed_and_read_only() -> None:
    data = _data((VISIT,), (COLLECTOR,))
    assert data.visit_index == {"a": 0}
    assert data.collector_index == {"c": 0}
    with pytest.raises(ValueError):
        data.durations_s[0][0, 1] = 5


@pytest.mark.parametrize(
    ("visits", "collectors", "message"),
    [
        ((VISIT, VISIT), (COLLECTOR,), "unique"),
        ((replace(VISIT, location=7),), (COLLECTOR,), "unknown location"),
        ((replace(VISIT, allowed_collectors=("x",)),), (COLLECTOR,), "unknown collector"),
        ((VISIT,), (replace(COLLECTOR, profile=2),), "unknown profile"),
        ((VISIT,), (COLLECTOR, COLLECTOR), "unique"),
    ],
)
def test_inconsistent_days_are_refused(
    visits: tuple[Visit, ...], collectors: tuple[CollectorShift, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _data(visits, collectors)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Visit("a", 0, -1, 0, ()),
        lambda: Visit("a", 0, 0, -5, ()),
        lambda: Visit("a", 0, 0, 0, ((10, 5),)),
        lambda: Visit("a", 0, 0, 0, ((0, 50), (40, 90))),
        lambda: CollectorShift("c", 0, 0, 100, 50),
        lambda: CollectorShift("c", 0, 0, 0, 100, lunch=Break(90, 95, 30)),
        lambda: Break(10, 5, 1),
    ],
)
def test_bad_records_raise_value_error(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


def test_matrix_shapes_are_checked() -> None:
    square = np.zeros((3, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="match"):
        ProblemData((), (), square, (np.zeros((2, 2), dtype=np.int64),), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        ProblemData((), (), square, (square - 1,), np.zeros((3, 2)))


def test_subset_compacts_matrices_and_keeps_ids(line_day) -> None:  # type: ignore[no-untyped-def]
    data = line_day([1, 2, 3, 4], collectors=2)
    sub = data.subset(["c2"], ["v2", "v4"])
    assert [v.id for v in sub.visits] == ["v2", "v4"]
    assert sub.durations_s[0].shape == (3, 3)
    v2, v4 = sub.visits
    assert sub.durations_s[0][v2.location, v4.location] == 120
