"""The interface of a worker's message sources (``ingest.sources``): ``Received``, ``Deliver``
and ``Source``. Its own module, so that a source imports the interface and the registry may
import the sources without either importing the other back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

__all__ = ["Deliver", "Received", "Source"]


class Received(NamedTuple):  # a tuple: one is made per message on the source's thread
    """One message as a source hands it on.

    ``tenant`` and ``asset`` are the topic's segments, unchecked (the pipeline validates the
    topic): ``tenant`` is "" and ``asset`` None when the topic has too few segments. ``partition``
    is the partition of ``(tenant, asset)`` as the source assigns it, ``stream_seq`` the message's
    position in that partition's stream, or None where the source has none. ``ack`` is the
    source's own token for acknowledging the message, opaque to everything else (None: nothing to
    acknowledge).
    """

    topic: str
    payload: bytes
    received_at: float  # wall clock, for liveness
    tenant: str
    asset: str | None
    partition: int
    stream_seq: int | None
    ack: object


# Takes one message on the source's thread; may block while the inbox is full, which is the
# back-pressure a source relies on: it stops reading, and its broker or stream keeps the rest.
Deliver = Callable[[Received], None]


class Source(Protocol):
    """A connection that delivers messages until stopped and acknowledges them when told.

    The constructor validates only; ``start`` connects (and reconnects by itself until
    ``stop``). ``ack`` may be called from any thread, with any messages this source delivered
    (an empty list too), and at most once for each.
    """

    @property
    def ready(self) -> threading.Event:
        """Set once messages published from now on will be delivered (e.g. subscriptions granted)."""
        ...

    @property
    def connected(self) -> bool: ...

    def start(self, deliver: Deliver) -> None: ...

    def ack(self, items: Sequence[Received]) -> None: ...

    def stop(self) -> None: ...
