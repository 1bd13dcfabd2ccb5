"""The bounded inbox between paho's network thread and the worker's processing thread.

``queue.Queue`` takes a lock and wakes the other thread for every message; with the queue
full, every ``get`` let paho's thread in for one ``put``, a thread switch per message. Here
the processing thread takes a whole chunk under one lock and wakes the producer once.

The bound counts bytes as well as messages: a full inbox holds paho's thread, which stops
reading the socket, so the broker keeps the rest (unacknowledged QoS 1) and a flood of large
payloads cannot grow the worker's memory. Items are queued per ``key`` (the tenant) and a
chunk takes them in turn, one from each key, so a tenant with a backlog does not hold up the
others' messages that are already here; each key's own items keep their order.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(
        self,
        maxsize: int,
        max_bytes: int = 0,
        size: Callable[[T], int] | None = None,
        key: Callable[[T], Hashable] | None = None,
    ) -> None:
        """At most ``maxsize`` items and, given ``size``, ``max_bytes`` of them (one item always fits)."""
        self.maxsize = maxsize
        self.max_bytes = max_bytes if size is not None else 0
        self._size = size or (lambda _item: 0)
        self._key = key or (lambda _item: None)
        self._queues: dict[Hashable, deque[T]] = {}  # per key, in arrival order
        self._turns: deque[Hashable] = deque()  # the keys with items, the next to serve first
        self._count = 0
        self._bytes = 0
        self._changed = threading.Condition()

    def put(self, item: T) -> None:
        """Append, waiting while the inbox is full (the broker then holds the rest unacknowledged)."""
        size, key = self._size(item), self._key(item)
        with self._changed:
            while self._count and (
                self._count >= self.maxsize or (self.max_bytes and self._bytes + size > self.max_bytes)
            ):
                self._changed.wait()
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = deque()
                self._turns.append(key)
            queue.append(item)
            self._count += 1
            self._bytes += size
            if self._count == 1:  # the taker waits only on an empty inbox
                self._changed.notify_all()

    def take(self, limit: int, timeout: float = 0.0, budget: int = 0) -> list[T]:
        """Up to ``limit`` items, one key after another; waits up to ``timeout`` seconds for the first.

        With a ``budget``, the chunk also stops before its items' total size passes it (it always
        holds at least one item).
        """
        with self._changed:
            if not self._count and timeout > 0:
                self._changed.wait(timeout)
            chunk: list[T] = []
            total = 0
            while self._turns and len(chunk) < limit:
                key = self._turns[0]
                queue = self._queues[key]
                size = self._size(queue[0])
                if budget and chunk and total + size > budget:
                    break
                chunk.append(queue.popleft())
                total += size
                self._turns.rotate(-1)
                if not queue:
                    del self._queues[key]
                    self._turns.pop()  # the key just rotated to the back
            if chunk:
                self._count -= len(chunk)
                self._bytes -= total
                self._changed.notify_all()  # room for a waiting producer
            return chunk

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return self._count
