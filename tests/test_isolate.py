"""Poison isolation, pure logic: each good message committed once and in order, each poison set aside."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from forestall.isolate import commit_isolating


class OutageError(Exception):
    pass


@given(
    st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1), max_size=4)))
)
def test_good_messages_commit_once_in_order_and_each_poison_is_set_aside(case: tuple[int, set[int]]) -> None:
    n, poison = case
    committed: list[int] = []
    aside: list[int] = []
    acknowledged: list[int] = []
    attempts = 0

    def attempt(part: list[int]) -> None:
        nonlocal attempts
        attempts += 1
        if poison & set(part):
            raise ValueError("a value the database refuses")
        committed.extend(part)

    done = commit_isolating(
        list(range(n)), attempt, lambda item, _exc: aside.append(item), acknowledged.extend, lambda e: False
    )
    assert done
    assert committed == [i for i in range(n) if i not in poison]
    assert aside == sorted(poison)
    assert acknowledged == list(range(n))  # a set-aside message is acknowledged in its place
    assert attempts <= 1 + 2 * len(poison) * math.ceil(math.log2(n) + 1)


def test_a_retryable_failure_stops_without_acknowledging_the_rest() -> None:
    acknowledged: list[int] = []

    def attempt(part: list[int]) -> None:
        if 5 in part:
            raise OutageError("the state DB is down and the worker stops")

    def poison_first(part: list[int]) -> None:
        if 2 in part:
            raise ValueError("poison")
        attempt(part)

    done = commit_isolating(
        list(range(8)),
        poison_first,
        lambda _item, _exc: None,
        acknowledged.extend,
        lambda e: isinstance(e, OutageError),
    )
    assert not done and 5 not in acknowledged and acknowledged == [0, 1, 2, 3]
