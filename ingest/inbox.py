"""The bounded FIFO between paho's network thread and the worker's processing thread.

``queue.Queue`` takes a lock and wakes the other thread for every message; with the queue
full, every ``get`` let paho's thread in for one ``put``, a thread switch per message. Here
the processing thread takes a whole chunk under one lock and wakes the producer once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._changed = threading.Condition()

    def put(self, item: T) -> None:
        """Append, waiting while the inbox is full (the broker then holds the rest unacknowledged)."""
        with self._changed:
            while len(self._items) >= self.maxsize:
                self._changed.wait()
            self._items.append(item)
            if len(self._items) == 1:  # the taker waits only on an empty inbox
                self._changed.notify_all()

    def take(
        self, limit: int, timeout: float = 0.0, size: Callable[[T], int] | None = None, budget: int = 0
    ) -> list[T]:
        """Up to ``limit`` items, oldest first; waits up to ``timeout`` seconds for the first.

        With ``size``, the chunk also stops before its items' total size passes ``budget``
        (it always holds at least one item).
        """
        with self._changed:
            if not self._items and timeout > 0:
                self._changed.wait(timeout)
            items = self._items
            count = min(limit, len(items))
            if size is not None:
                total, fits = 0, 0
                while fits < count:
                    total += size(items[fits])
                    if total > budget and fits:
                        break
                    fits += 1
                count = fits
            chunk = [items.popleft() for _ in range(count)]
            if chunk:
                self._changed.notify_all()  # room for a waiting producer
            return chunk

    def put_back(self, chunk: Sequence[T]) -> None:
        """Return a chunk to the front, in order; never waits (its room was taken before)."""
        with self._changed:
            self._items.extendleft(reversed(chunk))
            self._changed.notify_all()

    def __len__(self) -> int:
        return len(self._items)
