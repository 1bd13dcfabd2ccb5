"""Window features (pure numpy) and feature channels in the config and the driver set."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from edge_agent.config import parse_config
from edge_agent.drivers.base import ConfigError
from edge_agent.features import band_energies, kurtosis, rms, window_features
from edge_agent.polling import DriverSet
from edge_agent.windows import FeatureSpec, FeatureWindows
from forestall.contract import SENSOR_RE, Sample

finite = st.floats(-1e6, 1e6, allow_nan=False)
signals = st.lists(finite, min_size=2, max_size=256).map(lambda v: np.array(v, dtype=np.float64))


@given(finite, st.integers(1, 512))
def test_rms_and_peak_of_a_constant_are_its_size(value: float, n: int) -> None:
    scalars, _ = window_features(np.full(n, value))
    assert scalars["rms"] == pytest.approx(abs(value), rel=1e-9, abs=1e-12)
    assert scalars["peak"] == abs(value)
    assert "kurtosis" not in scalars  # undefined for a constant


@given(st.floats(0.01, 1e3), st.integers(0, 7), st.floats(0.0, 2 * math.pi))
def test_crest_of_a_sine_is_sqrt2_and_its_kurtosis_1_5(amplitude: float, k: int, phase: float) -> None:
    n, cycles = 1024, 2**k  # whole periods of at least 8 samples (fewer alias the 4th moment)
    t = np.arange(n) / n
    scalars, _ = window_features(amplitude * np.sin(2 * np.pi * cycles * t + phase))
    # The sampled peak can miss the true one by at most the phase step between two samples.
    assert math.sqrt(2) * math.cos(math.pi * cycles / n) <= scalars["crest"] <= math.sqrt(2) * (1 + 1e-9)
    assert scalars["rms"] == pytest.approx(amplitude / math.sqrt(2), rel=1e-9)
    assert scalars["kurtosis"] == pytest.approx(1.5, rel=1e-6)


@settings(max_examples=50)
@given(signals, st.floats(10.0, 10_000.0), st.lists(st.floats(0.01, 0.99), max_size=6, unique=True))
def test_bands_covering_zero_to_nyquist_add_up_to_the_mean_square(
    x: Any, rate: float, cuts: list[float]
) -> None:
    edges = [0.0, *sorted(c * rate / 2 for c in cuts), rate / 2]
    bands = list(itertools.pairwise(edges))
    total = float(np.mean(np.square(x)))
    assert sum(band_energies(x, rate, bands)) == pytest.approx(total, rel=1e-9, abs=1e-6)


@given(signals, st.floats(0.1, 100.0))
def test_kurtosis_does_not_depend_on_scale_or_offset(x: Any, scale: float) -> None:
    assume(np.std(x) > 1e-3 * (1 + np.max(np.abs(x))))  # far from constant, where rounding rules
    k = kurtosis(x)
    assert k is not None
    assert kurtosis(x * scale + 5.0) == pytest.approx(k, rel=1e-6)
    assert rms(x) >= 0


def test_gaussian_noise_has_kurtosis_near_three_and_energy_where_the_tone_is() -> None:
    rng = np.random.default_rng(7)
    assert kurtosis(rng.normal(size=200_000)) == pytest.approx(3.0, abs=0.05)
    t = np.arange(1000) / 1000.0
    _, energy = window_features(np.sin(2 * np.pi * 120 * t), rate_hz=1000.0, bands_hz=[(0, 100), (100, 200)])
    assert energy == pytest.approx([0.0, 0.5], abs=1e-9)


def spec(**overrides: Any) -> FeatureSpec:
    fields: dict[str, Any] = {
        "channel": "vibration_g",
        "window": 4,
        "rate_hz": 4.0,
        "bands_hz": ((0.0, 2.0),),
    }
    return FeatureSpec(**{**fields, **overrides})


def test_windows_publish_features_and_raw_only_when_asked() -> None:
    samples = [Sample(100.0 + i, {"vibration_g": float(i % 2), "temp_c": 20.0}) for i in range(10)]
    out = FeatureWindows([spec()]).apply(samples)
    assert [s.ts for s in out if "vibration_g_rms" in s.values] == [103.0, 107.0]
    assert all("vibration_g" not in s.values for s in out)
    assert sum("temp_c" in s.values for s in out) == 10
    names = set(out[3].values)
    assert names == {"temp_c"} | {
        f"vibration_g_{n}" for n in ("rms", "peak", "crest", "kurtosis", "band_0_2hz")
    }
    assert all(SENSOR_RE.fullmatch(n) for n in names)
    raw = FeatureWindows([spec(publish_raw=True)]).apply(samples)
    assert [s.values["vibration_g"] for s in raw] == [float(i % 2) for i in range(10)]


def test_a_rewind_forgets_partial_windows() -> None:
    windows = FeatureWindows([spec()])
    windows.apply([Sample(1.0, {"vibration_g": 9.0})] * 3)
    windows.reset()
    out = windows.apply([Sample(2.0, {"vibration_g": 1.0})] * 4)
    assert out[-1].values["vibration_g_peak"] == 1.0


class Burst:
    """A driver that returns the same burst of samples at every poll."""

    name = "accel"

    def __init__(self, samples: list[Sample]) -> None:
        self.samples = samples

    def poll(self, now: float) -> list[Sample]:
        return list(self.samples)

    def state(self) -> None:
        return None

    def restore(self, state: dict[str, Any]) -> None: ...

    def set_interval(self, seconds: float) -> None: ...

    def close(self) -> None: ...


def test_the_driver_set_applies_features_after_dropping_bad_values() -> None:
    burst = [Sample(float(i), {"vibration_g": v}) for i, v in enumerate([1.0, math.nan, -1.0, 1.0, -1.0])]
    drivers = DriverSet([Burst(burst)], features={"accel": [spec()]})
    samples = drivers.poll(0.0).samples
    assert [sorted(s.values) for s in samples] == [
        [
            "vibration_g_band_0_2hz",
            "vibration_g_crest",
            "vibration_g_kurtosis",
            "vibration_g_peak",
            "vibration_g_rms",
        ]
    ]
    assert drivers.slots["accel"].invalid == 1


BASE: dict[str, Any] = {"mqtt": {"url": "mqtt://127.0.0.1"}, "agent": {"tenant": "a", "asset": "b"}}


def with_features(features: Any) -> dict[str, Any]:
    return {**BASE, "sensors": [{"driver": "command", "argv": ["true"], "features": features}]}


def test_features_in_the_config_as_a_table_or_a_list() -> None:
    one = {"channel": "vibration_g", "window": 1024, "rate_hz": 1000, "bands_hz": [[0, 100], [100, 500]]}
    config = parse_config(with_features(one))
    assert config.sensors[0].features == (
        FeatureSpec("vibration_g", 1024, 1000.0, ((0.0, 100.0), (100.0, 500.0)), False),
    )
    assert "features" not in config.sensors[0].options
    two = parse_config(with_features([one, {**one, "channel": "current_a", "publish_raw": True}]))
    assert [s.channel for s in two.sensors[0].features] == ["vibration_g", "current_a"]


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"window": 8}, r"sensors\[0\]\.features\[0\]\.channel: required"),
        ({"channel": "Vib", "window": 8}, r"features\[0\]\.channel: 'Vib' must be a sensor name"),
        ({"channel": "v" * 60, "window": 8}, "short enough"),
        ({"channel": "v", "window": 1}, r"features\[0\]\.window: must be between 2"),
        ({"channel": "v", "bands_hz": [[0, 10]]}, r"features\[0\]\.rate_hz: required with bands_hz"),
        ({"channel": "v", "rate_hz": 100, "bands_hz": [[0, 60]]}, "lo < hi <= rate_hz / 2"),
        ({"channel": "v", "rate_hz": 100, "bands_hz": [0, 10]}, "list of \\[low, high\\] pairs"),
        ({"channel": "v", "hop": 3}, r"features\[0\]\.hop: unknown key"),
        ([{"channel": "v"}, {"channel": "v"}], "a channel appears twice"),
        ("vibration", r"sensors\[0\]\.features: must be a table or a list of tables"),
    ],
)
def test_feature_config_errors_name_the_key(features: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(with_features(features))


LAZY = """
import sys
from edge_agent.agent import EdgeAgent
from edge_agent.config import parse_config
config = parse_config({"mqtt": {"url": "mqtt://127.0.0.1:1"}, "agent": {"tenant": "a", "asset": "b"},
                       "sensors": [{"driver": "command", "argv": ["true"], "features": {"channel": "v"}}]})
before = "numpy" in sys.modules
EdgeAgent(config)
print(before, "numpy" in sys.modules, "pymodbus" in sys.modules)
"""


def test_numpy_is_loaded_only_for_feature_channels_and_pymodbus_only_for_modbus() -> None:
    ran = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, timeout=60, check=True)
    assert ran.stdout.split() == ["False", "True", "False"]
