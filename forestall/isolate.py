"""Commit a chunk so that no single message can hold it up for good (STYLE.md habit 4).

``attempt(part)`` processes and commits a part of the chunk, or raises. A retryable failure is
``attempt``'s own business (it retries with backoff; it raises one only when the worker stops).
A permanent failure is a property of some message: the part is split in halves, each attempted
on its own, until the message that fails alone is found and handed to ``set_aside``. Parts are
attempted in order and each committed part is acknowledged before the next, about 2·log2(n)
extra attempts per poison message in a chunk of n.

>>> done, aside = [], []
>>> def attempt(part):
...     if 3 in part:
...         raise ValueError("poison")
...     done.extend(part)
>>> commit_isolating(list(range(6)), attempt, lambda item, exc: aside.append(item), lambda part: None,
...                  retryable=lambda exc: False)
True
>>> done, aside
([0, 1, 2, 4, 5], [3])
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def commit_isolating(
    chunk: Sequence[T],
    attempt: Callable[[list[T]], None],
    set_aside: Callable[[T, BaseException], None],
    acknowledge: Callable[[list[T]], None],
    retryable: Callable[[BaseException], bool],
) -> bool:
    """Commit ``chunk``; False if a retryable failure stopped it (the rest stays unacknowledged).

    An empty chunk is attempted too (the worker's models plan on the clock even without data).
    """
    parts: deque[list[T]] = deque([list(chunk)])
    while parts:
        part = parts.popleft()
        try:
            attempt(part)
        except Exception as exc:
            if retryable(exc):
                return False
            if not part:
                log.exception("an empty chunk failed")
                continue
            if len(part) > 1:
                parts.extendleft([part[len(part) // 2 :], part[: len(part) // 2]])
                continue
            log.warning("setting aside a message that fails alone: %r", exc)
            try:
                set_aside(part[0], exc)
            except Exception as again:
                if retryable(again):
                    return False
                log.exception("a message that could not even be set aside is dropped")
        acknowledge(part)
    return True
