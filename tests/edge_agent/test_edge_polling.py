from __future__ import annotations

import math
from typing import Any

import pytest

from edge_agent.drivers.base import ConfigError, DriverError
from edge_agent.polling import DriverSet, clean_samples
from forestall.contract import Sample


class Counter:
    """A driver that emits one sample per poll and remembers its position."""

    def __init__(self, name: str, fail: Exception | None = None) -> None:
        self.name = name
        self.position = 0
        self.fail = fail
        self.interval = 1.0
        self.closed = False

    def poll(self, now: float) -> list[Sample]:
        if self.fail is not None:
            raise self.fail
        self.position += 1
        return [Sample(now, {"count": float(self.position)})]

    def state(self) -> dict[str, Any]:
        return {"position": self.position}

    def restore(self, state: dict[str, Any]) -> None:
        self.position = state["position"]

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds

    def close(self) -> None:
        self.closed = True


def test_a_failing_driver_does_not_stop_the_others() -> None:
    good, bad = Counter("good"), Counter("bad", fail=RuntimeError("sensor unplugged"))
    drivers = DriverSet([bad, good])
    polled = drivers.poll(10.0)
    assert [s.values for s in polled.samples] == [{"count": 1.0}]
    assert drivers.statuses() == {"bad": "error: sensor unplugged", "good": "ok"}


def test_a_driver_recovers_after_its_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    flaky = Counter("flaky", fail=DriverError("timeout"))
    drivers = DriverSet([flaky])
    drivers.poll(1.0)
    flaky.fail = None
    assert drivers.poll(2.0).samples == []  # still pausing
    monkeypatch.setattr("edge_agent.polling.time.monotonic", lambda: 1e12)
    assert len(drivers.poll(3.0).samples) == 1
    assert drivers.statuses() == {"flaky": "ok"}


def test_a_permanent_error_stops_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = Counter("broken", fail=DriverError("no such device", retryable=False))
    drivers = DriverSet([broken])
    drivers.poll(1.0)
    broken.fail = None
    monkeypatch.setattr("edge_agent.polling.time.monotonic", lambda: 1e12)
    assert drivers.poll(2.0).samples == []
    assert drivers.statuses()["broken"] == "error: no such device"


def test_states_are_reported_when_they_move_and_rewound_on_rollback() -> None:
    counter = Counter("c")
    drivers = DriverSet([counter])
    drivers.restore({"c": {"position": 5}})
    polled = drivers.poll(1.0)
    assert polled.states == {"c": {"position": 6}}
    drivers.commit(polled)
    drivers.poll(2.0)
    drivers.rollback()  # storing position 7 failed
    assert counter.position == 6
    assert drivers.poll(3.0).states == {"c": {"position": 7}}


def test_a_driver_that_cannot_restore_is_stopped_not_restarted() -> None:
    counter = Counter("c")
    drivers = DriverSet([counter])
    drivers.restore({"c": {"wrong": 1}})
    assert drivers.poll(1.0).samples == []
    assert drivers.statuses()["c"].startswith("error: cannot restore saved position")


def test_disabled_drivers_are_not_polled() -> None:
    drivers = DriverSet([Counter("a"), Counter("b")], enabled={"b": False})
    assert len(drivers.poll(1.0).samples) == 1
    drivers.set_enabled("b", True)
    drivers.set_enabled("a", False)
    assert drivers.statuses() == {"a": "disabled", "b": "ok"}
    assert [s.values["count"] for s in drivers.poll(2.0).samples] == [1.0]


def test_interval_reaches_every_driver_and_close_every_driver() -> None:
    a, b = Counter("a"), Counter("b")
    drivers = DriverSet([a, b])
    drivers.set_sample_interval(0.5)
    drivers.close()
    assert (a.interval, b.interval, a.closed, b.closed) == (0.5, 0.5, True, True)


def test_names_must_be_unique() -> None:
    with pytest.raises(ConfigError, match="two drivers are named 'a'"):
        DriverSet([Counter("a"), Counter("a")])


def test_values_that_break_the_contract_are_dropped_and_counted() -> None:
    raw = [
        Sample(1.0, {"temp_c": 1, "Bad Name": 2.0, "nan_c": math.nan, "flag": True, "text": "3"}),  # type: ignore[dict-item]
        Sample(2.0, {"inf_c": math.inf}),
        Sample(-5.0, {"temp_c": 1.0}),
        Sample(math.nan, {"temp_c": 1.0}),
    ]
    kept, dropped = clean_samples(raw)
    assert kept == [Sample(1.0, {"temp_c": 1.0})]
    assert dropped == 7
