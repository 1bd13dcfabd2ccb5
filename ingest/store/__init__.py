"""Time-series storage behind one small interface; adapters are chosen by ``store.kind``.

Registry: ``STORES`` maps a kind to a factory taking the settings. Each adapter lives in
its own folder with a README; the interface and the point model are ``forestall.series``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from forestall.series import TelemetryStore

if TYPE_CHECKING:
    from forestall.settings import Settings

__all__ = ["STORES", "open_store"]


# Each adapter is imported when it is opened: a worker on the embedded store never loads
# influxdb-client and urllib3.
def _embedded(settings: Settings) -> TelemetryStore:
    from ingest.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.store.path, retention_days=settings.store.retention_days)


def _influxdb(settings: Settings) -> TelemetryStore:
    from ingest.store.influxdb import InfluxStore

    spool = settings.store.spool_path or settings.store.path.with_name(
        settings.store.path.name + ".influx-spool.sqlite"
    )
    return InfluxStore(settings.influxdb, spool, retention_days=settings.store.retention_days)


STORES: dict[str, Callable[[Settings], TelemetryStore]] = {"embedded": _embedded, "influxdb": _influxdb}


def open_store(settings: Settings) -> TelemetryStore:
    factory = STORES.get(settings.store.kind)
    if factory is None:
        raise ValueError(
            f"store.kind {settings.store.kind!r} is not available in this version; "
            f"choose one of: {', '.join(sorted(STORES))}"
        )
    return factory(settings)
