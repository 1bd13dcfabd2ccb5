"""One suite every registered driver passes (like River's estimator checks)."""

from __future__ import annotations

import math
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import load_config
from edge_agent.drivers import DRIVERS
from edge_agent.drivers.base import Driver, DriverContext
from forestall.contract import SENSOR_RE, Sample
from tests.edge_agent.edge_support import ModbusDevice

DRIVERS_DIR = Path(__file__).parents[3] / "edge_agent" / "drivers"
T0 = 1_795_456_800.0


class Wave:
    sensors = ("temp_c", "vibration_mm_s")

    def read(self, ts: float) -> dict[str, float]:
        return {"temp_c": 60 + math.sin(ts), "vibration_mm_s": 2 + math.cos(ts)}


@pytest.fixture(scope="module")
def modbus_device() -> Iterator[ModbusDevice]:
    device = ModbusDevice(holding=[615, 0x4148, 0], inputs=[7])
    yield device
    device.stop()


def replay(tmp_path: Path, modbus_port: int) -> Driver:
    rows = "".join(f"{T0 + i},{60 + i},{i % 3}\n" for i in range(50))
    (tmp_path / "data.csv").write_text("ts,temp_c,vibration_mm_s\n" + rows)
    return DRIVERS["replay"](
        {"path": "data.csv", "speed": 1.0}, DriverContext("acme", "p1", str(tmp_path), 1.0)
    )


def simulated(tmp_path: Path, modbus_port: int) -> Driver:
    return DRIVERS["simulated"]({}, DriverContext("acme", "p1", str(tmp_path), 1.0, source=Wave()))


def command(tmp_path: Path, modbus_port: int) -> Driver:
    line = '{"temp_c": 61.5, "vibration_mm_s": 2.0}'
    options = {"argv": [sys.executable, "-c", f"print({line!r})"], "mode": "interval"}
    return DRIVERS["command"](options, DriverContext("acme", "p1", str(tmp_path), 1.0))


def modbus(tmp_path: Path, modbus_port: int) -> Driver:
    registers = [
        {"name": "temp_c", "address": 0, "data_type": "int16", "scale": 0.1},
        {"name": "flow_l_min", "address": 1, "data_type": "float32"},
        {"name": "pressure_bar", "address": 0, "type": "input"},
    ]
    options = {"host": "127.0.0.1", "port": modbus_port, "registers": registers}
    return DRIVERS["modbus"](options, DriverContext("acme", "p1", str(tmp_path), 1.0))


BUILDERS: dict[str, Callable[[Path, int], Driver]] = {
    "command": command,
    "modbus": modbus,
    "replay": replay,
    "simulated": simulated,
}


def poll(driver: Driver, now: float) -> list[Sample]:
    """``driver.poll(now)``, polled again at the same time for up to 10 s while it returns
    nothing: drivers that read in the background (``command``) deliver a moment later."""
    end = time.monotonic() + 10.0
    got = driver.poll(now)
    while not got and time.monotonic() < end:
        time.sleep(0.02)
        got = driver.poll(now)
    return got


def test_every_registered_driver_is_in_this_suite() -> None:
    assert set(BUILDERS) == set(DRIVERS)


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_driver_folder_has_readme_and_a_sample_config_that_loads(name: str, tmp_path: Path) -> None:
    folder = DRIVERS_DIR / name
    assert (folder / "__init__.py").is_file() and (folder / "README.md").is_file()
    sample = folder / "sample.toml"
    assert [s["driver"] for s in tomllib.loads(sample.read_text())["sensors"]] == [name]
    assert load_config(sample).sensors[0].driver == name


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_samples_follow_the_contract_and_time_moves_forward(
    name: str, tmp_path: Path, modbus_device: ModbusDevice
) -> None:
    driver = BUILDERS[name](tmp_path, modbus_device.port)
    assert driver.name == name
    got = [s for now in range(0, 30, 3) for s in poll(driver, T0 + now)]
    assert got, "a driver must produce samples when polled over time"
    assert all(
        s.values and all(SENSOR_RE.fullmatch(k) and math.isfinite(v) for k, v in s.values.items())
        for s in got
    )
    stamps = [s.ts for s in got]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    driver.close()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_state_round_trip_neither_loses_nor_repeats(
    name: str, tmp_path: Path, modbus_device: ModbusDevice
) -> None:
    first = BUILDERS[name](tmp_path, modbus_device.port)
    before = [s.ts for now in range(0, 10, 3) for s in poll(first, T0 + now)]
    state: dict[str, Any] | None = first.state()
    first.close()
    second = BUILDERS[name](tmp_path, modbus_device.port)
    if state is not None:
        second.restore(state)
    after = [s.ts for now in range(10, 20, 3) for s in poll(second, T0 + now)]
    assert before and after
    assert max(before) < min(after)
    second.set_interval(0.5)
    second.close()
    second.close()  # closing twice is harmless
