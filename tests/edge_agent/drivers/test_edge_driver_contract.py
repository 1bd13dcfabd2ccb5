"""One suite every registered driver passes (like River's estimator checks)."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import load_config
from edge_agent.drivers import DRIVERS
from edge_agent.drivers.base import Driver, DriverContext
from forestall.contract import SENSOR_RE

DRIVERS_DIR = Path(__file__).parents[3] / "edge_agent" / "drivers"
T0 = 1_795_456_800.0


class Wave:
    sensors = ("temp_c", "vibration_mm_s")

    def read(self, ts: float) -> dict[str, float]:
        return {"temp_c": 60 + math.sin(ts), "vibration_mm_s": 2 + math.cos(ts)}


def replay(tmp_path: Path) -> Driver:
    rows = "".join(f"{T0 + i},{60 + i},{i % 3}\n" for i in range(50))
    (tmp_path / "data.csv").write_text("ts,temp_c,vibration_mm_s\n" + rows)
    return DRIVERS["replay"](
        {"path": "data.csv", "speed": 1.0}, DriverContext("acme", "p1", str(tmp_path), 1.0)
    )


def simulated(tmp_path: Path) -> Driver:
    return DRIVERS["simulated"]({}, DriverContext("acme", "p1", str(tmp_path), 1.0, source=Wave()))


BUILDERS: dict[str, Callable[[Path], Driver]] = {"replay": replay, "simulated": simulated}


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
def test_samples_follow_the_contract_and_time_moves_forward(name: str, tmp_path: Path) -> None:
    driver = BUILDERS[name](tmp_path)
    assert driver.name == name
    got = [s for now in range(0, 30, 3) for s in driver.poll(T0 + now)]
    assert got, "a driver must produce samples when polled over time"
    assert all(
        s.values and all(SENSOR_RE.fullmatch(k) and math.isfinite(v) for k, v in s.values.items())
        for s in got
    )
    stamps = [s.ts for s in got]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    driver.close()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_state_round_trip_neither_loses_nor_repeats(name: str, tmp_path: Path) -> None:
    first = BUILDERS[name](tmp_path)
    before = [s.ts for now in range(0, 10) for s in first.poll(T0 + now)]
    state: dict[str, Any] | None = first.state()
    first.close()
    second = BUILDERS[name](tmp_path)
    if state is not None:
        second.restore(state)
    after = [s.ts for now in range(10, 20) for s in second.poll(T0 + now)]
    assert before and after
    assert max(before) < min(after)
    second.set_interval(0.5)
    second.close()
    second.close()  # closing twice is harmless
