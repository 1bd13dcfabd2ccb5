from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.drivers.base import ConfigError, DriverContext, DriverError
from edge_agent.drivers.replay import ReplayDriver, create
from edge_agent.drivers.replay.rows import parse_header, parse_row

T0 = 1_795_456_800.0  # 2026-11-23T18:00:00Z


def csv_file(tmp_path: Path, rows: list[str], header: str = "ts,temp_c,vibration_mm_s") -> Path:
    path = tmp_path / "samples.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def ramp(n: int, step: float = 1.0) -> list[str]:
    return [f"{T0 + i * step},{60 + i},{2 + i}" for i in range(n)]


def test_timestamps_are_kept_in_both_formats(tmp_path: Path) -> None:
    driver = ReplayDriver(
        "r",
        csv_file(tmp_path, ["2026-11-23T18:00:00Z,1,2", "2026-11-23T19:00:01+01:00,3,4", "1795456802.5,5,6"]),
        speed=0,
    )
    assert [(s.ts, s.values) for s in driver.poll(0.0)] == [
        (T0, {"temp_c": 1.0, "vibration_mm_s": 2.0}),
        (T0 + 1, {"temp_c": 3.0, "vibration_mm_s": 4.0}),
        (T0 + 2.5, {"temp_c": 5.0, "vibration_mm_s": 6.0}),
    ]


def test_bad_cells_are_dropped_alone_and_counted(tmp_path: Path) -> None:
    rows = [f"{T0},61.2,oops", f"{T0 + 1},NaN,inf", f"{T0 + 2},,", "yesterday,1,2", f"{T0 + 3},62,3"]
    driver = ReplayDriver("r", csv_file(tmp_path, rows), speed=0)
    assert [(s.ts, s.values) for s in driver.poll(0.0)] == [
        (T0, {"temp_c": 61.2}),
        (T0 + 3, {"temp_c": 62.0, "vibration_mm_s": 3.0}),
    ]
    assert (driver.bad_values, driver.bad_rows) == (4, 2)
    assert driver.state() == {"row": 5, "pass": 0}


def test_rows_are_paced_by_their_timestamps(tmp_path: Path) -> None:
    driver = ReplayDriver("r", csv_file(tmp_path, ramp(10, step=2.0)), speed=2.0)  # a row per event second
    assert [s.ts for s in driver.poll(1000.0)] == [T0]
    assert driver.poll(1000.5) == []
    assert [s.ts for s in driver.poll(1001.0)] == [T0 + 2]
    assert [s.ts for s in driver.poll(1003.5)] == [T0 + 4, T0 + 6]
    driver.close()


def test_speed_zero_replays_as_fast_as_allowed(tmp_path: Path) -> None:
    driver = ReplayDriver("r", csv_file(tmp_path, ramp(2500)), speed=0)
    sizes = [len(driver.poll(0.0)) for _ in range(4)]
    assert sizes == [1000, 1000, 500, 0]
    assert driver.finished


def test_position_survives_a_restart(tmp_path: Path) -> None:
    path = csv_file(tmp_path, ["garbage,1,1", *ramp(20)])
    first = ReplayDriver("r", path, speed=1.0)
    got = [s.ts for s in first.poll(100.0)] + [s.ts for s in first.poll(106.0)]
    state = first.state()
    first.close()
    second = ReplayDriver("r", path, speed=1.0)
    second.restore(state)
    got += [s.ts for s in second.poll(5000.0)]  # pacing restarts from the first row emitted
    got += [s.ts for s in second.poll(5100.0)]
    second.close()
    assert got == [T0 + i for i in range(20)]


def test_loop_shifts_each_pass_forward(tmp_path: Path) -> None:
    driver = ReplayDriver("r", csv_file(tmp_path, ramp(3)), speed=0, loop=True)
    stamps = [s.ts - T0 for s in driver.poll(0.0)][:7]
    driver.close()
    assert stamps == [0, 1, 2, 3, 4, 5, 6]
    restored = ReplayDriver("r", csv_file(tmp_path, ramp(3)), speed=0, loop=True)
    restored.restore({"row": 1, "pass": 2})
    assert [s.ts - T0 for s in restored.poll(0.0)][:3] == [7, 8, 9]
    restored.close()


def test_end_of_file_stops_producing(tmp_path: Path) -> None:
    path = csv_file(tmp_path, ramp(2))
    driver = ReplayDriver("r", path, speed=0)
    assert len(driver.poll(0.0)) == 2
    with path.open("a") as file:
        file.write(f"{T0 + 5},1,1\n")
    assert driver.poll(1.0) == []
    assert driver.state() == {"row": 2, "pass": 0}


def test_a_file_that_disappears_is_a_retryable_driver_error(tmp_path: Path) -> None:
    path = csv_file(tmp_path, ramp(2))
    driver = ReplayDriver("r", path, speed=0)
    path.unlink()
    with pytest.raises(DriverError) as excinfo:
        driver.poll(0.0)
    assert excinfo.value.retryable


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("time,temp_c", "path: the CSV header needs a 'ts' column"),
        ("ts,Temp C", "path: CSV column 'Temp C' is not a sensor name"),
        ("ts,temp_c,temp_c", "path: CSV column 'temp_c' appears twice"),
        ("ts", "path: the CSV has no sensor columns"),
    ],
)
def test_header_errors(tmp_path: Path, header: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}"):
        ReplayDriver("r", csv_file(tmp_path, [], header=header))


def test_factory_resolves_the_path_against_the_config_directory(tmp_path: Path) -> None:
    csv_file(tmp_path, ramp(1))
    ctx = DriverContext("acme", "p1", str(tmp_path), 1.0, name="line-1")
    driver = create({"path": "samples.csv", "speed": 0, "loop": True}, ctx)
    assert (driver.name, driver.path, driver.speed, driver.loop) == (
        "line-1",
        tmp_path / "samples.csv",
        0.0,
        True,
    )
    with pytest.raises(ConfigError, match=r"^loop: must be true or false"):
        create({"path": "samples.csv", "loop": "yes"}, ctx)


def test_restore_refuses_a_foreign_state(tmp_path: Path) -> None:
    driver = ReplayDriver("r", csv_file(tmp_path, ramp(1)))
    with pytest.raises(ValueError):
        driver.restore({"offset": 7})


@given(st.lists(st.text(max_size=12), max_size=5))
def test_any_row_parses_to_finite_values_or_nothing(cells: list[str]) -> None:
    layout = parse_header(["ts", "a", "b", "c"])
    row = parse_row(cells, layout)
    if row.sample is not None:
        assert row.sample.values and all(math.isfinite(v) for v in row.sample.values.values())
        assert math.isfinite(row.sample.ts)
