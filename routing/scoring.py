"""Which accounts are worth a visit tomorrow, how much, and why.

The value of a visit is its expected recovery: the overdue balance times the chance that a
visit collects, built from the segmentation collection teams use (days-past-due bucket,
risk score, recent outcomes, never visited, days since the last attempt). The follow-up
loop makes some visits compulsory: a promise falling due on the plan day, or a promise just
broken. Every factor is kept as a reason, so a dispatcher can read "why this visit, why this
rank". Pure functions over plain records; weights are data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What the agency knows about an account on the eve of the plan day."""

    account_id: str
    overdue_balance: float
    days_past_due: int
    risk_score: float = 0.5  # 0 = will surely pay, 1 = will surely not
    recent_outcomes: tuple[str, ...] = ()  # newest first, e.g. "promise", "no_contact"
    visit_count: int = 0
    days_since_last_attempt: int | None = None
    promise_due: dt.date | None = None
    promise_broken_on: dt.date | None = None


def _default_buckets() -> tuple[tuple[int, float], ...]:
    # (lowest days past due, base chance a visit collects): early arrears pay far more often.
    return ((0, 0.35), (31, 0.25), (61, 0.18), (91, 0.10), (181, 0.05))


def _default_outcomes() -> Mapping[str, float]:
    return {
        "paid": 1.1,
        "partial_payment": 1.2,
        "promise": 1.15,
        "contact": 1.0,
        "no_contact": 0.85,
        "refused": 0.6,
        "wrong_address": 0.3,
        "dispute": 0.5,
    }


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """The agency's levers; every number here is visible in the explanation."""

    buckets: tuple[tuple[int, float], ...] = field(default_factory=_default_buckets)
    risk_weight: float = 0.6
    outcome_factors: Mapping[str, float] = field(default_factory=_default_outcomes)
    outcomes_considered: int = 3
    never_visited_factor: float = 1.25
    revisit_after_days: int = 7
    min_recency_factor: float = 0.3
    broken_promise_grace_days: int = 3

    def __post_init__(self) -> None:
        if not self.buckets or self.buckets[0][0] != 0:
            raise ValueError("buckets must start at 0 days past due")
        if any(a[0] >= b[0] for a, b in zip(self.buckets, self.buckets[1:], strict=False)):
            raise ValueError("bucket thresholds must increase")
        if not 0 <= self.risk_weight <= 1:
            raise ValueError("risk_weight must be within [0, 1]")


@dataclass(frozen=True, slots=True)
class Reason:
    """One factor of a visit's value, readable by a dispatcher."""

    factor: str
    multiplier: float
    detail: str


@dataclass(frozen=True, slots=True)
class VisitScore:
    """The value of visiting an account on the plan day, and how it was reached."""

    account_id: str
    value: float
    required: bool
    reasons: tuple[Reason, ...]
    required_because: str | None = None

    def explain(self) -> str:
        parts = [f"{r.detail} (x{r.multiplier:.2f})" for r in self.reasons]
        head = f"must visit: {self.required_because}; " if self.required_because else ""
        return head + f"value {self.value:.2f} = " + " x ".join(parts)


def score_visit(
    facts: AccountFacts, plan_day: dt.date, weights: ScoringWeights | None = None
) -> VisitScore:
    """Expected recovery of visiting ``facts.account_id`` on ``plan_day``, with reasons."""
    weights = weights or ScoringWeights()
    balance = max(0.0, facts.overdue_balance)
    reasons = [Reason("balance", balance, f"overdue balance {balance:.2f}")]
    base = weights.buckets[0][1]
    label = "0+ dpd"
    for threshold, chance in weights.buckets:
        if facts.days_past_due >= threshold:
            base, label = chance, f"{threshold}+ dpd"
    reasons.append(Reason("bucket", base, f"{facts.days_past_due} days past due ({label})"))
    risk = min(1.0, max(0.0, facts.risk_score))
    reasons.append(Reason("risk", 1 - weights.risk_weight * risk, f"risk score {risk:.2f}"))
    for outcome in facts.recent_outcomes[: weights.outcomes_considered]:
        factor = weights.outcome_factors.get(outcome)
        if factor is not None and factor != 1.0:
            reasons.append(Reason("outcome", factor, f"recent outcome: {outcome}"))
    if facts.visit_count == 0:
        reasons.append(Reason("never_visited", weights.never_visited_factor, "never visited"))
    elif facts.days_since_last_attempt is not None:
        days = facts.days_since_last_attempt
        factor = min(1.0, max(weights.min_recency_factor, days / weights.revisit_after_days))
        if factor < 1.0:
            reasons.append(Reason("recency", factor, f"last attempt {days} days ago"))
    value = 1.0
    for reason in reasons:
        value *= reason.multiplier
    required_because = None
    if facts.promise_due == plan_day:
        required_because = "promise to pay falls due on the plan day"
    elif facts.promise_broken_on is not None:
        age = (plan_day - facts.promise_broken_on).days
        if 0 < age <= weights.broken_promise_grace_days:
            required_because = f"promise broken {age} day(s) ago"
    return VisitScore(
        facts.account_id,
        round(value, 2),
        required_because is not None,
        tuple(reasons),
        required_because,
    )


@dataclass(frozen=True, slots=True)
class RankedVisit:
    """A candidate in the priority ranking; ``why`` explains its value and its place."""

    rank: int
    score: VisitScore
    why: str


def rank_candidates(
    accounts: Iterable[AccountFacts], plan_day: dt.date, weights: ScoringWeights | None = None
) -> list[RankedVisit]:
    """All accounts by priority: must-visits first, then by value (ties by account id)."""
    scores = [score_visit(a, plan_day, weights) for a in accounts]
    scores.sort(key=lambda s: (not s.required, -s.value, s.account_id))
    ranked = []
    for rank, score in enumerate(scores, start=1):
        if score.required:
            place = "ranked among the must-visits first"
        elif rank > 1:
            above = scores[rank - 2]
            place = f"below {above.account_id} (value {above.value:.2f})"
        else:
            place = "highest value"
        ranked.append(RankedVisit(rank, score, f"{score.explain()}; {place}"))
    return ranked
