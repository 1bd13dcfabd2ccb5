"""The command driver: real child processes printing JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.drivers import DRIVERS
from edge_agent.drivers.base import ConfigError, DriverContext
from edge_agent.drivers.command import CommandDriver, parse_line
from edge_agent.polling import DriverSet
from forestall.contract import Sample
from tests.edge_agent.edge_support import wait_until

T0 = 1_795_456_800.0
PY = sys.executable


def script(code: str) -> list[str]:
    return [PY, "-c", code]


def collect(driver: CommandDriver, count: int, now: float = T0) -> list[Sample]:
    got: list[Sample] = []

    def enough() -> bool:
        got.extend(driver.poll(now))
        return len(got) >= count

    wait_until(enough, what=f"{count} samples from the program")
    return got


def test_stream_lines_in_both_forms_with_and_without_ts() -> None:
    lines = [
        {"ts": T0 + 1, "values": {"temp_c": 61.5}},
        {"ts": "2026-11-23T18:00:02Z", "values": {"temp_c": 61.6}},
        {"temp_c": 61.7, "vibration_mm_s": 2.5},
    ]
    code = (
        "".join(f"print({json.dumps(json.dumps(line))})\n" for line in lines) + "import time; time.sleep(60)"
    )
    driver = CommandDriver("cmd", script(code))
    try:
        got = collect(driver, 3, now=T0 + 50)
    finally:
        driver.close()
    assert [(s.ts, s.values) for s in got] == [
        (T0 + 1, {"temp_c": 61.5}),
        (T0 + 2, {"temp_c": 61.6}),
        (T0 + 50, {"temp_c": 61.7, "vibration_mm_s": 2.5}),
    ]


def test_bad_lines_and_values_are_counted_and_never_stop_the_driver() -> None:
    code = (
        "print('not json'); print('[1, 2]'); print('{\"ts\": \"yesterday\", \"temp_c\": 1}')\n"
        'print(\'{"temp_c": "hot", "flow": NaN, "Bad": 1, "ok_v": 2}\'); print(\'{}\')\n'
        "print('x' * 70000); print('{\"temp_c\": 60}'); import time; time.sleep(60)"
    )
    driver = CommandDriver("cmd", script(code))
    try:
        got = collect(driver, 2)
    finally:
        driver.close()
    assert [s.values for s in got] == [{"ok_v": 2.0}, {"temp_c": 60.0}]
    assert (driver.bad_lines, driver.bad_values) == (5, 3)


def test_a_failing_program_is_a_driver_error_in_the_status_and_is_retried() -> None:
    code = "import sys; print('{\"temp_c\": 1}'); print('sensor bus down', file=sys.stderr); sys.exit(3)"
    driver = CommandDriver("cmd", script(code), mode="interval", interval_s=1.0)
    drivers = DriverSet([driver])
    try:
        got: list[Sample] = []

        def failed() -> bool:
            got.extend(drivers.poll(T0).samples)
            return drivers.statuses()["cmd"].startswith("error")

        wait_until(failed, what="the error in the status")
        assert drivers.statuses()["cmd"] == "error: " + f"{PY} exited with code 3: sensor bus down"
        assert [s.values for s in got] == [{"temp_c": 1.0}]  # what it printed before failing counts
        wait_until(lambda: driver.runs >= 2 or bool(drivers.poll(T0 + 5)), what="a retry")
    finally:
        drivers.close()


def test_a_clean_interval_run_clears_the_error() -> None:
    driver = CommandDriver("cmd", script("print('{\"temp_c\": 1}')"), mode="interval", interval_s=1.0)
    drivers = DriverSet([driver])
    drivers.slots["cmd"].status = "error: earlier"
    try:
        wait_until(lambda: bool(drivers.poll(T0).samples), what="a sample")
        assert drivers.statuses() == {"cmd": "ok"}
        assert driver.runs == 1
        assert not drivers.poll(T0 + 0.5).samples  # not due yet: no second run
    finally:
        drivers.close()


def test_a_hung_program_is_killed_after_its_timeout() -> None:
    driver = CommandDriver("cmd", script("import time; time.sleep(600)"), mode="interval", timeout_s=0.3)
    drivers = DriverSet([driver])
    try:
        wait_until(
            lambda: not drivers.poll(T0).samples and drivers.statuses()["cmd"].startswith("error"),
            what="the kill",
        )
        assert "ran longer than timeout_s=0.3 s: killed" in drivers.statuses()["cmd"]
    finally:
        drivers.close()


def test_a_silent_stream_is_killed_and_restarted() -> None:
    code = "print('{\"temp_c\": 1}', flush=True); import time; time.sleep(600)"
    driver = CommandDriver("cmd", script(code), timeout_s=0.3)
    try:
        got: list[Sample] = []

        def restarted() -> bool:
            try:
                got.extend(driver.poll(T0))
            except Exception as exc:
                assert "printed nothing for timeout_s=0.3 s: killed" in str(exc)
            return len(got) >= 2

        wait_until(restarted, what="a second run after the kill")
        assert driver.runs >= 2
    finally:
        driver.close()


def test_a_missing_program_is_a_driver_error(tmp_path: Path) -> None:
    driver = CommandDriver("cmd", [str(tmp_path / "no-such-program")])
    with pytest.raises(Exception, match="cannot run"):
        driver.poll(T0)
    driver.close()


def test_close_stops_the_program() -> None:
    driver = CommandDriver("cmd", script("print('{\"a\": 1}', flush=True); import time; time.sleep(600)"))
    collect(driver, 1)
    run = driver._run
    assert run is not None
    driver.close()
    assert run.proc.poll() is not None
    driver.close()  # twice is harmless: no error, and the program stays stopped
    assert run.proc.poll() is not None


def test_factory_options(tmp_path: Path) -> None:
    ctx = DriverContext("acme", "p1", str(tmp_path), 2.0, name="probe")
    driver = DRIVERS["command"]({"argv": ["true"], "mode": "interval"}, ctx)
    assert isinstance(driver, CommandDriver)
    assert (driver.name, driver.cwd, driver.interval_s, driver.timeout_s) == (
        "probe",
        str(tmp_path),
        2.0,
        10.0,
    )
    for options, message in [
        ({}, "argv: required"),
        ({"argv": "true"}, "argv: must be a non-empty list"),
        ({"argv": ["true"], "mode": "poll"}, "mode: must be"),
        ({"argv": ["true"], "timeout_s": 0}, "timeout_s: must be > 0"),
        ({"argv": ["true"], "shell": True}, "shell: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=message):
            DRIVERS["command"](options, ctx)


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_line_parses_to_finite_values_or_problems(raw: bytes | str) -> None:
    line = parse_line(raw)
    assert all(isinstance(v, float) and v == v and abs(v) != float("inf") for v in line.values.values())
    assert line.values or line.problems


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(lambda n: n not in ("ts", "values"))


@given(st.dictionaries(NAMES, st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=5))
def test_good_flat_lines_round_trip(values: dict[str, float]) -> None:
    assert parse_line(json.dumps(values)).values == values
