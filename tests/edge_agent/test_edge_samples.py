"""The drivers' sample configs run as written (only the broker/device address is swapped
for the test's free port)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import load_config
from edge_agent.polling import build_drivers
from tests.edge_agent.edge_support import Collector, ModbusDevice, unique_by_seq, wait_until

pytestmark = pytest.mark.integration

DRIVERS_DIR = Path(__file__).parents[2] / "edge_agent" / "drivers"


def copy_sample(name: str, tmp_path: Path, replace: dict[str, str]) -> Path:
    shutil.copytree(DRIVERS_DIR / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    sample = tmp_path / name / "sample.toml"
    text = sample.read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    sample.write_text(text)
    return sample


def test_the_command_sample_runs_and_publishes_vibration_features(
    edge_command: list[str], mosquitto: Any, tmp_path: Path, collector: Callable[[str, list[str]], Collector]
) -> None:
    sub = collector(mosquitto.url, ["forestall/v1/acme/pump-0042/telemetry"])
    sample = copy_sample("command", tmp_path, {"mqtt://127.0.0.1:1883": mosquitto.url})
    proc = subprocess.Popen([*edge_command, "--config", str(sample)], stderr=subprocess.DEVNULL)
    try:

        def values() -> list[dict[str, float]]:
            return [s["values"] for b in unique_by_seq(sub.telemetry()) for s in b["samples"]]

        wait_until(lambda: sum("vibration_g_rms" in v for v in values()) >= 2, what="vibration features")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    got = values()
    assert any("temp_c" in v for v in got)
    assert all("vibration_g" not in v for v in got)
    first = next(v for v in got if "vibration_g_rms" in v)
    assert set(first) >= {
        "vibration_g_rms",
        "vibration_g_peak",
        "vibration_g_crest",
        "vibration_g_kurtosis",
        "vibration_g_band_0_10hz",
        "vibration_g_band_10_50hz",
        "vibration_g_band_50_100hz",
    }
    assert first["vibration_g_band_10_50hz"] > 10 * first["vibration_g_band_50_100hz"]  # the 30 Hz tone


def test_the_modbus_sample_reads_a_device(tmp_path: Path) -> None:
    device = ModbusDevice(holding=[615, 0x4148, 0x0000], inputs=[0] * 10 + [1250], unit=1)
    try:
        sample = copy_sample("modbus", tmp_path, {"port = 5020": f"port = {device.port}"})
        [driver] = build_drivers(load_config(sample))
        try:
            [sample_read] = driver.poll(0.0)
        finally:
            driver.close()
        assert sample_read.values == pytest.approx(
            {"temp_c": 61.5, "flow_l_min": 12.5, "motor_current_a": 12.5}
        )
    finally:
        device.stop()
