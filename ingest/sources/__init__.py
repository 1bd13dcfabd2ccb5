"""Where a worker's messages come from, and where their acknowledgements go.

A ``Source`` hands each message to the worker as a ``Received`` and is told, once the state DB
has committed a message (or set it aside, or refused it at the rate limit), to acknowledge it.
Everything after the source is the same whatever it is: rate limits, the inbox, the chunked
commit, the pipeline and the predictor (ingest/README.md, structure).

Registry: ``SOURCES`` maps ``worker.source`` to a factory, as ``ingest.store.STORES`` does for
the stores. ``mqtt`` (``mqtt.py``) subscribes to the whole stream on an MQTT broker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from forestall.settings import Settings

__all__ = ["SOURCES", "Deliver", "Received", "Source", "open_source"]


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


def _mqtt(settings: Settings, name: str) -> Source:
    from ingest.sources.mqtt import MqttSource

    return MqttSource(settings, name)


SOURCES: dict[str, Callable[[Settings, str], Source]] = {"mqtt": _mqtt}


def open_source(settings: Settings, name: str) -> Source:
    """The source ``worker.source`` names, for the worker called ``name`` (its client id)."""
    factory = SOURCES.get(settings.worker.source)
    if factory is None:
        raise ValueError(
            f"worker.source {settings.worker.source!r} is not available in this version; "
            f"choose one of: {', '.join(sorted(SOURCES))}"
        )
    return factory(settings, name)
