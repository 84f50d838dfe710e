"""Effectiveness over time (§5 of kpi-model.md): how delinquent accounts moved between buckets.

The server counts accounts per (starting bucket, movement) in SQL using ``BUCKETS`` bounds
and feeds the counts to ``summarize``; the shares are defined here once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)
CURRENT = "current"
"""Label of the non-delinquent state (0 days past due)."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """A days-past-due bucket; ``high`` is ``None`` for the open-ended last bucket."""

    name: str
    low: int
    high: int | None
    rank: int

    def holds(self, days_past_due: int) -> bool:
        """Whether ``days_past_due`` falls in this bucket (bounds inclusive)."""
        return self.low <= days_past_due and (self.high is None or days_past_due <= self.high)


BUCKETS: tuple[Bucket, ...] = (
    Bucket("1-30", 1, 30, 1),
    Bucket("31-60", 31, 60, 2),
    Bucket("61-90", 61, 90, 3),
    Bucket("91-120", 91, 120, 4),
    Bucket("121+", 121, None, 5),
)
BUCKET_NAMES: tuple[str, ...] = tuple(b.name for b in BUCKETS)


class Movement(StrEnum):
    """Where a delinquent account went between the two snapshots."""

    NORMALIZED = "normalized"
    IMPROVED = "improved"
    CONTAINED = "contained"
    ROLLED = "rolled"

    @property
    def label_es(self) -> str:
        """Spanish label collection teams use."""
        return _MOVEMENT_ES[self]


_MOVEMENT_ES = {
    Movement.NORMALIZED: "Normalización",
    Movement.IMPROVED: "Mejora",
    Movement.CONTAINED: "Contención",
    Movement.ROLLED: "Rodamiento",
}


def bucket_rank(days_past_due: int) -> int:
    """0 for current, 1..5 for the buckets in order; negative input is a ``ValueError``."""
    if days_past_due < 0:
        raise ValueError("days past due cannot be negative")
    for bucket in BUCKETS:
        if bucket.holds(days_past_due):
            return bucket.rank
    return 0


def bucket_name(days_past_due: int) -> str:
    """The bucket label of ``days_past_due`` (``current`` for 0)."""
    rank = bucket_rank(days_past_due)
    return CURRENT if rank == 0 else BUCKETS[rank - 1].name


def movement_of_ranks(start_rank: int, end_rank: int) -> Movement:
    """Classify a move between bucket ranks; the start must be delinquent (rank >= 1)."""
    if start_rank < 1:
        raise ValueError("effectiveness only follows accounts delinquent at the start")
    if end_rank == 0:
        return Movement.NORMALIZED
    if end_rank < start_rank:
        return Movement.IMPROVED
    if end_rank == start_rank:
        return Movement.CONTAINED
    return Movement.ROLLED


def movement(start_days_past_due: int, end_days_past_due: int) -> Movement:
    """Classify one account's move from its start to its end days past due."""
    return movement_of_ranks(bucket_rank(start_days_past_due), bucket_rank(end_days_past_due))


@dataclass(frozen=True, slots=True)
class Tally:
    """Accounts and their starting overdue balance in one (bucket, movement) cell."""

    accounts: int = 0
    balance: Decimal = ZERO

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.accounts + other.accounts, self.balance + other.balance)


@dataclass(frozen=True, slots=True)
class BucketEffectiveness:
    """One starting bucket: tallies per movement and the shares of accounts.

    Shares are by number of accounts and sum to 1; they are ``None`` for an empty bucket.
    """

    bucket: str
    tallies: Mapping[Movement, Tally]

    @property
    def accounts(self) -> int:
        """Accounts that started in this bucket and appear in the end snapshot."""
        return sum(t.accounts for t in self.tallies.values())

    @property
    def balance(self) -> Decimal:
        """Their overdue balance at the start."""
        return sum((t.balance for t in self.tallies.values()), ZERO)

    def share(self, move: Movement) -> float | None:
        """Share of the bucket's accounts that made ``move``."""
        total = self.accounts
        return None if total == 0 else self.tallies[move].accounts / total


def summarize(cells: Iterable[tuple[str, Movement, Tally]]) -> list[BucketEffectiveness]:
    """Fold (starting bucket, movement, tally) cells into one row per bucket, in bucket order.

    Cells may repeat a (bucket, movement) pair; their tallies are added.
    """
    grid: dict[str, dict[Movement, Tally]] = {
        name: {m: Tally() for m in Movement} for name in BUCKET_NAMES
    }
    for name, move, tally in cells:
        if name not in grid:
            raise ValueError(f"unknown bucket {name!r}")
        grid[name][move] = grid[name][move] + tally
    return [BucketEffectiveness(name, grid[name]) for name in BUCKET_NAMES]
