"""Feature channels: collect a high-rate value into windows and publish their features instead.

Configured per ``[[sensors]]`` table (see README.md, "Feature channels")::

    [[sensors.features]]
    channel = "vibration"          # a value name the driver produces
    window = 1024                  # samples per window (windows do not overlap)
    rate_hz = 1000                 # the channel's sampling rate, for the FFT bands
    bands_hz = [[0, 100], [100, 500]]
    publish_raw = false            # true: also publish every raw value

Each full window becomes one sample stamped with the window's last timestamp, holding
``vibration_rms``, ``vibration_peak``, ``vibration_crest``, ``vibration_kurtosis`` and
``vibration_band_0_100hz`` … (``edge_agent.features``). Other values of the driver pass
through untouched.

numpy is imported only when an agent has feature channels: it costs ~12 MB of memory.

>>> spec = parse_feature_specs({"channel": "vib", "window": 4}, "sensors[0].features")[0]
>>> windows = FeatureWindows([spec])
>>> from forestall.contract import Sample
>>> out = windows.apply([Sample(float(t), {"vib": v, "temp_c": 20.0}) for t, v in enumerate([1, -1, 1, -1])])
>>> out[-1].ts, sorted(out[-1].values)
(3.0, ['temp_c', 'vib_crest', 'vib_kurtosis', 'vib_peak', 'vib_rms'])
>>> out[0].values
{'temp_c': 20.0}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_agent.drivers.base import ConfigError, Options
from forestall.contract import Sample, sensor_name_ok

MAX_WINDOW = 1 << 20
LONGEST_SUFFIX = "_kurtosis"


def band_name(lo: float, hi: float) -> str:
    """The value name suffix of a band, valid in a sensor name.

    >>> band_name(0, 100), band_name(12.5, 25)
    ('band_0_100hz', 'band_12p5_25hz')
    """
    return f"band_{_number(lo)}_{_number(hi)}hz"


def _number(value: float) -> str:
    return f"{value:g}".replace(".", "p").replace("+", "")


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    channel: str
    window: int
    rate_hz: float | None = None
    bands_hz: tuple[tuple[float, float], ...] = ()
    publish_raw: bool = False

    def __post_init__(self) -> None:
        names = [f"{self.channel}{LONGEST_SUFFIX}"] + [
            f"{self.channel}_{band_name(*b)}" for b in self.bands_hz
        ]
        if not sensor_name_ok(self.channel) or not all(sensor_name_ok(n) for n in names):
            raise ConfigError(
                f"channel: {self.channel!r} must be a sensor name [a-z][a-z0-9_]{{0,63}} short enough "
                f"for its feature names (e.g. {names[-1]!r})"
            )
        if not 2 <= self.window <= MAX_WINDOW:
            raise ConfigError(f"window: must be between 2 and {MAX_WINDOW}")
        if self.bands_hz and self.rate_hz is None:
            raise ConfigError("rate_hz: required with bands_hz")
        nyquist = (self.rate_hz or 0.0) / 2
        for lo, hi in self.bands_hz:
            if not 0 <= lo < hi <= nyquist:
                raise ConfigError(f"bands_hz: [{lo:g}, {hi:g}] must satisfy 0 <= lo < hi <= rate_hz / 2")


def parse_feature_specs(raw: object, prefix: str) -> tuple[FeatureSpec, ...]:
    """``features`` of a ``[[sensors]]`` table: one table or a list of tables."""
    tables = [raw] if isinstance(raw, dict) else raw
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{prefix}: must be a table or a list of tables [[{prefix}]]")
    specs = tuple(_spec(Options(table, f"{prefix}[{i}]")) for i, table in enumerate(tables))
    channels = [spec.channel for spec in specs]
    if len(set(channels)) != len(channels):
        raise ConfigError(f"{prefix}: a channel appears twice")
    return specs


def _spec(opts: Options) -> FeatureSpec:
    channel = opts.required_text("channel")
    window = opts.integer("window", 1024)
    rate = opts.number("rate_hz", 0.0, positive=True) if opts.has("rate_hz") else None
    bands = _bands(opts)
    publish_raw = opts.boolean("publish_raw", False)
    opts.finish()
    try:
        return FeatureSpec(channel, window, rate, bands, publish_raw)
    except ConfigError as exc:
        raise ConfigError(f"{opts.prefix}.{exc}") from exc


def _bands(opts: Options) -> tuple[tuple[float, float], ...]:
    raw: Any = opts.raw("bands_hz")
    if raw is None:
        return ()
    ok = isinstance(raw, list) and all(
        isinstance(b, list)
        and len(b) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in b)
        for b in raw
    )
    if not ok:
        raise opts.error("bands_hz", "must be a list of [low, high] pairs in Hz, e.g. [[0, 100], [100, 500]]")
    return tuple((float(lo), float(hi)) for lo, hi in raw)


@dataclass(slots=True)
class _Window:
    spec: FeatureSpec
    values: list[float] = field(default_factory=list)


class FeatureWindows:
    """The feature channels of one driver. Not thread-safe: the agent's step thread owns it."""

    def __init__(self, specs: Sequence[FeatureSpec]) -> None:
        from edge_agent import features  # here: numpy only for agents with features

        self._features = features
        self._windows = {spec.channel: _Window(spec) for spec in specs}

    def apply(self, samples: Sequence[Sample]) -> list[Sample]:
        """Pass other values through; fill windows; add one sample per window that filled."""
        out: list[Sample] = []
        for sample in samples:
            kept = dict(sample.values)
            computed: dict[str, float] = {}
            for channel, window in self._windows.items():
                value = kept.get(channel)
                if value is None:
                    continue
                if not window.spec.publish_raw:
                    del kept[channel]
                window.values.append(value)
                if len(window.values) >= window.spec.window:
                    computed.update(self._compute(channel, window))
            if kept or computed:
                out.append(Sample(sample.ts, {**kept, **computed}))
        return out

    def reset(self) -> None:
        """Forget partial windows (the driver is being rewound: its values come again)."""
        for window in self._windows.values():
            window.values.clear()

    def _compute(self, channel: str, window: _Window) -> dict[str, float]:
        spec = window.spec
        scalars, energies = self._features.window_features(
            window.values, rate_hz=spec.rate_hz, bands_hz=spec.bands_hz
        )
        window.values = []
        out = {f"{channel}_{name}": value for name, value in scalars.items()}
        for (lo, hi), energy in zip(spec.bands_hz, energies, strict=True):
            out[f"{channel}_{band_name(lo, hi)}"] = energy
        return out
