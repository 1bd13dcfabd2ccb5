"""Where a worker's messages come from, and where their acknowledgements go.

A ``Source`` hands each message to the worker as a ``Received`` and is told, once the state DB
has committed a message (or set it aside, or refused it at the rate limit), to acknowledge it.
Everything after the source is the same whatever it is: rate limits, the inbox, the chunked
commit, the pipeline and the predictor (ingest/README.md, structure).

Registry: ``SOURCES`` maps ``worker.source`` to a factory, as ``ingest.store.STORES`` does for
the stores; the interface is in ``base.py``. ``mqtt`` (``mqtt.py``) subscribes to the whole
stream on an MQTT broker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ingest.sources.base import Deliver, Received, Source

if TYPE_CHECKING:
    from forestall.settings import Settings

__all__ = ["SOURCES", "Deliver", "Received", "Source", "open_source"]


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
