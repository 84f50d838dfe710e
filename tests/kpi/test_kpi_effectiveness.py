from decimal import Decimal

import pytest

from kpi import BUCKET_NAMES, Movement, Tally, bucket_name, bucket_rank, movement, summarize


@pytest.mark.parametrize(
    ("dpd", "name"),
    [(0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"),
     (90, "61-90"), (91, "91-120"), (120, "91-120"), (121, "121+"), (4000, "121+")],
)  # fmt: skip
def test_bucket_bounds(dpd: int, name: str) -> None:
    assert bucket_name(dpd) == name


def test_negative_days_past_due_is_rejected() -> None:
    with pytest.raises(ValueError):
        bucket_rank(-1)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (45, 0, Movement.NORMALIZED),
        (45, 10, Movement.IMPROVED),
        (45, 59, Movement.CONTAINED),
        (45, 31, Movement.CONTAINED),
        (45, 75, Movement.ROLLED),
        (200, 121, Movement.CONTAINED),
        (5, 0, Movement.NORMALIZED),
    ],
)
def test_movement(start: int, end: int, expected: Movement) -> None:
    assert movement(start, end) is expected


def test_current_accounts_are_not_followed() -> None:
    with pytest.raises(ValueError):
        movement(0, 40)


def test_summarize_by_hand() -> None:
    rows = summarize(
        [
            ("31-60", Movement.NORMALIZED, Tally(1, Decimal("100"))),
            ("31-60", Movement.CONTAINED, Tally(2, Decimal("300"))),
            ("31-60", Movement.CONTAINED, Tally(1, Decimal("50"))),
            ("121+", Movement.CONTAINED, Tally(1, Decimal("900"))),
        ]
    )
    assert [r.bucket for r in rows] == list(BUCKET_NAMES)
    mid = rows[1]
    assert mid.accounts == 4
    assert mid.balance == Decimal("450")
    assert mid.share(Movement.NORMALIZED) == 0.25
    assert mid.share(Movement.CONTAINED) == 0.75
    assert mid.share(Movement.ROLLED) == 0.0
    assert rows[0].share(Movement.ROLLED) is None
    assert rows[4].share(Movement.CONTAINED) == 1.0
    with pytest.raises(ValueError):
        summarize([("0-1", Movement.ROLLED, Tally(1, Decimal(1)))])
