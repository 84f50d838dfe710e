"""Exactly-once sequencing of a device's mutations.

A device numbers its mutations 1, 2, 3… without gaps and resends until acknowledged, so the
server may see any mix of retries, new mutations, reordered batches and gaps. This module
decides, from the device's last applied id and the content hashes already stored, what to do
with each incoming mutation; the server then executes the plan in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sync.mutations import Mutation


@dataclass(frozen=True, slots=True)
class Replay:
    """Already applied with the same content: answer the stored result again."""

    mutation: Mutation


@dataclass(frozen=True, slots=True)
class Apply:
    """The next id in sequence: apply it and store its result with the new last id."""

    mutation: Mutation


@dataclass(frozen=True, slots=True)
class Conflict:
    """An already used id with different content: answer 409 for this mutation only."""

    mutation: Mutation


@dataclass(frozen=True, slots=True)
class Gap:
    """Ids are missing before this mutation; processing stops and ``expected_id`` is asked for."""

    mutation: Mutation
    expected_id: int


Step = Replay | Apply | Conflict | Gap


def plan_application(
    last_applied_id: int, stored: Mapping[int, str], incoming: Sequence[Mutation]
) -> list[Step]:
    """Plan what to do with ``incoming``, in order.

    ``stored`` maps each already applied id to its content hash (it may hold only the ids
    present in ``incoming``). Ids applied earlier in the same batch count as stored, so a
    batch that repeats an id is answered consistently. The plan ends at the first gap.
    """
    if last_applied_id < 0:
        raise ValueError("last_applied_id cannot be negative")
    known = dict(stored)
    last = last_applied_id
    steps: list[Step] = []
    for mutation in incoming:
        if mutation.id <= last:
            same = known.get(mutation.id) == mutation.hash
            steps.append(Replay(mutation) if same else Conflict(mutation))
        elif mutation.id == last + 1:
            steps.append(Apply(mutation))
            known[mutation.id] = mutation.hash
            last = mutation.id
        else:
            steps.append(Gap(mutation, expected_id=last + 1))
            break
    return steps
