"""Disable a device that goes on flooding, at the broker (ingest/README.md, fair share).

``FloodGuard`` (``forestall/ratelimit.py``) decides from the messages the rate limit refused;
this sends the decision to Mosquitto's dynamic security over the ``worker.guard_url``
credential, on a thread of its own so the processing thread never waits on the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from forestall.devices import DynSec, DynSecError, change_commands
from forestall.ratelimit import FloodGuard
from forestall.settings import Settings
from ingest.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class BrokerGuard:
    def __init__(self, settings: Settings, metrics: WorkerMetrics, name: str) -> None:
        w = settings.worker
        assert w.guard_url is not None
        self._url = w.guard_url
        self._ca_file = str(settings.mqtt.ca_file) if settings.mqtt.ca_file else None
        self._metrics = metrics
        self._flood = FloodGuard(w.device_disable_after, w.device_disable_window_s)
        self._disabler = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-guard")

    def observe(self, excess: Mapping[tuple[str, str], int], now: float) -> set[tuple[str, str]]:
        """The devices still flooding after this chunk's refusals; their disabling is under way."""
        flooding = set(self._flood.observe(excess, now))
        if flooding:
            self._disabler.submit(self._disable_devices, sorted(flooding))
        return flooding

    def stop(self) -> None:
        self._disabler.shutdown(cancel_futures=True)

    def _disable_devices(self, devices: list[tuple[str, str]]) -> None:
        """Disable flooding devices' broker clients (and so disconnect them), over one connection
        — `forestall devices enable` lets one in again. Each failure is logged and counted."""
        try:
            with DynSec(self._url, ca_file=self._ca_file) as dynsec:
                for tenant, asset in devices:
                    self._disable_one(dynsec, tenant, asset)
        except DynSecError as exc:  # the guard's connection itself
            self._metrics.devices_disabled.labels(outcome="failed").inc(len(devices))
            log.warning("could not reach the broker to disable %d flooding devices: %s", len(devices), exc)

    def _disable_one(self, dynsec: DynSec, tenant: str, asset: str) -> None:
        try:
            dynsec.run(change_commands("disable", tenant, asset))
        except (ValueError, DynSecError) as exc:
            self._metrics.devices_disabled.labels(outcome="failed").inc()
            log.warning("could not disable flooding device %s/%s: %s", tenant, asset, exc)
            return
        self._metrics.devices_disabled.labels(outcome="disabled").inc()
        log.warning("disabled flooding device %s/%s at the broker (forestall devices enable)", tenant, asset)
