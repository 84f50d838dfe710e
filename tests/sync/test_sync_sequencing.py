from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.mutations import Mutation, content_hash
from sync.sequencing import Apply, Conflict, Gap, Replay, plan_application

T = datetime(2026, 11, 27, tzinfo=UTC)


def m(i: int, text: str = "x") -> Mutation:
    args = {"text": text}
    return Mutation(i, "add_note", args, T, content_hash("add_note", args, T))


def test_fresh_batch_applies_in_order() -> None:
    steps = plan_application(0, {}, [m(1), m(2), m(3)])
    assert [type(s) for s in steps] == [Apply, Apply, Apply]


def test_retry_replays_and_continues() -> None:
    stored = {1: m(1).hash, 2: m(2).hash}
    steps = plan_application(2, stored, [m(1), m(2), m(3)])
    assert [type(s) for s in steps] == [Replay, Replay, Apply]


def test_reused_id_with_other_content_conflicts_only_that_mutation() -> None:
    steps = plan_application(2, {1: m(1).hash, 2: m(2).hash}, [m(1, "other"), m(2), m(3)])
    assert [type(s) for s in steps] == [Conflict, Replay, Apply]


def test_gap_stops_and_names_expected_id() -> None:
    steps = plan_application(1, {1: m(1).hash}, [m(2), m(4), m(5)])
    assert isinstance(steps[0], Apply)
    assert isinstance(steps[1], Gap) and steps[1].expected_id == 3
    assert len(steps) == 2


def test_out_of_order_batch_stops_at_first_gap() -> None:
    steps = plan_application(0, {}, [m(2), m(1)])
    assert len(steps) == 1 and isinstance(steps[0], Gap) and steps[0].expected_id == 1


def test_repeated_id_in_one_batch_is_judged_against_the_batch() -> None:
    steps = plan_application(0, {}, [m(1), m(1), m(1, "changed")])
    assert [type(s) for s in steps] == [Apply, Replay, Conflict]


def test_negative_last_id_is_a_bug() -> None:
    with pytest.raises(ValueError):
        plan_application(-1, {}, [])


@given(
    applied=st.integers(0, 20),
    ids=st.lists(st.integers(1, 30), max_size=30),
)
def test_plan_properties(applied: int, ids: list[int]) -> None:
    stored = {i: m(i).hash for i in range(1, applied + 1)}
    steps = plan_application(applied, stored, [m(i) for i in ids])
    applied_ids = [s.mutation.id for s in steps if isinstance(s, Apply)]
    # Applied ids continue the sequence without gaps and without repeats.
    assert applied_ids == list(range(applied + 1, applied + 1 + len(applied_ids)))
    # A gap, if any, is last; nothing identical is ever a conflict.
    assert all(not isinstance(s, Gap) for s in steps[:-1])
    assert not any(isinstance(s, Conflict) for s in steps)
    # Every mutation before the stop is answered.
    assert len(steps) == len(ids) or isinstance(steps[-1], Gap)
