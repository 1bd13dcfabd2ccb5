"""Running the drivers: build them from the config, poll each in isolation, keep their state.

A driver that raises does not stop the others: its error is logged, shown as
``"error: …"`` in the status payload, and it is retried with a growing pause (wall time)
unless the error is permanent. Samples are checked against the contract here, so a
driver bug cannot poison a batch: a bad value is dropped and counted, not sent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge_agent.config import AgentConfig
from edge_agent.drivers import DRIVERS
from edge_agent.drivers.base import ConfigError, Driver, DriverContext, DriverError, SignalSource
from edge_agent.windows import FeatureSpec, FeatureWindows
from forestall.contract import MAX_TS, Sample, finite_number, sensor_name_ok

log = logging.getLogger(__name__)

RETRY_MAX_S = 30.0
LOGGED_INVALID = 20


def build_drivers(config: AgentConfig, *, source: SignalSource | None = None) -> list[Driver]:
    """One driver per ``[[sensors]]`` table; ``source`` is handed to every driver that wants one
    (the demo binds ``simulated`` drivers to its shared machine this way)."""
    drivers: list[Driver] = []
    for index, sensor in enumerate(config.sensors):
        ctx = DriverContext(
            tenant=config.agent.tenant,
            asset=config.agent.asset,
            base_dir=config.base_dir,
            sample_interval_s=config.agent.sample_interval_s,
            source=source,
            name=sensor.label,
        )
        try:
            drivers.append(DRIVERS[sensor.driver](sensor.options, ctx))
        except ConfigError as exc:
            for driver in drivers:
                driver.close()
            raise ConfigError(f"sensors[{index}].{exc}") from exc
    return drivers


def clean_samples(samples: Sequence[Sample]) -> tuple[list[Sample], int]:
    """Keep what the contract accepts; return the kept samples and how many values were dropped."""
    kept: list[Sample] = []
    dropped = 0
    for sample in samples:
        ts = sample.ts
        if not finite_number(ts) or not 0 <= ts <= MAX_TS:
            dropped += max(1, len(sample.values))
            continue
        values = {
            name: float(value)
            for name, value in sample.values.items()
            if sensor_name_ok(name) and finite_number(value)
        }
        dropped += len(sample.values) - len(values)
        if values:
            kept.append(Sample(float(ts), values))
    return kept, dropped


@dataclass(frozen=True, slots=True)
class Polled:
    samples: list[Sample]
    states: dict[str, dict[str, Any]]  # positions that moved; store them with the samples


@dataclass(slots=True)
class _Slot:
    driver: Driver
    enabled: bool = True
    status: str = "ok"
    dead: bool = False  # a permanent error: not polled again
    failures: int = 0
    retry_at: float = 0.0  # time.monotonic()
    committed: dict[str, Any] | None = None
    committed_json: str = "null"
    pending: dict[str, Any] | None = None
    invalid: int = 0
    windows: FeatureWindows | None = None  # feature channels of this driver, if any


class DriverSet:
    """The agent's drivers, keyed by name. Not thread-safe: the agent's step thread owns it."""

    def __init__(
        self,
        drivers: Sequence[Driver],
        enabled: Mapping[str, bool] | None = None,
        features: Mapping[str, Sequence[FeatureSpec]] | None = None,
    ) -> None:
        self.slots: dict[str, _Slot] = {}
        for driver in drivers:
            if driver.name in self.slots:
                raise ConfigError(f"sensors: two drivers are named {driver.name!r}; names must be unique")
            specs = (features or {}).get(driver.name)
            self.slots[driver.name] = _Slot(
                driver,
                enabled=(enabled or {}).get(driver.name, True),
                windows=FeatureWindows(specs) if specs else None,
            )

    def names(self) -> list[str]:
        return list(self.slots)

    def restore(self, states: Mapping[str, dict[str, Any]]) -> None:
        for name, slot in self.slots.items():
            if name not in states:
                continue
            try:
                slot.driver.restore(states[name])
            except Exception as exc:  # starting over would re-send data under new seqs: stop instead
                log.error("%s: cannot restore its saved position %r: %s", name, states[name], exc)
                slot.dead, slot.status = True, f"error: cannot restore saved position: {exc}"
                continue
            slot.committed, slot.committed_json = states[name], json.dumps(states[name], sort_keys=True)

    def poll(self, now: float) -> Polled:
        samples: list[Sample] = []
        states: dict[str, dict[str, Any]] = {}
        for name, slot in self.slots.items():
            if not slot.enabled or slot.dead or time.monotonic() < slot.retry_at:
                continue
            got = self._poll_one(name, slot, now)
            samples.extend(got)
            if slot.pending is not None and json.dumps(slot.pending, sort_keys=True) != slot.committed_json:
                states[name] = slot.pending
        return Polled(samples, states)

    def commit(self, polled: Polled) -> None:
        """The buffer has stored ``polled``: its driver positions are now the restart points."""
        for name, state in polled.states.items():
            slot = self.slots[name]
            slot.committed, slot.committed_json = state, json.dumps(state, sort_keys=True)

    def rollback(self) -> None:
        """Storing failed: rewind drivers to their last stored position so nothing is skipped."""
        for name, slot in self.slots.items():
            if slot.windows is not None:
                slot.windows.reset()
            if slot.committed is not None and not slot.dead:
                try:
                    slot.driver.restore(slot.committed)
                except Exception as exc:  # same policy as at start
                    slot.dead, slot.status = True, f"error: cannot rewind: {exc}"
                    log.error("%s: cannot rewind to %r: %s", name, slot.committed, exc)

    def statuses(self) -> dict[str, str]:
        return {name: slot.status if slot.enabled else "disabled" for name, slot in self.slots.items()}

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.slots[name].enabled = enabled

    def set_sample_interval(self, seconds: float) -> None:
        for slot in self.slots.values():
            slot.driver.set_interval(seconds)

    def close(self) -> None:
        for name, slot in self.slots.items():
            try:
                slot.driver.close()
            except Exception:  # closing must reach every driver
                log.exception("%s: close failed", name)

    def _poll_one(self, name: str, slot: _Slot, now: float) -> list[Sample]:
        try:
            raw = slot.driver.poll(now)
            slot.pending = slot.driver.state()
        except Exception as exc:  # a broken driver must not stop the others
            self._failed(name, slot, exc)
            return []
        if slot.failures:
            log.info("%s: polling again after %d failures", name, slot.failures)
        slot.status, slot.failures = "ok", 0
        samples, invalid = clean_samples(raw)
        if invalid:
            slot.invalid += invalid
            if slot.invalid <= LOGGED_INVALID:
                log.warning("%s: dropped %d values that break the contract (name or number)", name, invalid)
        return samples if slot.windows is None else slot.windows.apply(samples)

    def _failed(self, name: str, slot: _Slot, exc: Exception) -> None:
        permanent = isinstance(exc, DriverError) and not exc.retryable
        slot.failures += 1
        slot.status = f"error: {exc}"[:200]
        slot.dead = permanent
        slot.retry_at = time.monotonic() + min(RETRY_MAX_S, 0.1 * 2**slot.failures)
        if slot.failures == 1 or permanent:
            log.error(
                "%s: %s%s", name, exc, " (permanent, driver stopped)" if permanent else "", exc_info=exc
            )
