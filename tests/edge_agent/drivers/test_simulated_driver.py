from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from edge_agent.drivers.base import ConfigError, DriverContext, DriverError
from edge_agent.drivers.simulated import SimulatedDriver, create


class Recorder:
    sensors = ("temp_c",)

    def __init__(self, fail_after: int | None = None) -> None:
        self.reads: list[float] = []
        self.fail_after = fail_after

    def read(self, ts: float) -> dict[str, float]:
        if self.fail_after is not None and len(self.reads) >= self.fail_after:
            raise OSError("bus error")
        self.reads.append(ts)
        return {"temp_c": ts / 1000}


def ticks(driver: SimulatedDriver, now: float) -> list[float]:
    return [s.ts for s in driver.poll(now)]


def test_every_tick_up_to_now_exactly_once_on_the_interval_grid() -> None:
    source = Recorder()
    driver = SimulatedDriver("sim", source, interval_s=10.0)
    assert ticks(driver, 1003.0) == []  # the grid starts at 1010
    assert ticks(driver, 1010.0) == [1010.0]
    assert ticks(driver, 1010.0) == []
    assert ticks(driver, 1045.0) == [1020.0, 1030.0, 1040.0]
    assert ticks(driver, 1049.9) == []
    assert source.reads == [1010.0, 1020.0, 1030.0, 1040.0]
    assert driver.poll(1050.0)[0].values == {"temp_c": 1.05}


def test_a_new_interval_counts_from_the_last_tick() -> None:
    driver = SimulatedDriver("sim", Recorder(), interval_s=10.0)
    assert ticks(driver, 1020.0) == [1020.0]
    driver.set_interval(2.5)
    assert ticks(driver, 1027.0) == [1022.5, 1025.0]
    with pytest.raises(ValueError):
        driver.set_interval(0.0)


def test_the_interval_can_change_before_the_first_poll() -> None:
    driver = SimulatedDriver("sim", Recorder(), interval_s=10.0)
    driver.set_interval(4.0)
    assert ticks(driver, 1001.0) == []
    assert ticks(driver, 1008.0) == [1004.0, 1008.0]


def test_a_failing_source_keeps_what_was_read_and_then_raises() -> None:
    driver = SimulatedDriver("sim", Recorder(fail_after=2), interval_s=1.0)
    assert ticks(driver, 5.0) == [5.0]
    assert ticks(driver, 9.0) == [6.0]
    with pytest.raises(DriverError, match="bus error"):
        driver.poll(9.0)


def test_stateless() -> None:
    driver = SimulatedDriver("sim", Recorder(), interval_s=1.0)
    driver.poll(3.0)
    assert driver.state() is None


def test_factory_uses_the_shared_source_when_given() -> None:
    source = Recorder()
    driver = create({}, DriverContext("acme", "p1", ".", 2.0, source=source, name="sim-1"))
    assert driver.name == "sim-1"
    assert ticks(driver, 4.0) == [4.0] and source.reads == [4.0]


def test_factory_without_a_source_builds_the_equipment_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def make_equipment(**kwargs: Any) -> Recorder:
        calls.append(kwargs)
        return Recorder()

    physics = types.ModuleType("simulators.physics")
    physics.make_equipment = make_equipment  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "simulators.physics", physics)
    driver = create({"equipment": "pump", "seed": 7}, DriverContext("acme", "p1", ".", 1.0))
    assert calls == []
    assert ticks(driver, 100.0) == [100.0]
    assert calls == [{"asset_type": "pump", "asset_id": "p1", "seed": 7, "start": 100.0}]


def test_factory_needs_equipment_without_a_source() -> None:
    with pytest.raises(ConfigError, match=r"^equipment: required"):
        create({}, DriverContext("acme", "p1", ".", 1.0))
    with pytest.raises(ConfigError, match=r"^colour: unknown key"):
        create({"colour": "red"}, DriverContext("acme", "p1", ".", 1.0, source=Recorder()))


def test_equipment_that_cannot_be_built_is_a_permanent_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def make_equipment(**kwargs: Any) -> Recorder:
        raise KeyError("no such equipment: toaster")

    physics = types.ModuleType("simulators.physics")
    physics.make_equipment = make_equipment  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "simulators.physics", physics)
    driver = create({"equipment": "toaster"}, DriverContext("acme", "p1", ".", 1.0))
    with pytest.raises(DriverError) as excinfo:
        driver.poll(1.0)
    assert not excinfo.value.retryable
