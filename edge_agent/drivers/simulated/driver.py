"""The simulated driver: samples a ``SignalSource`` on a fixed event-time grid."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

from edge_agent.drivers.base import ConfigError, DriverContext, DriverError, Options, SignalSource
from forestall.contract import Sample

MAX_TICKS_PER_POLL = 100_000  # a huge clock jump is caught up over several polls
SourceFactory = Callable[[float], SignalSource]


class SimulatedDriver:
    """Read ``source`` every ``interval_s`` of event time.

    Ticks sit on the grid ``k * interval_s`` (so agents sharing a clock tick together);
    ``poll(now)`` returns every tick ``<= now`` not returned before, each stamped with its
    tick time. Pass either a ``source`` or ``make_source(start)``, called at the first poll.
    The driver keeps no state across restarts: a stopped machine produces no samples.

    >>> class Ramp:
    ...     sensors = ("temp_c",)
    ...     def read(self, ts: float) -> dict[str, float]:
    ...         return {"temp_c": ts / 10}
    >>> driver = SimulatedDriver("sim", Ramp(), interval_s=1.0)
    >>> [s.ts for s in driver.poll(100.0)], [s.ts for s in driver.poll(102.5)]
    ([100.0], [101.0, 102.0])
    """

    def __init__(
        self,
        name: str,
        source: SignalSource | None = None,
        *,
        interval_s: float,
        make_source: SourceFactory | None = None,
    ) -> None:
        if (source is None) == (make_source is None):
            raise ValueError("give exactly one of source and make_source")
        _check_interval(interval_s)
        self.name = name
        self._source = source
        self._make_source = make_source
        self._interval = interval_s
        self._base: float | None = None  # grid origin: the last tick before an interval change
        self._ticks = 0  # ticks emitted since _base

    def poll(self, now: float) -> list[Sample]:
        source = self._ensure_source(now)
        if self._base is None:
            self._base = math.ceil(now / self._interval) * self._interval
            self._ticks = 0
        out: list[Sample] = []
        while len(out) < MAX_TICKS_PER_POLL:
            tick = self._base + self._ticks * self._interval
            if tick > now:
                break
            try:
                values = source.read(tick)
            except Exception as exc:  # any source failure; the samples read so far still count
                if out:
                    return out
                raise DriverError(f"reading the source failed: {exc}") from exc
            out.append(Sample(tick, dict(values)))
            self._ticks += 1
        return out

    def state(self) -> None:
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Stateless: nothing to restore."""

    def set_interval(self, seconds: float) -> None:
        _check_interval(seconds)
        if self._base is not None and self._ticks:
            self._base += (self._ticks - 1) * self._interval  # the last tick emitted
            self._ticks = 1
        else:
            self._base = None
        self._interval = seconds

    def close(self) -> None:
        """Nothing to release."""

    def _ensure_source(self, now: float) -> SignalSource:
        if self._source is None:
            assert self._make_source is not None
            try:
                self._source = self._make_source(now)
            except Exception as exc:  # a model that cannot be built will not build on retry
                raise DriverError(f"building the simulated equipment failed: {exc}", retryable=False) from exc
        return self._source


def _check_interval(seconds: float) -> None:
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"sample interval must be a positive number of seconds, got {seconds!r}")


def _equipment_factory(equipment: str, asset: str, seed: int) -> SourceFactory:
    # simulators.physics is written alongside and pulls in the physics models: import it
    # only when a simulated driver without a shared source is configured.
    try:
        physics = importlib.import_module("simulators.physics")
    except ImportError as exc:
        raise ConfigError(f"equipment: simulated equipment needs simulators.physics ({exc})") from exc

    def make(start: float) -> SignalSource:
        return cast(
            SignalSource, physics.make_equipment(asset_type=equipment, asset_id=asset, seed=seed, start=start)
        )

    return make


def create(options: Mapping[str, Any], ctx: DriverContext) -> SimulatedDriver:
    opts = Options(options)
    equipment = opts.optional_text("equipment")
    seed = opts.integer("seed", 0)
    opts.finish()
    name = ctx.name or "simulated"
    if ctx.source is not None:
        return SimulatedDriver(name, ctx.source, interval_s=ctx.sample_interval_s)
    if equipment is None:
        raise opts.error("equipment", 'required: the kind of machine to simulate, e.g. "pump"')
    factory = _equipment_factory(equipment, ctx.asset, seed)
    return SimulatedDriver(name, interval_s=ctx.sample_interval_s, make_source=factory)
